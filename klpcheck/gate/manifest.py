"""The manifest of pinned outcomes: load it, run an entry, and compare with the pin."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from klpcheck.api import check
from klpcheck.base.errors import UsageError
from klpcheck.base.result import Result
from klpcheck.model.loader import load_model

__all__ = [
    "Entry",
    "MutationScore",
    "compare",
    "load_manifest",
    "markdown_table",
    "mutation_scores",
    "run_entry",
]

_KEYS = {
    "model",
    "variant",
    "params",
    "expect",
    "violates",
    "states",
    "orbits",
    "shortest",
    "slow",
    "note",
    "protection",
    "baseline",
    "explained",
}


@dataclass(frozen=True)
class Entry:
    """One pinned model run."""

    model: Path
    variant: str
    params: dict[str, Any]
    expect: str
    violates: tuple[str, ...]
    states: int
    shortest: dict[str, int] = field(default_factory=dict)
    orbits: int | None = None  # distinct states with the model's symmetry reduction
    slow: bool = False
    note: str = ""
    protection: str = ""  # the protection switch this entry removes (a mutant)
    baseline: str = ""  # the variant with the protection in place, to compare with
    explained: str = ""  # why removing the protection breaks nothing here

    @property
    def id(self) -> str:
        """``file.py[variant]``, as tests and reports name the entry."""
        return f"{self.model.name}[{self.variant}]"


def load_manifest(path: str | Path) -> list[Entry]:
    """Read and validate a manifest; raise UsageError naming the bad entry."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise UsageError(f"manifest {path} does not exist") from None
    except tomllib.TOMLDecodeError as e:
        raise UsageError(f"manifest {path} is not valid TOML: {e}") from None
    entries = []
    seen = set()
    for i, raw in enumerate(data.get("entry", [])):
        where = f"manifest {path}, entry {i + 1}"
        unknown = set(raw) - _KEYS
        missing = {"model", "variant", "expect", "states"} - set(raw)
        if unknown or missing:
            problems = [
                f"{what} key{'s' if len(keys) > 1 else ''} {', '.join(sorted(keys))}"
                for what, keys in (("unknown", unknown), ("missing", missing))
                if keys
            ]
            raise UsageError(
                f"{where}: {'; '.join(problems)} (keys: {', '.join(sorted(_KEYS))})"
            )
        if raw["expect"] not in ("holds", "violated"):
            raise UsageError(
                f"{where}: expect must be 'holds' or 'violated', not {raw['expect']!r}"
            )
        violates = tuple(raw.get("violates", ()))
        if (raw["expect"] == "holds") != (not violates):
            raise UsageError(
                f"{where}: expect = {raw['expect']!r} disagrees with violates = {list(violates)}"
            )
        _check_mutant(raw, where)
        entry = Entry(
            model=path.parent / raw["model"],
            variant=raw["variant"],
            params=dict(raw.get("params", {})),
            expect=raw["expect"],
            violates=violates,
            states=raw["states"],
            shortest=dict(raw.get("shortest", {})),
            orbits=raw.get("orbits"),
            slow=bool(raw.get("slow", False)),
            note=raw.get("note", ""),
            protection=raw.get("protection", ""),
            baseline=raw.get("baseline", ""),
            explained=raw.get("explained", ""),
        )
        if entry.id in seen:
            raise UsageError(f"{where}: {entry.id} appears twice")
        seen.add(entry.id)
        entries.append(entry)
    for mutant in entries:
        if mutant.baseline and f"{mutant.model.name}[{mutant.baseline}]" not in seen:
            raise UsageError(
                f"manifest {path}: {mutant.id} names baseline {mutant.baseline!r}, "
                f"which is not a variant of {mutant.model.name}"
            )
    return entries


