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

__all__ = ["Entry", "compare", "load_manifest", "markdown_table", "run_entry"]

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
        )
        if entry.id in seen:
            raise UsageError(f"{where}: {entry.id} appears twice")
        seen.add(entry.id)
        entries.append(entry)
    return entries


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

    Examples
    --------
    >>> e = Entry(Path("m.py"), "bug", {"fix": False}, "violated", ("safe",), 12, {"safe": 3})
    >>> print(markdown_table([e]))
    | model | variant | `-D` parameters | verdict | states |
    |---|---|---|---|---|
    | m.py | bug | `fix=false` | violates `safe` (3 steps) | 12 |
    """
    rows = [
        "| model | variant | `-D` parameters | verdict | states |",
        "|---|---|---|---|---|",
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
        rows.append(
            f"| {e.model.name} | {e.variant}{slow} | {params} | {verdict} | {count} |"
        )
    return "\n".join(rows)


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
