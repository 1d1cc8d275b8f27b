"""Every entry of models/manifest.toml gives its pinned verdict with reduction too.

Read from the manifest, so new entries are covered without touching this file. State
counts are not compared: a reduced search explores fewer states by design. By default
the small entries and a rotating sample of the larger ones (tests/conftest.py); the
rest with ``-m slow``.
"""

from __future__ import annotations

import pytest

from klpcheck.gate.manifest import Entry, compare, load_manifest, run_entry
from tests.conftest import MODELS, variants_sample

# Liveness needs the full search: por=True is a usage error there.
ENTRIES = [
    e for e in load_manifest(MODELS / "manifest.toml") if not e.params.get("live")
]


@pytest.mark.parametrize("order", ["bfs", "dfs"])
@pytest.mark.parametrize("entry", variants_sample(ENTRIES))
def test_entry_gives_its_pinned_verdict_with_reduction(
    entry: Entry, order: str
) -> None:
    result = run_entry(entry, por=True, order=order)
    assert compare(entry, result, states=False) == []
    assert result.distinct_states <= entry.states