def _check_mutant(raw: dict[str, Any], where: str) -> None:
    """``protection``, ``baseline`` and ``explained`` must fit together and the verdict."""
    for key in ("protection", "baseline", "explained"):
        if key in raw and not (isinstance(raw[key], str) and raw[key]):
            raise UsageError(f"{where}: {key} must be a non-empty string")
    if ("baseline" in raw or "explained" in raw) and "protection" not in raw:
        raise UsageError(
            f"{where}: baseline and explained need protection = '<switch>'"
        )
    if "explained" in raw and raw["expect"] != "holds":
        raise UsageError(
            f"{where}: explained is for a protection whose removal holds; "
            "this entry expects 'violated'"
        )
    if "baseline" in raw and raw["expect"] != "violated":
        raise UsageError(
            f"{where}: baseline is for a removal that is violated; this entry holds"
        )


@dataclass(frozen=True)
class MutationScore:
    """How many of a model's protections its manifest entries show to be needed.

    A protection is *caught* when an entry that removes it is pinned violated (with a
    ``baseline``, only if it violates a property the baseline does not: removing the
    protection must break something that was not already broken). It is *explained*
    when it is not caught and an entry that removes it holds with an explanation of
    why the model does not need it there. The rest are *missed*.
    """

    model: str
    caught: tuple[str, ...]
    explained: tuple[str, ...]
    missed: tuple[str, ...]

    @property
    def total(self) -> int:
        return len(self.caught) + len(self.explained) + len(self.missed)

    def line(self) -> str:
        """``livepatch.py: mutation score: 14 of 15 protections caught, 1 explained ...``."""
        text = (
            f"{self.model}: mutation score: {len(self.caught)} of {self.total} "
            f"protections caught, {len(self.explained)} explained as not needed"
        )
        if self.missed:
            text += f", {len(self.missed)} missed ({', '.join(self.missed)})"
        return text


def mutation_scores(entries: list[Entry]) -> list[MutationScore]:
    """Each model's mutation score from its pinned entries, in manifest order.

    Models whose entries name no protection have no score.

    Examples
    --------
    >>> def e(variant, expect, violates=(), **kw):
    ...     return Entry(Path("m.py"), variant, {}, expect, violates, 1, **kw)
    >>> scores = mutation_scores([
    ...     e("force", "violated", ("a",)),
    ...     e("no_mark", "violated", ("a", "b"), protection="mark", baseline="force"),
    ...     e("no_lock", "violated", ("a",), protection="lock", baseline="force"),
    ...     e("no_sync", "holds", protection="sync", explained="ftrace waits"),
    ... ])
    >>> print(scores[0].line())
    m.py: mutation score: 1 of 3 protections caught, 1 explained as not needed, 1 missed (lock)
    """
    by_id = {e.id: e for e in entries}
    models: dict[str, dict[str, str]] = {}
    for e in entries:
        if not e.protection:
            continue
        verdicts = models.setdefault(e.model.name, {})
        if e.expect == "violated":
            base = by_id.get(f"{e.model.name}[{e.baseline}]") if e.baseline else None
            if base is None or set(e.violates) - set(base.violates):
                verdicts[e.protection] = "caught"
        elif e.explained:
            verdicts.setdefault(e.protection, "explained")
        verdicts.setdefault(e.protection, "missed")
    return [
        MutationScore(
            model,
            *(
                tuple(p for p, v in verdicts.items() if v == kind)
                for kind in ("caught", "explained", "missed")
            ),
        )
        for model, verdicts in models.items()
    ]


def run_entry(entry: Entry, **options: Any) -> Result:
    """Run an entry's search (keep going after violations) with extra ``options``.

    Without reduction (partial-order or symmetry) unless ``options`` say ``por=True`` or
    ``symmetry=True``: the pins are full searches.
    """
    model = load_model(entry.model, entry.params)
    return check(model, keep_going=True, **{"por": False, "symmetry": False, **options})


