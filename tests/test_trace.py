"""Counterexample files: the encoding, atomic saving, loading bad files, and replay."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from klpcheck import Model, TraceError, check, load_model
from klpcheck.base.fileio import write_atomically
from klpcheck.trace.codec import canonical, encode
from klpcheck.trace.files import (
    FORMAT,
    ReplayDivergence,
    load_counterexample,
    replay,
    save_counterexample,
)
from tests.conftest import MODELS
from tests.toy_models import Pc, counters, flag_race, pair_target


class Colour(Enum):
    RED = 1


class Point(NamedTuple):
    x: int
    y: int


@dataclass(frozen=True)
class Inner:
    tags: frozenset[str]


def test_values_are_encoded_by_kind() -> None:
    value = (Colour.RED, Point(1, 2), Inner(frozenset({"b", "a"})), b"\x01", None, 1.5)
    assert encode(value) == [
        {"$enum": "Colour.RED"},
        {"$namedtuple": "Point", "x": 1, "y": 2},
        {"$dataclass": "Inner", "tags": {"$frozenset": ["a", "b"]}},
        {"$bytes": "01"},
        None,
        1.5,
    ]


def test_an_unencodable_value_names_where_it_is() -> None:
    with pytest.raises(TraceError, match=r"state\.tags is a object"):
        encode(Inner(object()))  # type: ignore[arg-type]
    with pytest.raises(TraceError, match="JSON cannot hold"):
        encode(float("nan"))


def test_true_and_one_encode_differently() -> None:
    assert canonical(encode(True)) != canonical(encode(1))


values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.tuples(inner, inner) | st.frozensets(inner, max_size=3),
    max_leaves=10,
)


@settings(max_examples=60, deadline=None)
@given(values)
def test_encodings_survive_json_and_are_canonical(value: Any) -> None:
    data = encode(value)
    assert canonical(json.loads(json.dumps(data))) == canonical(data)
    assert canonical(encode(value)) == canonical(data)


def _save(model: Model[Any], tmp_path: Path, **options: Any) -> Path:
    result = check(model, **options)
    (v,) = [v for v in result.violations if v.trace is not None][:1]
    return save_counterexample(model, v, tmp_path, order=result.order)


def test_save_load_replay_reproduces_the_trace(tmp_path: Path) -> None:
    model = flag_race()
    result = check(model)
    v = result.violations[0]
    path = save_counterexample(model, v, tmp_path, order="bfs")
    assert path.name == "flag_race-mutual_exclusion.json"
    data = json.loads(path.read_text())
    assert (data["format"], data["version"], data["length"]) == (FORMAT, 2, 4)
    assert data["property"]["name"] == "mutual_exclusion"
    assert data["steps"][0] == {
        "step": "observe",
        "params": {"t": 0},
        "state": {
            "$dataclass": "Flag",
            "flag": False,
            "pc": [{"$enum": "Pc.SAW_CLEAR"}, {"$enum": "Pc.IDLE"}],
        },
    }
    rp = replay(load_counterexample(path), model)
    assert rp.trace == v.trace
    assert rp.violation.property == "mutual_exclusion"


@pytest.mark.parametrize(
    "model", [pair_target(1, 2), counters(2, 2)], ids=["namedtuple", "tuple"]
)
def test_other_state_kinds_round_trip(model: Model[Any], tmp_path: Path) -> None:
    @model.invariant
    def never_one_one(s: Any) -> bool:
        """Not both at one."""
        return tuple(s) != (1, 1)

    path = _save(model, tmp_path, deadlock=False)
    rp = replay(load_counterexample(path), model)
    assert tuple(rp.trace.last) == (1, 1)


def test_a_deadlock_trace_replays(tmp_path: Path) -> None:
    from tests.toy_models import chain

    model = chain(2)
    path = _save(model, tmp_path)
    assert replay(load_counterexample(path), model).violation.kind == "deadlock"


def test_replay_loads_the_recorded_model_file_and_params(tmp_path: Path) -> None:
    model = load_model(MODELS / "water_jug.py", {"goal": 2})
    path = _save(model, tmp_path)
    data = json.loads(path.read_text())
    assert data["model"]["params"] == {"big": 5, "small": 3, "goal": 2}
    assert not Path(data["model"]["file"]).is_absolute()
    rp = replay(load_counterexample(path))
    assert rp.trace.last.big == 2


def _edit(path: Path, change: Any) -> Path:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))
    return path


def test_a_changed_state_names_the_step_and_fields(tmp_path: Path) -> None:
    model = flag_race()
    path = _save(model, tmp_path)

    def bump(d: dict[str, Any]) -> None:
        d["steps"][2]["state"]["flag"] = False

    _edit(path, bump)
    with pytest.raises(ReplayDivergence) as e:
        replay(load_counterexample(path), model)
    assert (e.value.step, e.value.fields) == (3, ("flag",))
    message = str(e.value)
    assert "step 3 of 4 diverged: claim(t=0) leads to another state" in message
    assert "flag (saved false, replayed true)" in message
    assert "re-save or delete" in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda d: d["steps"][1].update(step="gone"), "no step `gone`"),
        (
            lambda d: d["steps"][1]["params"].update(t=7),
            "no instance with parameters (t=7)",
        ),
        (lambda d: d["steps"].pop(0), "observe(t=1) leads to another state"),
        (lambda d: d["steps"].insert(2, d["steps"][2]), "claim(t=0) is not enabled"),
        (lambda d: d["init"].update(flag=True), "the initial state diverged"),
    ],
)
def test_divergences_are_one_line(tmp_path: Path, change: Any, words: str) -> None:
    path = _save(flag_race(), tmp_path)

    def edit(d: dict[str, Any]) -> None:
        change(d)
        d["length"] = len(d["steps"])

    _edit(path, edit)
    with pytest.raises(TraceError) as e:
        replay(load_counterexample(path), flag_race())
    assert words in str(e.value)
    assert "\n" not in str(e.value)


def test_a_trace_that_no_longer_breaks_the_property_is_stale(tmp_path: Path) -> None:
    path = _save(flag_race(), tmp_path)
    fixed = flag_race()
    fixed.invariants.clear()

    @fixed.invariant
    def mutual_exclusion(s: Any) -> bool:
        """Anything goes."""
        return True

    with pytest.raises(ReplayDivergence, match="holds in the last state"):
        replay(load_counterexample(path), fixed)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", "is empty"),
        ('{"format": "klpcheck-counterexample", "version": 1, "model"', "is truncated"),
        ("not json", "is not valid JSON"),
        ('{"some": "thing else"}', "is not a klpcheck counterexample"),
        ("[1, 2]", "is not a klpcheck counterexample"),
        (
            '{"format": "klpcheck-counterexample", "version": 9}',
            "this klpcheck reads versions 1 and 2",
        ),
    ],
)
def test_bad_files_are_one_line_errors(tmp_path: Path, text: str, words: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(TraceError) as e:
        load_counterexample(path)
    assert words in str(e.value)
    assert str(path) in str(e.value)


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda d: d.pop("steps"), "steps is missing"),
        (lambda d: d["steps"].append(3), "steps[4] is not an object"),
        (
            lambda d: d["steps"][0]["state"].update(pc={"$weird": 1}),
            "without one known $-tag",
        ),
        (lambda d: d["model"].update(params=[]), "model.params is not a dict"),
        (lambda d: d.update(length=99), "length is 99 but there are 4 steps"),
    ],
)
def test_malformed_files_name_the_place(
    tmp_path: Path, change: Any, words: str
) -> None:
    path = _edit(_save(flag_race(), tmp_path), change)
    with pytest.raises(TraceError, match="is malformed") as e:
        load_counterexample(path)
    assert words in str(e.value)


def test_an_interrupted_write_leaves_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "out.json"
    write_atomically(target, "old")

    def interrupt(src: str, dst: str) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupt)
    with pytest.raises(KeyboardInterrupt):
        write_atomically(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_states_are_saved_one_line_per_step(tmp_path: Path) -> None:
    lines = _save(flag_race(), tmp_path).read_text().splitlines()
    steps = [line for line in lines if line.startswith('  {"step": ')]
    assert len(steps) == 4
    assert Pc.CRITICAL.name in steps[-1]


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(1, 3),
    k=st.integers(2, 4),
    data=st.data(),
)
def test_replay_of_a_saved_trace_reproduces_it(
    n: int, k: int, data: st.DataObject, tmp_path_factory: pytest.TempPathFactory
) -> None:
    target = tuple(data.draw(st.lists(st.integers(0, k - 1), min_size=n, max_size=n)))
    model = counters(n, k)

    @model.invariant
    def not_target(s: tuple[int, ...]) -> bool:
        """The counters never show the target."""
        return s != target

    (v,) = check(model, deadlock=False).violations  # length 0 when target is initial
    path = save_counterexample(model, v, tmp_path_factory.mktemp("cx"), order="bfs")
    rp = replay(load_counterexample(path), model)
    assert rp.trace == v.trace
