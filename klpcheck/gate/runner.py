"""The CI gate: run manifest entries, compare each with its pin, and sum up.

Used by ``klpcheck check MANIFEST`` and the pytest plugin. Prints nothing; the caller is
told about each entry as it finishes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from klpcheck.base.errors import KlpcheckError, UsageError
from klpcheck.base.result import Result, Violation
from klpcheck.gate.manifest import (
    Entry,
    MutationScore,
    compare,
    load_manifest,
    mutation_scores,
)
from klpcheck.report.formats import CaseOutcome, junit_xml

__all__ = ["EntryOutcome", "GateOutcome", "check_entry", "run_manifest", "select"]

Renderer = Callable[[Violation], str]
INTERRUPTED = "interrupted"  # the incomplete reason of a search ended by Ctrl-C


@dataclass
class EntryOutcome:
    """One entry's run: ``status`` is match, mismatch, incomplete, interrupted, error,
    skipped (a slow entry) or not run (an earlier entry was interrupted)."""

    entry: Entry
    status: str
    problems: list[str] = field(default_factory=list)
    result: Result | None = None
    seconds: float = 0.0
    saved: dict[str, Path] = field(default_factory=dict)

    def unexpected(self) -> list[Violation]:
        """Violations the pin does not list (their traces explain a mismatch)."""
        if self.result is None:
            return []
        return [
            v for v in self.result.violations if v.property not in self.entry.violates
        ]

    def summary(self) -> str:
        """``holds, 288 states`` or the problems, one line."""
        if self.status in ("mismatch", "incomplete", "interrupted", "error"):
            return "; ".join(self.problems)
        if self.status == "skipped":
            return "slow (run with --slow)"
        if self.status == "not run":
            return "not run: the command was interrupted"
        r = self.result
        assert r is not None
        broken = ", ".join(v.property for v in r.violations)
        verdict = f"violates {broken}" if broken else "holds"
        return f"{verdict}, {r.distinct_states:,} states"


def check_entry(
    entry: Entry,
    *,
    time_limit: float | None = None,
    save_dir: Path | None = None,
    max_memory: int | None = None,
) -> EntryOutcome:
    """Run one entry's full search and compare it with its pin."""
    from klpcheck.api import check
    from klpcheck.model.loader import load_model

    start = time.perf_counter()
    try:
        model = load_model(entry.model, entry.params)
        result = check(
            model,
            keep_going=True,
            time_limit=time_limit,
            max_memory=max_memory,
            por=False,
            symmetry=False,
        )
        saved = {}
        if save_dir is not None:
            from klpcheck.trace.files import save_counterexample

            for v in result.violations:
                if v.trace is not None:
                    saved[v.property] = save_counterexample(
                        model, v, save_dir, order=result.order
                    )
    except KlpcheckError as e:
        return EntryOutcome(
            entry, "error", [str(e)], seconds=time.perf_counter() - start
        )
    problems = compare(entry, result)
    reduced_reason = None
    if entry.orbits is not None and not problems:
        try:
            reduced = check(
                model,
                keep_going=True,
                time_limit=time_limit,
                max_memory=max_memory,
                symmetry=True,
            )
        except KlpcheckError as e:
            return EntryOutcome(
                entry, "error", [str(e)], seconds=time.perf_counter() - start
            )
        problems = [f"with symmetry: {p}" for p in compare(entry, reduced)]
        reduced_reason = reduced.incomplete_reason
    if INTERRUPTED in (result.incomplete_reason, reduced_reason):
        status = "interrupted"
    elif not problems:
        status = "match"
    elif result.incomplete_reason is not None and not any(
        v.property not in entry.violates for v in result.violations
    ):
        status = "incomplete"
    else:
        status = "mismatch"
    return EntryOutcome(
        entry, status, problems, result, time.perf_counter() - start, saved
    )


