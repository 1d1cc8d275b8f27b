"""Encoded breadth-first levels (search/frontier.py, model/statecodec.py).

A state taken out of an encoded level must be the state put in: equal, of the same type,
with fields that are the same all the way down (``1`` is not ``True``, ``0.0`` is not
``-0.0``). And a search holding its levels encoded must find exactly what one holding
them in lists finds: counts, transitions, verdicts, traces.
"""

from __future__ import annotations

import dataclasses
import random
from array import array
from typing import Any, NamedTuple
from unittest import mock

import pytest
from hypothesis import given, settings

from klpcheck import Model, Record, check
from klpcheck.base.options import Options
from klpcheck.base.result import Result
from klpcheck.gate.manifest import Entry, load_manifest, run_entry
from klpcheck.model.statecodec import (
    DICT,
    NAMED,
    SLOTS,
    TUPLE,
    StateCodec,
    codec_for,
    new_codec,
    same,
)
from klpcheck.search import explore, frontier
from klpcheck.search.frontier import EncodedLevel, levels
from klpcheck.search.plan import compose
from tests.conftest import MODELS, SMALL
from tests.test_por_random import CI, build, model_specs, race_specs
from tests.test_speedups import Colour, random_value


def shape(v: Any) -> Any:
    """A tree that tells apart any two values that are not the same (see ``same``)."""
    kind = type(v)
    if isinstance(v, tuple):
        return (kind, tuple(map(shape, v)))
    if isinstance(v, frozenset):
        return (kind, frozenset(map(shape, v)))
    if isinstance(v, float):
        return (kind, v.hex())
    if dataclasses.is_dataclass(v):
        return (kind, tuple(shape(getattr(v, f.name)) for f in dataclasses.fields(v)))
    return (kind, v)


class Big(Record):
    a: Any
    b: Any
    c: Any = None
    d: Any = 0


@dataclasses.dataclass(frozen=True)
class Plain:
    a: Any
    b: Any = ()
    note: str = dataclasses.field(default="", compare=False)


@dataclasses.dataclass(frozen=True, slots=True)
class Slotted:
    a: Any
    b: Any


class Named(NamedTuple):
    a: Any
    b: Any


KINDS: list[tuple[type, int]] = [
    (Big, SLOTS),
    (Plain, DICT),
    (Slotted, SLOTS),
    (Named, NAMED),
    (tuple, TUPLE),
]


def random_state(rng: random.Random, kind: type) -> Any:
    def value() -> Any:
        return random_value(rng)

    if kind is Big:
        return Big(value(), value(), value(), rng.choice([0, 1, True, 2**70, -0.0]))
    if kind is Plain:
        return Plain(value(), value(), note=rng.choice(["", "x"]))
    if kind is tuple:
        return tuple(value() for _ in range(rng.randrange(5)))
    return kind(value(), value())


def codecs(kind: type) -> list[Any]:
    """The Python codec for ``kind`` and, when built and it applies, the C one."""
    out: list[Any] = [StateCodec(kind)]
    fast = new_codec(kind)
    if type(fast) is not StateCodec:
        out.append(fast)
    return out


def test_layouts() -> None:
    for kind, layout in KINDS:
        found = codec_for(kind)
        assert found is not None
        assert found[0] == layout

    class Odd:
        pass

    @dataclasses.dataclass(frozen=True)
    class Mixed(Slotted):
        c: int = 0  # slots from the base, the rest in __dict__

    assert codec_for(Odd) is None
    assert codec_for(Mixed) is None
    assert codec_for(Colour) is None


@pytest.mark.parametrize("kind", [k for k, _ in KINDS], ids=lambda k: k.__name__)
def test_random_states_come_back_the_same(kind: type) -> None:
    rng = random.Random(16)
    states = [random_state(rng, kind) for _ in range(600)]
    outs = []
    for codec in codecs(kind):
        data = [codec.encode(s) for s in states]
        assert None not in data
        for s, d in zip(states, data, strict=True):
            back: Any = codec.decode(d)
            assert type(back) is kind
            assert back == s
            assert shape(back) == shape(s), s  # compare=False fields included
        # decoding the same bytes again, later, gives the same again
        assert [shape(codec.decode(d)) for d in data] == list(map(shape, states))
        outs.append(data)
    assert all(o == outs[0] for o in outs), "C and Python encode differently"


