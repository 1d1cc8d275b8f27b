"""Shared fixtures."""

from __future__ import annotations

import sys
from pathlib import Path

from klpcheck.base.result import Result
from klpcheck.gate.manifest import Entry, run_entry

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "models"

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

_FULL: dict[str, Result] = {}


def full_search(entry: Entry) -> Result:
    """``run_entry(entry)``, run once per test session and shared by every test.

    The pinned-outcome tests and the replay round trip both need each entry's full
    search; the result is read-only, so one run serves them all.
    """
    if entry.id not in _FULL:
        _FULL[entry.id] = run_entry(entry)
    return _FULL[entry.id]