def compare(entry: Entry, result: Result, *, states: bool = True) -> list[str]:
    """Differences between a result and the pin, as sentences; empty when it matches.

    ``states=False`` skips the state count and trace lengths (for reduced searches, whose
    counts differ by design but whose verdicts must not). A search with symmetry
    reduction is compared with the pinned ``orbits``; its breadth-first traces are as
    short as the full search's (a state and its renamings are equally deep).
    """
    problems = []
    if result.incomplete_reason is not None:
        # Counts and lengths of a search cut short say nothing: only what it found.
        problems.append(f"the search was incomplete ({result.incomplete_reason})")
        states = False
    got = sorted(v.property for v in result.violations)
    if got != sorted(entry.violates):
        problems.append(
            f"violated {got or 'nothing'}, pinned {list(entry.violates) or 'nothing'}"
        )
    reduced = result.symmetry is not None
    pinned, what = (entry.orbits, "orbits") if reduced else (entry.states, "states")
    if states and pinned is None:
        problems.append("the search used symmetry reduction but no orbits are pinned")
    elif states and result.distinct_states != pinned:
        problems.append(
            f"{result.distinct_states:,} distinct {what}, pinned {pinned:,}"
        )
    if states:
        for v in result.violations:
            pinned = entry.shortest.get(v.property)
            if v.trace is not None and pinned is None:
                problems.append(
                    f"{v.property} has a {len(v.trace)}-step trace but no pinned shortest length"
                )
            elif v.trace is not None and len(v.trace) != pinned:
                problems.append(
                    f"shortest {v.property} trace has {len(v.trace)} steps, pinned {pinned}"
                )
    return problems


def _define(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def markdown_table(entries: list[Entry]) -> str:
    """The pinned entries as a Markdown table (the README's "The models" section).

    A mutant's ``removes`` cell names the protection it removes (``explained`` when the
    removal is pinned to hold there); the mutation scores follow the table.

    Examples
    --------
    >>> e = Entry(Path("m.py"), "bug", {"fix": False}, "violated", ("safe",), 12, {"safe": 3})
    >>> m = Entry(Path("m.py"), "no_fix", {}, "violated", ("safe",), 9, {"safe": 2},
    ...           protection="fix")
    >>> print(markdown_table([e, m]))
    | model | variant | removes | `-D` parameters | verdict | states |
    |---|---|---|---|---|---|
    | m.py | bug | — | `fix=false` | violates `safe` (3 steps) | 12 |
    | m.py | no_fix | `fix` | — | violates `safe` (2 steps) | 9 |
    <BLANKLINE>
    m.py: mutation score: 1 of 1 protections caught, 0 explained as not needed
    """
    rows = [
        "| model | variant | removes | `-D` parameters | verdict | states |",
        "|---|---|---|---|---|---|",
    ]
    for e in entries:
        params = " ".join(f"`{k}={_define(v)}`" for k, v in e.params.items()) or "—"
        if e.expect == "holds":
            verdict = "holds"
        else:
            parts = [
                f"`{p}` ({e.shortest[p]} steps)" if p in e.shortest else f"`{p}`"
                for p in e.violates
            ]
            verdict = "violates " + ", ".join(parts)
        slow = " (slow)" if e.slow else ""
        count = f"{e.states:,}" + (f" ({e.orbits:,} orbits)" if e.orbits else "")
        removes = f"`{e.protection}`" if e.protection else "—"
        if e.explained:
            removes += " (explained)"
        rows.append(
            f"| {e.model.name} | {e.variant}{slow} | {removes} | {params} | {verdict} "
            f"| {count} |"
        )
    scores = [sc.line() for sc in mutation_scores(entries)]
    return "\n".join(rows + (["", *scores] if scores else []))


def _main(argv: list[str]) -> int:
    """``python -m klpcheck.gate.manifest [FILE]``: print the table; a reader that stops
    early (``| head``) ends it quietly."""
    import os
    import sys

    try:
        table = markdown_table(
            load_manifest(argv[0] if argv else "models/manifest.toml")
        )
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    try:
        print(table)
        sys.stdout.flush()
    except BrokenPipeError:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())  # the exit's flush must not fail again
    return 0


if (
    __name__ == "__main__"
):  # pragma: no cover - `python -m klpcheck.gate.manifest [FILE]`
    import sys

    sys.exit(_main(sys.argv[1:]))