@pytest.mark.parametrize("kind", [k for k, _ in KINDS], ids=lambda k: k.__name__)
def test_equal_values_that_are_not_the_same_get_their_own_codes(kind: type) -> None:
    twins = [
        (1, True, 1.0),
        (0.0, -0.0),
        ((1, 2), (True, 2)),
        (frozenset({1, 2}), frozenset({True, 2})),
        (Plain((1,)), Plain((True,))),
        (2**70, float(2**70)),
    ]
    for codec in codecs(kind):
        for group in twins:
            for v in group:
                s = _state_with(kind, v)
                back = codec.decode(codec.encode(s))
                assert shape(back) == shape(s), (group, v)


def _state_with(kind: type, v: Any) -> Any:
    if kind is Big:
        return Big(v, v)
    if kind is Plain:
        return Plain(v, (v,))
    if kind is tuple:
        return (v, (v,))
    return kind(v, (v,))


def test_same() -> None:
    assert same((1, "a", (None, b"x")), (1, "a", (None, b"x")))
    assert not same((1, (2,)), (1, (True,)))
    assert same(frozenset({(1,), 2}), frozenset({(1,), 2}))
    assert not same(frozenset({(1,), 2}), frozenset({(True,), 2}))
    assert same(Plain(1, note="a"), Plain(1, note="a"))
    assert not same(Plain(1, note="a"), Plain(1, note="b"))
    assert not same(0.0, -0.0)
    assert same(-0.0, -0.0)
    assert not same(Named(1, 2), (1, 2))


def test_states_that_cannot_be_written_are_kept_as_they_are() -> None:
    unset = object.__new__(Slotted)  # a slot never set
    extra = Plain(1)
    object.__setattr__(extra, "cache", 5)  # more in __dict__ than the fields
    for kind, odd in ((Slotted, unset), (Plain, extra)):
        for codec in codecs(kind):
            assert codec.encode(odd) is None
            assert codec.encode(Big(1, 2)) is None  # another type
            level = EncodedLevel(codec, [kind(1, 2), odd, kind(3, 4)])
            level.reverse()
            assert level.pop() == kind(1, 2)
            assert level.pop() is odd
            assert level.pop() == kind(3, 4)
            assert len(level) == 0


def test_a_level_is_used_as_a_list() -> None:
    rng = random.Random(7)
    for codec in codecs(Big):
        for _ in range(50):
            plain: list[Any] = []
            level = EncodedLevel(codec)
            for _ in range(rng.randrange(30)):
                s = random_state(rng, Big)
                plain.append(s)
                level.append(s)
                if rng.random() < 0.2 and plain:
                    assert shape(level.pop()) == shape(plain.pop())
            if rng.random() < 0.5:
                plain.reverse()
                level.reverse()
                with pytest.raises(TypeError):
                    level.append(Big(1, 2))
            while plain:
                assert len(level) == len(plain)
                assert shape(level.pop()) == shape(plain.pop())
            assert len(level) == 0
            with pytest.raises(IndexError):
                level.pop()


def test_levels_are_encoded_with_fingerprints_only() -> None:
    m = Model("pair", init=Big(0, 0))
    exact_states, exact_keys = levels(compose(m, Options()))
    assert exact_states is list
    assert exact_keys is list
    states, keys = levels(compose(m, Options(storage="fingerprint")))
    assert isinstance(states([Big(1, 2)]), EncodedLevel)
    assert isinstance(keys([2**64 - 1]), array)
    many: Model[Any] = Model("two types", init=[Big(0, 0), Named(0, 0)])
    states, keys = levels(compose(many, Options(storage="fingerprint")))
    assert states is list
    assert isinstance(keys([1]), array)


# -- searches: encoded levels find what lists find --------------------------------------


