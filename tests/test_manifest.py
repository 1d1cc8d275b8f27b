"""Every pinned model of models/manifest.toml gives exactly its pinned outcome."""

from __future__ import annotations

import dataclasses

import pytest

from klpcheck.gate.manifest import Entry, compare, load_manifest, run_entry
from tests.conftest import MODELS, full_search

ENTRIES = load_manifest(MODELS / "manifest.toml")


def _param(entry: Entry) -> object:
    marks = [pytest.mark.slow] if entry.slow else []
    return pytest.param(entry, id=entry.id, marks=marks)


@pytest.mark.parametrize("entry", [_param(e) for e in ENTRIES])
def test_entry_matches_its_pin(entry: Entry) -> None:
    result = full_search(entry)
    assert compare(entry, result) == []


@pytest.mark.parametrize("entry", [_param(e) for e in ENTRIES if e.orbits is not None])
def test_symmetry_reduction_matches_the_pinned_orbits(entry: Entry) -> None:
    """The same verdict and shortest traces as the full search, in ``orbits`` states."""
    result = run_entry(entry, symmetry=True)
    assert result.symmetry is not None
    assert compare(entry, result) == []


def test_a_symmetric_search_without_pinned_orbits_is_a_mismatch() -> None:
    entry = next(e for e in ENTRIES if e.orbits is not None)
    unpinned = dataclasses.replace(entry, orbits=None)
    result = run_entry(unpinned, symmetry=True)
    assert compare(unpinned, result) == [
        "the search used symmetry reduction but no orbits are pinned"
    ]


def test_every_model_file_is_pinned() -> None:
    pinned = {e.model.name for e in ENTRIES}
    files = {p.name for p in MODELS.glob("*.py") if not p.name.startswith("_")}
    assert files - pinned == set()


def test_pinned_lengths_belong_to_pinned_violations() -> None:
    for e in ENTRIES:
        assert set(e.shortest) <= set(e.violates), e.id
