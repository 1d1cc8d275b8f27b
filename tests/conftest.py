"""Shared fixtures, and the one full search per model configuration that tests share."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from klpcheck.base.result import Result
from klpcheck.gate.manifest import Entry
from klpcheck.model.definition import Model
from klpcheck.model.loader import load_model
from klpcheck.search.explore import check

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