def _summary(r: Result) -> tuple[Any, ...]:
    return (
        r.verdict,
        r.distinct_states,
        r.transitions,
        r.max_depth,
        r.step_stats,
        [
            (
                v.property,
                v.trace and [(s.label(), repr(s.state)) for s in v.trace.steps],
            )
            for v in r.violations
        ],
        {n: [s.label() for s in t.steps] for n, t in r.witnesses.items()},
    )


def _lists(plan: Any) -> tuple[Any, Any]:
    return list, list


def _both(run: Any) -> tuple[Result, Result]:
    """``run()`` with encoded levels, and with lists.

    Encoded by the C codec when it is built; the Python one must find the same.
    """
    encoded = run()
    with mock.patch.object(frontier, "new_codec", _python_codec):
        assert _summary(run()) == _summary(encoded)
    with mock.patch.object(explore, "levels", _lists):
        plain = run()
    return encoded, plain


def _python_codec(kind: type) -> StateCodec | None:
    return new_codec(kind, native=False)


ENTRIES = [
    e
    for e in load_manifest(MODELS / "manifest.toml")
    if not e.slow and e.states < SMALL and not e.params.get("live")
]


@pytest.mark.parametrize("entry", ENTRIES[:6], ids=lambda e: e.id)
def test_bundled_models_are_found_alike(entry: Entry) -> None:
    encoded, plain = _both(lambda: run_entry(entry, storage="fingerprint", por=False))
    assert _summary(encoded) == _summary(plain)
    assert encoded.distinct_states == entry.states


def _alike(spec: dict[str, Any]) -> None:
    for extra in ({"keep_going": True}, {}, {"incremental": True}):
        encoded, plain = _both(
            lambda: check(build(spec), por=False, storage="fingerprint", **extra)  # noqa: B023
        )
        assert _summary(encoded) == _summary(plain), extra


@settings(CI, max_examples=20)
@given(model_specs())
def test_random_models_are_found_alike(spec: dict[str, Any]) -> None:
    _alike(spec)


@settings(CI, max_examples=15)
@given(race_specs())
def test_random_races_are_found_alike(spec: dict[str, Any]) -> None:
    _alike(spec)


def test_levels_are_lists_again_when_the_tables_grow_with_the_states() -> None:
    # Every state has a value of its own in field a: after 3 levels of 8 states, 27
    # values are interned (24 in a, one in each other field), over the floor of 20.
    m = Model("pair", init=Big(0, 0))
    with mock.patch.object(frontier, "_FLOOR", 20):
        make, _ = levels(compose(m, Options(storage="fingerprint")))
        made = [make([Big((d, i), 0) for i in range(8)]) for d in range(6)]
    assert [type(level).__name__ for level in made] == [
        "EncodedLevel",
        "EncodedLevel",
        "EncodedLevel",
        "list",
        "list",
        "list",
    ]
    assert made[2].pop() == Big((2, 7), 0)


def test_a_search_that_gives_up_encoding_finds_the_same() -> None:
    m: Model[Big] = Model("count", init=Big(0, (0,)))

    @m.step(when=lambda s: s.a < 9)
    def up(s: Big) -> Big:
        return s.replace(a=s.a + 1, b=(*s.b, s.a % 3))

    @m.step(when=lambda s: s.c is None)
    def side(s: Big) -> Big:
        return s.replace(c=s.a)

    @m.invariant()
    def small(s: Big) -> bool:
        return s.a < 8 or s.c is None

    with mock.patch.object(frontier, "_FLOOR", 4):
        encoded, plain = _both(lambda: check(m, storage="fingerprint", keep_going=True))
    assert _summary(encoded) == _summary(plain)
    assert encoded.verdict.value == "violated"


def test_codes_take_two_and_four_bytes_past_256_and_65536_values() -> None:
    states = [Named(i, i % 7) for i in range(70_000)]
    outs = []
    for codec in codecs(Named):
        data = [codec.encode(s) for s in states]
        assert {d[-1] for d in data[:256]} == {1}
        assert data[256][-1] == data[65535][-1] == 2
        assert data[65536][-1] == 4
        assert len(data[65536]) == 9
        assert [codec.decode(d) for d in data[::997]] == states[::997]
        assert codec.decode(data[-1]) == states[-1]
        outs.append(data)
    assert all(o == outs[0] for o in outs)
