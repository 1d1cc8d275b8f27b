"""Every pinned model of models/manifest.toml gives exactly its pinned outcome."""

from __future__ import annotations

import pytest

from klpcheck.manifest import Entry, compare, load_manifest
from tests.conftest import MODELS, full_search

ENTRIES = load_manifest(MODELS / "manifest.toml")


def _param(entry: Entry) -> object:
    marks = [pytest.mark.slow] if entry.slow else []
    return pytest.param(entry, id=entry.id, marks=marks)


@pytest.mark.parametrize("entry", [_param(e) for e in ENTRIES])
def test_entry_matches_its_pin(entry: Entry) -> None:
    result = full_search(entry)
    assert compare(entry, result) == []


def test_every_model_file_is_pinned() -> None:
    pinned = {e.model.name for e in ENTRIES}
    files = {p.name for p in MODELS.glob("*.py") if not p.name.startswith("_")}
    assert files - pinned == set()


def test_pinned_lengths_belong_to_pinned_violations() -> None:
    for e in ENTRIES:
        assert set(e.shortest) <= set(e.violates), e.id
