"""Shared fixtures, and the one full search per model configuration that tests share."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from klpcheck.api import check
from klpcheck.base.result import Result
from klpcheck.gate.manifest import Entry
from klpcheck.model.definition import Model
from klpcheck.model.loader import load_model

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "models"

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

_FULL: dict[tuple[str, tuple[tuple[str, Any], ...]], Result] = {}


def _key(model: Model[Any]) -> tuple[str, tuple[tuple[str, Any], ...]]:
    return str(Path(model.source or model.name).resolve()), tuple(
        sorted(model.params.items())
    )


def full_result(path: Path, **params: object) -> Result:
    """The full search of ``path`` built with ``params`` (as ``-D`` gives them or typed),
    run once per test session and shared by every test that asks for the same
    configuration, however it spells the parameters (defaults included).

    A full search is what the manifest pins: breadth-first, keep going after
    violations, no partial-order or symmetry reduction. The result is read-only.
    """
    model = load_model(path, params)
    key = _key(model)
    if key not in _FULL:
        _FULL[key] = check(model, keep_going=True, por=False, symmetry=False)
    return _FULL[key]


def full_search(entry: Entry) -> Result:
    """``run_entry(entry)``, shared as :func:`full_result` shares it."""
    return full_result(entry.model, **entry.params)


SMALL = 3_000  # an entry of fewer pinned states runs every variant in the default run
MEDIUM = 15_000  # up to this size, entries take turns (one per run); above, -m slow


def rotation() -> int:
    """Which slice of a rotating sample this run takes: ``KLPCHECK_ROTATION`` when set,
    else the ISO week number, so a day's runs agree and every entry comes up in turn."""
    import datetime
    import os

    text = os.environ.get("KLPCHECK_ROTATION", "")
    if text.strip().isdigit():
        return int(text)
    return datetime.date.today().isocalendar().week


def variants_sample(entries: list[Entry], per_run: int = 1) -> list[Any]:
    """``pytest.param``s for tests that re-run manifest entries another way (reduction,
    depth-first, fingerprints): every small entry, ``per_run`` of the medium ones by
    :func:`rotation` (the id says which), and the rest marked slow (``-m slow``).

    The full search of every entry, which checks each pinned count and verdict, is in
    tests/test_manifest.py and runs in full by default; these variants add other
    code paths, so a sample of the medium entries keeps them exercised without running
    each large model several times.
    """
    import pytest

    medium = sorted(
        (e for e in entries if not e.slow and SMALL <= e.states < MEDIUM), key=_id
    )
    start = rotation() * per_run
    chosen = {
        medium[(start + i) % len(medium)].id for i in range(min(per_run, len(medium)))
    }
    out = []
    for e in entries:
        slow = e.slow or (e.states >= SMALL and e.id not in chosen)
        out.append(pytest.param(e, id=e.id, marks=[pytest.mark.slow] if slow else []))
    return out


def _id(entry: Entry) -> str:
    return entry.id
