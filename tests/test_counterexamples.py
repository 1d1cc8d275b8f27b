"""Saved counterexamples replay: every file in counterexamples/, and a save-load-replay
round trip of every counterexample of every manifest entry."""

from __future__ import annotations

from pathlib import Path

import pytest

from klpcheck.gate.manifest import Entry, load_manifest
from klpcheck.trace.codec import canonical, encode
from klpcheck.trace.files import (
    load_counterexample,
    replay,
    save_counterexample,
)
from tests.conftest import MODELS, ROOT, full_search

CORPUS = sorted((ROOT / "counterexamples").glob("*.json"))
ENTRIES = [e for e in load_manifest(MODELS / "manifest.toml") if e.violates]


@pytest.mark.parametrize("path", CORPUS, ids=[p.name for p in CORPUS])
def test_saved_counterexample_still_replays(path: Path) -> None:
    # A stale file fails with the first diverging step and "re-save or delete".
    rp = replay(load_counterexample(path))
    assert len(rp.trace) == len(rp.counterexample.steps)


def test_the_corpus_is_not_empty() -> None:
    assert CORPUS, "counterexamples/ holds the saved traces that must keep replaying"


def _param(entry: Entry) -> object:
    marks = [pytest.mark.slow] if entry.slow else []
    return pytest.param(entry, id=entry.id, marks=marks)


@pytest.mark.parametrize("entry", [_param(e) for e in ENTRIES])
def test_every_manifest_counterexample_round_trips(
    entry: Entry, tmp_path: Path
) -> None:
    result = full_search(entry)
    traced = [v for v in result.violations if v.trace is not None]
    assert traced, f"{entry.id} pins violations but found no trace"
    model = replay_model = None
    for v in traced:
        from klpcheck.model.loader import load_model

        model = model or load_model(entry.model, entry.params)
        path = save_counterexample(model, v, tmp_path, order=result.order)
        rp = replay(load_counterexample(path), replay_model)
        replay_model = rp.model
        assert rp.violation.property == v.property
        assert len(rp.trace) == len(v.trace)  # type: ignore[arg-type]
        # A replay imports the model afresh, so its classes differ: compare encodings.
        assert [canonical(encode(s)) for s in rp.trace.states] == [
            canonical(encode(s))
            for s in v.trace.states  # type: ignore[union-attr]
        ]