@dataclass
class GateOutcome:
    """Every entry's outcome, in manifest order, and the mutation scores of their models.

    The scores come from the manifest's pins (every entry, selected or not); the run
    checks the pins of the entries it ran.
    """

    outcomes: list[EntryOutcome]
    scores: list[MutationScore] = field(default_factory=list)

    def count(self, status: str) -> int:
        """How many entries ended with ``status``."""
        return sum(o.status == status for o in self.outcomes)

    @property
    def exit_code(self) -> int:
        """2 an entry could not run, 1 a mismatch, 3 an incomplete search or an
        interrupt (entries not run), 0 all match."""
        for status, code in (
            ("error", 2),
            ("mismatch", 1),
            ("incomplete", 3),
            ("interrupted", 3),
            ("not run", 3),
        ):
            if self.count(status):
                return code
        return 0

    def line(self) -> str:
        """The summary: each model's mutation score, then ``12 entries: 11 match, ...``.

        A score is shown for every model that has an entry in the run and names
        protections in the manifest; the last line is always the entry count.
        """
        statuses = (
            "match",
            "mismatch",
            "incomplete",
            "interrupted",
            "error",
            "skipped",
            "not run",
        )
        parts = [
            f"{self.count(s)} {s}" for s in statuses if self.count(s) or s == "match"
        ]
        ran = {o.entry.model.name for o in self.outcomes}
        scores = [sc.line() for sc in self.scores if sc.model in ran]
        n = len(self.outcomes)
        return "\n".join(
            [*scores, f"{n} entr{'y' if n == 1 else 'ies'}: " + ", ".join(parts)]
        )

    def json(self) -> dict[str, Any]:
        """The outcomes as JSON data."""
        from klpcheck.base.version import __version__

        return {
            "format": "klpcheck-manifest-check",
            "version": 1,
            "klpcheck": __version__,
            "exit_code": self.exit_code,
            "mutation_scores": {
                sc.model: {
                    "caught": list(sc.caught),
                    "explained": list(sc.explained),
                    "missed": list(sc.missed),
                }
                for sc in self.scores
            },
            "entries": [
                {
                    "id": o.entry.id,
                    "status": o.status,
                    "problems": o.problems,
                    "verdict": o.result.verdict.value if o.result else None,
                    "violated": sorted(v.property for v in o.result.violations)
                    if o.result
                    else None,
                    "distinct_states": o.result.distinct_states if o.result else None,
                    "pinned_states": o.entry.states,
                    "seconds": round(o.seconds, 3),
                    "counterexamples": {k: str(p) for k, p in o.saved.items()},
                }
                for o in self.outcomes
            ],
        }

    def junit(self, suite: str, render: Renderer) -> str:
        """JUnit XML: one test case per entry; a mismatch carries the unpinned traces.

        An entry cut short (a time limit, an interrupt) is an error: it proved nothing,
        and a dashboard that reads only JUnit must show it.
        """
        cases = []
        for o in self.outcomes:
            outcome, message, body = {
                "match": ("passed", "", ""),
                "skipped": ("skipped", "slow entry (run with --slow)", ""),
                "error": ("error", o.summary(), ""),
                "incomplete": ("error", o.summary(), ""),
                "interrupted": ("error", o.summary(), ""),
                "not run": ("skipped", o.summary(), ""),
                "mismatch": ("failure", o.summary(), ""),
            }[o.status]
            if o.status == "mismatch":
                body = "\n".join(
                    [*o.problems, "", *(render(v) for v in o.unexpected())]
                )
            cases.append(
                CaseOutcome(
                    o.entry.model.name,
                    o.entry.variant,
                    outcome,
                    message,
                    body,
                    seconds=o.seconds,
                    properties={"note": o.entry.note} if o.entry.note else {},
                )
            )
        total = sum(o.seconds for o in self.outcomes)
        return junit_xml(f"klpcheck manifest {suite}", cases, seconds=total)


def select(entries: Iterable[Entry], *, only: Sequence[str] = ()) -> list[Entry]:
    """The entries whose id contains one of ``only`` (all when empty)."""
    return [e for e in entries if not only or any(o in e.id for o in only)]


def run_manifest(
    manifest: str | Path,
    *,
    slow: bool = False,
    only: Sequence[str] = (),
    time_limit: float | None = None,
    save_dir: Path | None = None,
    on_outcome: Callable[[EntryOutcome], None] | None = None,
    max_memory: int | None = None,
) -> GateOutcome:
    """Run the selected entries of a manifest; ``on_outcome`` hears of each in turn.

    An interrupt (Ctrl-C, or SIGTERM where the caller maps it to one) ends the run: the
    entry running is ``interrupted`` and the rest ``not run``.

    Raises
    ------
    UsageError
        The manifest cannot be read or is invalid.
    """
    everything = load_manifest(manifest)
    entries = select(everything, only=only)
    if not entries:
        raise UsageError(
            f"no entry of {manifest} matches {', '.join(map(repr, only))}"
            if only
            else f"manifest {manifest} has no entries"
        )
    outcomes: list[EntryOutcome] = []

    def tell(outcome: EntryOutcome) -> None:
        outcomes.append(outcome)
        if on_outcome is not None:
            on_outcome(outcome)

    try:
        for entry in entries:
            if entry.slow and not slow:
                tell(EntryOutcome(entry, "skipped"))
                continue
            start = time.perf_counter()
            try:
                outcome = check_entry(
                    entry,
                    time_limit=time_limit,
                    save_dir=save_dir,
                    max_memory=max_memory,
                )
            except KeyboardInterrupt:  # outside the search, which handles its own
                seconds = time.perf_counter() - start
                outcome = EntryOutcome(
                    entry, "interrupted", [INTERRUPTED], None, seconds
                )
            tell(outcome)
            if outcome.status == "interrupted":
                break
    except KeyboardInterrupt:  # between entries
        pass
    for entry in entries[len(outcomes) :]:
        tell(EntryOutcome(entry, "not run"))
    return GateOutcome(outcomes, mutation_scores(everything))
