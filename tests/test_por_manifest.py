"""Every entry of models/manifest.toml gives its pinned verdict with reduction too.

Read from the manifest, so new entries are covered without touching this file. State
counts are not compared: a reduced search explores fewer states by design.
"""

from __future__ import annotations

import pytest

from klpcheck.manifest import Entry, compare, load_manifest, run_entry
from tests.conftest import MODELS

# Liveness needs the full search: por=True is a usage error there.
ENTRIES = [
    e for e in load_manifest(MODELS / "manifest.toml") if not e.params.get("live")
]


def _param(entry: Entry, order: str) -> object:
    marks = [pytest.mark.slow] if entry.slow else []
    return pytest.param(entry, order, id=f"{entry.id}-{order}", marks=marks)


@pytest.mark.parametrize(
    ("entry", "order"), [_param(e, o) for e in ENTRIES for o in ("bfs", "dfs")]
)
def test_entry_gives_its_pinned_verdict_with_reduction(
    entry: Entry, order: str
) -> None:
    result = run_entry(entry, por=True, order=order)
    assert compare(entry, result, states=False) == []
    assert result.distinct_states <= entry.states
