"""``Record``: a frozen slotted dataclass whose generated ``replace`` equals the stdlib's."""

from __future__ import annotations

import dataclasses
import pickle
from typing import Any, ClassVar

import pytest

from bench.lock import build as lock_record
from bench.lock_dataclass import build as lock_dataclass
from klpcheck import Record, check, fields_of


class Task(Record):
    pc: str
    stack: tuple[int, ...] = ()
    pending: bool = False
    limit: ClassVar[int] = 3


class Checked(Record):
    depth: int

    def __post_init__(self) -> None:
        if self.depth > Task.limit:
            raise ValueError(f"depth {self.depth} is over the limit")


class Counted(Record):
    items: tuple[int, ...]
    size: int = dataclasses.field(init=False, default=0)


def test_a_record_is_a_frozen_slotted_dataclass() -> None:
    t = Task("idle")
    assert dataclasses.is_dataclass(t)
    assert [f.name for f in dataclasses.fields(t)] == ["pc", "stack", "pending"]
    assert not hasattr(t, "__dict__")
    with pytest.raises(dataclasses.FrozenInstanceError):
        t.pc = "busy"  # type: ignore[misc]
    assert fields_of(t) == {"pc": "idle", "stack": (), "pending": False}
    assert hash(t) == hash(Task("idle"))
    assert t == Task("idle")


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"pc": "busy"},
        {"stack": (1, 2)},
        {"pc": "x", "stack": (3,), "pending": True},
    ],
)
def test_replace_gives_what_dataclasses_replace_gives(changes: dict[str, Any]) -> None:
    t = Task("idle", (7,), False)
    new = t.replace(**changes)
    assert new == dataclasses.replace(t, **changes)
    assert type(new) is Task
    assert t == Task("idle", (7,), False)  # the original is untouched


def test_replace_refuses_an_unknown_field_by_name() -> None:
    with pytest.raises(TypeError) as info:
        Task("idle").replace(pcc="busy")
    assert str(info.value) == "Task.replace() got an unexpected keyword argument 'pcc'"


def test_replace_runs_post_init_as_the_constructor_does() -> None:
    assert Checked(1).replace(depth=2) == Checked(2)
    with pytest.raises(ValueError, match="depth 4 is over the limit"):
        Checked(1).replace(depth=4)


def test_fields_outside_init_fall_back_to_the_standard_replace() -> None:
    c = Counted((1, 2))
    assert c.replace(items=(3,)) == Counted((3,))
    with pytest.raises(ValueError, match="init=False"):
        c.replace(size=5)


def test_a_field_named_replace_is_refused() -> None:
    with pytest.raises(TypeError) as info:

        class Bad(Record):
            replace: int  # type: ignore[assignment]

    assert str(info.value) == (
        "Bad: a field named `replace` would hide Record.replace; rename it"
    )


def test_records_pickle_for_worker_processes() -> None:
    t = Task("idle", (1,), True)
    assert pickle.loads(pickle.dumps(t)) == t


@pytest.mark.parametrize("storage", ["exact", "fingerprint"])
def test_record_and_dataclass_models_explore_the_same_graph(storage: str) -> None:
    a = check(lock_record(4), storage=storage, keep_going=True)
    b = check(lock_dataclass(4), storage=storage, keep_going=True)
    assert a.distinct_states == b.distinct_states == 5**4 + 4 * 5**3
    assert a.transitions == b.transitions
    assert a.verdict == b.verdict


class WithInitVar(Record):
    base: int
    extra: dataclasses.InitVar[int] = 0

    def __post_init__(self, extra: int) -> None:
        object.__setattr__(self, "base", self.base + extra)


def test_initvars_fall_back_to_the_standard_replace() -> None:
    assert WithInitVar(1, extra=2).base == 3
    assert WithInitVar(1).replace(base=5, extra=1) == WithInitVar(6)


class Wide(Record):
    a: int
    b: tuple[int, ...]
    c: str = "x"


class Wider(Wide):  # not a direct subclass of Record: the per-slot setters are used
    d: int = 0


def test_replace_through_the_mutable_twin_builds_an_ordinary_frozen_state() -> None:
    s = Wide(1, (2,))
    r = s.replace(b=(3,))
    assert type(r) is Wide
    assert r == Wide(1, (3,))
    assert hash(r) == hash(Wide(1, (3,)))
    assert r == dataclasses.replace(s, b=(3,))
    assert pickle.loads(pickle.dumps(r)) == r
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.a = 5  # type: ignore[misc]
    w = Wider(1, (2,)).replace(d=4, a=0)
    assert type(w) is Wider
    assert w == Wider(0, (2,), "x", 4)
