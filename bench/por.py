"""Partial-order reduction benchmark: states with and without reduction, next to SPIN's.

Run from the repository root: ``python bench/por.py`` (``--quick`` skips the largest
sizes). Prints one row per model, order and setting; asserts nothing and is not a test.

- The lock model of checkers.md §3 (n processes, pc 0..5, one lock): SPIN 6.5.2 measured
  187,500 states for n = 7 without reduction; with its reduction, breadth-first search
  keeps 1,920 of them and depth-first 957.
- models/two_phase_commit.py and models/seed_rfc2015.py, and models/livepatch.py when it
  exists, on every manifest entry: the verdict with reduction must equal the pinned one.
- Symmetry reduction on models/livepatch.py with ``loop_order=any``, next to the full
  searches of the fixed-order and the any-order model.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from klpcheck import Model, Result, check  # noqa: E402
from klpcheck.gate.manifest import compare, load_manifest  # noqa: E402
from klpcheck.model.loader import load_model  # noqa: E402
from tests.por_models import lock  # noqa: E402

SPIN = {("bfs", 7): 1920, ("dfs", 7): 957}  # of 187,500 (checkers.md, the brief)


def run(model: Model[Any], **options: Any) -> tuple[Result, float]:
    start = time.perf_counter()
    result = check(model, **options)
    return result, time.perf_counter() - start


def row(name: str, order: str, full: Result | None, red: Result, secs: str) -> None:
    base = f"{full.distinct_states:>9,}" if full is not None else f"{'-':>9}"
    ratio = (
        f"{full.distinct_states / red.distinct_states:6.1f}x"
        if full is not None
        else f"{'':>7}"
    )
    print(
        f"{name:<34} {order:<4} {base} {red.distinct_states:>9,} {ratio} "
        f"{red.transitions:>10,} {red.verdict.value:<9} {secs}"
    )


def header() -> None:
    print(
        f"{'model':<34} {'ord':<4} {'full':>9} {'reduced':>9} {'ratio':>7} "
        f"{'red.trans':>10} {'verdict':<9} time full/reduced"
    )


def lock_rows(sizes: list[int]) -> None:
    print(
        "\nlock model (deadlock only; SPIN 6.5.2 with reduction, n = 7: BFS 1,920, DFS 957)"
    )
    header()
    for n in sizes:
        for order in ("bfs", "dfs"):
            full, tf = run(lock(n), order=order, por=False)
            red, tr = run(lock(n), order=order)
            spin = SPIN.get((order, n))
            extra = f"   SPIN: {spin:,}" if spin else ""
            row(f"lock n={n}", order, full, red, f"{tf:6.2f}/{tr:5.2f} s{extra}")
    red, tr = run(lock(5, invariant=True))
    row("lock n=5, invariant reads every pc", "bfs", None, red, f"{tr:5.2f} s (no cut)")


def manifest_rows(files: set[str]) -> None:
    print("\nmanifest entries (verdict with reduction vs pinned; keep going)")
    header()
    for entry in load_manifest(ROOT / "models" / "manifest.toml"):
        if entry.model.name not in files:
            continue
        for order in ("bfs", "dfs"):
            model = load_model(entry.model, entry.params)
            red, tr = run(model, order=order, keep_going=True, por=True, symmetry=False)
            problems = compare(entry, red, states=False)
            mark = "ok" if not problems else "MISMATCH: " + "; ".join(problems)
            full = None
            if order == "bfs":
                full, _ = run(model, keep_going=True, por=False, symmetry=False)
            row(entry.id, order, full, red, f"{tr:5.2f} s  {mark}")


def without_properties(path: Path, params: dict[str, Any]) -> None:
    """What visibility costs: the same model checked for deadlocks only."""
    model = load_model(path, params)
    model.invariants, model.reachables = [], []
    full, tf = run(model, por=False)
    red, tr = run(model)
    row(
        f"{path.name} {params} deadlock only",
        "bfs",
        full,
        red,
        f"{tf:5.2f}/{tr:5.2f} s",
    )


def symmetry_rows(tasks: list[int]) -> None:
    """Symmetry on livepatch.py's any-order loops, next to both full searches."""
    print(
        "\nsymmetry (livepatch.py, enable, 2 CPUs; full = fixed loop order, then any "
        "order without and with symmetry)"
    )
    header()
    path = ROOT / "models" / "livepatch.py"
    for t in tasks:
        fixed, tf = run(load_model(path, {"tasks": t}), por=False)
        model = load_model(path, {"tasks": t, "loop_order": "any", "symmetry": True})
        full, ta = run(model, symmetry=False, por=False)
        sym, ts = run(model)
        row(f"livepatch tasks={t} fixed order", "bfs", None, fixed, f"{tf:6.2f} s")
        row(
            f"livepatch tasks={t} any order",
            "bfs",
            full,
            sym,
            f"{ta:6.2f}/{ts:5.2f} s",
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip n = 7 and 3 tasks")
    args = parser.parse_args()
    lock_rows([5, 6] if args.quick else [5, 6, 7])
    files = {"two_phase_commit.py", "seed_rfc2015.py", "livepatch.py"}
    manifest_rows(files)
    tasks = [2] if args.quick else [2, 3]
    symmetry_rows(tasks)
    print("\nwithout properties (every step invisible; shows what visibility costs)")
    header()
    for t in tasks:
        without_properties(ROOT / "models" / "seed_rfc2015.py", {"tasks": t})
        if (ROOT / "models" / "livepatch.py").exists():
            without_properties(ROOT / "models" / "livepatch.py", {"tasks": t})


if __name__ == "__main__":
    main()
