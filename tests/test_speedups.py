"""The C speedups against their pure-Python twins: the same answers, the same errors.

Every function of ``klpcheck._speedups`` must be indistinguishable from its twin except in
speed; fingerprints in particular are a contract between processes and machines (a
worker without the extension must hash as one with it). These tests compare the two on
random values and operation sequences; they are skipped where the extension is not built,
except under ``KLPCHECK_REQUIRE_SPEEDUPS=1`` (set by CI), where its absence fails.
"""

from __future__ import annotations

import dataclasses
import enum
import os
import random
import subprocess
import sys
from array import array
from collections import namedtuple
from pathlib import Path
from typing import Any

import pytest

from klpcheck import Record, check
from klpcheck.base.native import speedups
from klpcheck.model import enabled as enabled_module
from klpcheck.model import state as state_module
from klpcheck.model.fingerprint import encode, fingerprinter
from klpcheck.model.fptable import FingerprintTable
from klpcheck.model.hash64 import Hasher, classify, convert
from klpcheck.model.memory import Loc

ROOT = Path(__file__).resolve().parent.parent
C = speedups()

if os.environ.get("KLPCHECK_REQUIRE_SPEEDUPS") and not os.environ.get(
    "KLPCHECK_PURE_PYTHON"
):

    def test_the_speedups_are_built() -> None:
        assert C is not None, "klpcheck._speedups did not build: is a C compiler there?"


needs_c = pytest.mark.skipif(C is None, reason="klpcheck._speedups is not built")


class Colour(enum.Enum):
    RED = 1
    BLUE = 2


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


@dataclasses.dataclass(frozen=True)
class Cell:
    x: Any
    y: Any = ()
    note: str = dataclasses.field(default="", compare=False)


Pair = namedtuple("Pair", "a b")


class Name(str):
    __slots__ = ()

    def __str__(self) -> str:  # must not change what the value hashes as
        return "other"


class Bag(frozenset[Any]):
    pass


LEAVES: list[Any] = [
    0,
    1,
    -1,
    -2,
    2**61 - 1,
    2**63 - 1,
    -(2**63),
    2**63,
    -(2**63) - 1,
    2**64,
    2**200,
    -(2**130),
    True,
    False,
    None,
    0.0,
    -0.0,
    1.5,
    float("inf"),
    "",
    "a",
    "héllo",
    "lone \udc80 surrogate",
    "x" * 17,
    b"",
    b"abcdefghi",
    Colour.RED,
    Colour.BLUE,
    Level.LOW,
    Level.HIGH,
    Loc(1, "x"),
    Name("n"),
    frozenset(),
    frozenset({1, "a", Colour.RED}),
    Bag({1, 2}),
    Cell(1),
    Pair(1, "b"),
]


def random_value(rng: random.Random, depth: int = 0) -> Any:
    r = rng.random()
    if depth > 3 or r < 0.45:
        return rng.choice(LEAVES)
    items = [random_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    if r < 0.75:
        return tuple(items)
    if r < 0.85:
        return frozenset(items)
    if r < 0.93:
        return Cell(tuple(items), rng.choice(LEAVES), note=str(r))
    return Pair(tuple(items), rng.choice(LEAVES))


@needs_c
def test_the_c_hash_is_the_python_hash_on_random_values() -> None:
    rng = random.Random(16)
    slow = Hasher(None, None, convert)
    fast = C.Hasher(None, None, convert, classify)  # type: ignore[union-attr]
    by_hash: dict[int, bytes] = {}
    for _ in range(4000):
        v = random_value(rng)
        h = fast(v)
        assert h == slow(v), v
        # Equal encodings (the canonical form) exactly when equal hashes: no collision
        # among these values, and nothing that differs only in identity or order.
        code = encode(v)
        assert by_hash.setdefault(h, code) == code, v
    assert len(by_hash) > 1500
    # A literal tree never hashes as the value it is converted from.
    assert fast(Colour.RED) != fast((..., "enum", "Colour", "RED"))
    assert fast((..., "x")) == slow((..., "x"))


@needs_c
def test_the_c_hash_of_record_fields_is_the_python_hash() -> None:
    class S(Record):
        colours: tuple[Colour, ...]
        level: Level
        bag: frozenset[Any]
        nested: Any = None

    states = [
        S((Colour.RED,), Level.LOW, frozenset()),
        S((Colour.RED, Colour.BLUE), Level.HIGH, frozenset({Pair(1, 2)})),
        S((), Level.LOW, frozenset(), nested=Cell(S((), Level.HIGH, frozenset()))),
    ]
    fast, slow = fingerprinter(S), fingerprinter(S, native=False)
    for s in states:
        assert fast(s) == slow(s)
    assert len({fast(s) for s in states}) == 3
    # a state of another type is hashed as a value, never as the fields of S
    assert fast(Cell(1)) == slow(Cell(1)) != fast(S((), Level.LOW, frozenset()))


def test_a_value_that_cannot_be_fingerprinted_is_named() -> None:
    from klpcheck.base.errors import ModelError

    hashers: list[Any] = [Hasher(None, None, convert)]
    if C is not None:
        hashers.append(C.Hasher(None, None, convert, classify))
    for h in hashers:
        with pytest.raises(ModelError, match="fingerprints cannot encode a list"):
            h((1, [2]))


def test_fingerprints_do_not_depend_on_the_extension_or_the_hash_seed() -> None:
    code = (
        "from tests.test_speedups import LEAVES; "
        "from klpcheck.model.fingerprint import fingerprint; "
        "print(fingerprint(tuple(LEAVES)))"
    )
    outs = {
        _python(code, PYTHONHASHSEED=seed, KLPCHECK_PURE_PYTHON=pure)
        for seed, pure in (("1", ""), ("2", "1"), ("3", ""))
    }
    assert len(outs) == 1


def _python(code: str, **env: str) -> str:
    """What ``python -c code`` prints in the project root with ``env`` added."""
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def _outcome(fn: Any, *args: Any, **kwargs: Any) -> tuple[str, Any]:
    try:
        return "ok", fn(*args, **kwargs)
    except Exception as exc:
        return type(exc).__name__, str(exc)


@needs_c
def test_set_at_in_c_is_set_at_in_python() -> None:
    rng = random.Random(3)
    c_set_at = C.set_at  # type: ignore[union-attr]
    py_set_at = state_module._python_set_at
    for _ in range(2000):
        items: Any = tuple(rng.randrange(5) for _ in range(rng.randrange(5)))
        if rng.random() < 0.1:
            items = list(items)
        index: Any = rng.randrange(-6, 7)
        if rng.random() < 0.05:
            index = rng.choice([None, "1", 1.0, True, 2**70])
        value = rng.randrange(9)
        assert _outcome(c_set_at, items, index, value) == _outcome(
            py_set_at, items, index, value
        ), (items, index)


class Lock(Record):
    pc: tuple[int, ...]
    locked: bool = False


class Sub(Lock):
    extra: int = 0


@needs_c
def test_record_replace_in_c_is_the_python_method() -> None:
    fast = Lock.__dict__["replace"]
    assert type(fast).__name__ == "Replace"
    slow = fast.__wrapped__
    s = Lock(pc=(0, 1))
    for kw in ({}, {"locked": True}, {"pc": (2,)}, {"pc": (3,), "locked": True}):
        a, b = s.replace(**kw), slow(s, **kw)
        assert (a, type(a)) == (b, type(b))
        assert a is not s
    cases: list[tuple[tuple[Any, ...], dict[str, Any]]] = [
        ((), {"lcoked": True}),
        ((1,), {}),
        ((), {"replace": 1}),
    ]
    for args, bad in cases:
        assert _outcome(s.replace, *args, **bad) == _outcome(slow, s, *args, **bad)
    assert (
        _outcome(s.replace, lcoked=True)[1]
        == "Lock.replace() got an unexpected keyword argument 'lcoked'"
    )
    # an instance of another class goes to the Python method, as does an unset slot
    sub = Sub(pc=(1,))
    assert fast(sub, locked=True) == slow(sub, locked=True)
    empty = object.__new__(Lock)
    assert _outcome(fast, empty, locked=True) == _outcome(slow, empty, locked=True)
    assert Lock.replace.__doc__ == "A copy of this Lock with the given fields changed."


class Three(Record):
    a: Any = 0
    b: Any = ()
    c: Any = None


Trio = namedtuple("Trio", ["a", "b", "c"])


@dataclasses.dataclass(frozen=True)
class Loose:  # a __dict__, not slots: fields read with getattr
    a: Any = 0
    b: Any = ()
    c: Any = None


@needs_c
def test_the_c_write_check_is_the_python_one() -> None:
    """state_layout(...).moved against the expression written out in Python."""
    rng = random.Random(11)
    fields = ("a", "b", "c")

    def value() -> Any:
        return rng.choice(
            [
                0,
                1,
                2**70,
                True,
                Colour.RED,
                (0, 1, 2),
                (0, 5, 2),
                (0, 1),
                ((0, 1), 2),
                ((0, 9), 2),
                "x",
                float("nan"),
                frozenset({1}),
            ]
        )

    checked = 0
    for cls in (Three, Trio, Loose):
        layout = C.state_layout(cls, fields)  # type: ignore[union-attr]
        for _ in range(700):
            writes: set[tuple[Any, ...]] = set()
            for f in fields:
                pick = rng.randrange(4)
                if pick == 1:
                    writes.add((f,))
                elif pick >= 2:
                    writes |= {(f, i) for i in rng.sample(range(3), rng.randrange(3))}
                    if pick == 3:
                        writes.add((f, 0, 1))
            env: dict[str, Any] = {"elements_moved": enabled_module.elements_moved}
            fast = enabled_module._write_check(frozenset(writes), fields, env, layout)
            env2 = dict(env)
            slow = enabled_module._write_check(frozenset(writes), fields, env2)
            if fast is None:
                assert slow is None
                continue
            p = cls(*(value() for _ in fields))
            s = cls(*(rng.choice([getattr(p, f), value()]) for f in fields))
            got = eval(fast, env, {"p": p, "s": s})
            want = eval(slow, env2, {"p": p, "s": s})  # type: ignore[arg-type]
            assert got == want, (cls, writes, p, s)
            checked += got
    assert checked > 300
    # another class, or an unset slot
    layout = C.state_layout(Three, fields)  # type: ignore[union-attr]
    assert layout.moved(Trio(0, 0, 0), Trio(0, 0, 0), (False,) * 3)
    empty = object.__new__(Three)
    assert _outcome(layout.moved, empty, empty, (False,) * 3) == ("AttributeError", "a")


@needs_c
def test_the_c_fingerprint_table_answers_as_the_python_one() -> None:
    rng = random.Random(5)
    fast: Any = C.FingerprintTable(4, True)  # type: ignore[union-attr]
    slow = FingerprintTable(4, steps=True)
    keys = [0, 1, 2**64 - 1, *(rng.getrandbits(64) for _ in range(300))]
    for _ in range(5000):
        op = rng.randrange(6)
        fp = rng.choice(keys) if rng.random() < 0.9 else rng.choice([-1, 2**64, "x"])
        parent = rng.choice([None, 0, *keys[:20]])
        if op == 0:
            got = (_outcome(fast.__contains__, fp), _outcome(slow.__contains__, fp))
        elif op == 1:
            step = rng.randrange(2**32)
            got = (
                _outcome(fast.add, fp, parent, step),
                _outcome(slow.add, fp, parent, step),
            )
        elif op == 4:
            got = (_outcome(fast.step_of, fp), _outcome(slow.step_of, fp))
        elif op == 5 and fp in keys:
            batch = [
                (rng.choice(keys), rng.choice(keys), rng.randrange(9)) for _ in range(9)
            ]
            blob = array("Q", [x for t in batch for x in t]).tobytes()
            limit = rng.randrange(6)
            got = (
                _outcome(fast.add_triples, blob, limit),
                _outcome(slow.add_triples, blob, limit),
            )
        elif op == 2:
            got = (
                _outcome(fast.__setitem__, fp, parent),
                _outcome(slow.__setitem__, fp, parent),
            )
        else:
            got = (_outcome(fast.__getitem__, fp), _outcome(slow.__getitem__, fp))
        if op == 5 and fp not in keys:
            continue
        if fp in keys:
            assert got[0] == got[1], (op, fp)
        elif op in (1, 2):  # not a 64-bit fingerprint: both refuse to store it
            assert got[0][0] != "ok", (op, fp, got)
            assert got[1][0] != "ok", (op, fp, got)
        assert len(fast) == len(slow)
    assert len(fast) > 250


@needs_c
def test_the_c_router_routes_as_the_python_one() -> None:
    """Random successors over levels: the same tables, batches, counts and bounds."""
    from klpcheck.search.routing import Router

    rng = random.Random(7)
    hashes = [0, 1, 2**64 - 1, *(rng.getrandbits(64) for _ in range(400))]
    hashes += [h & 0xFFFFFFFF for h in hashes[:40]]  # high halves equal: one owner

    class Other:  # a state type the model does not declare
        def __init__(self, h: int) -> None:
            self.h = h

    def key(s: Any) -> int:
        return s if type(s) is int else int(s.h)

    for workers, index in ((1, 0), (2, 1), (3, 0)):
        fast_table: Any = C.FingerprintTable(4, True)  # type: ignore[union-attr]
        slow_table = FingerprintTable(4, steps=True)
        fast: Any = C.Router(key, fast_table, index, workers, 7, (int,))  # type: ignore[union-attr]
        slow = Router(key, slow_table, index, workers, 7, (int,))
        for level in range(12):
            at_bound, allowance = level == 11, rng.choice([0, 3, 50, 10**9])
            fast.begin(at_bound, allowance)
            slow.begin(at_bound, allowance)
            for _ in range(rng.randrange(60)):
                succs: list[tuple[int, Any]] = [
                    (rng.randrange(7), rng.choice(hashes))
                    for _ in range(rng.randrange(5))
                ]
                if rng.random() < 0.02:
                    succs.append((3, Other(rng.getrandbits(64))))
                parent = rng.choice(hashes)
                mask = rng.choice([None, rng.getrandbits(10)])
                where = rng.randrange(2**20)
                bad = (
                    fast.route(succs, parent, mask, where),
                    slow.route(succs, parent, mask, where),
                )
                assert bad[0] == bad[1]
                assert (fast.allowance, fast.bound) == (slow.allowance, slow.bound)
            assert fast.harvest() == slow.harvest()
            assert fast.counts() == slow.counts()
            assert len(fast_table) == len(slow_table)
            for h in hashes:
                assert (h in fast_table) == (h in slow_table)
                if h in slow_table:
                    assert fast_table[h] == slow_table[h]
                    assert fast_table.step_of(h) == slow_table.step_of(h)
        assert len(slow_table) > 10
        assert _outcome(fast.route, "not a list", 1, None, 0)[0] == "TypeError"
        assert _outcome(fast.route, [(9, 1)], 1, None, 0)[0] == "IndexError"


def test_searches_count_the_same_without_the_extension() -> None:
    code = (
        "from klpcheck import check; from klpcheck.model.loader import load_model; "
        "m = load_model('models/seed_rfc2015.py'); "
        "r = [check(m, storage=s, por=False) for s in ('exact', 'fingerprint')]; "
        "print([(x.verdict.value, x.distinct_states, x.transitions) for x in r])"
    )
    outs = {_python(code, KLPCHECK_PURE_PYTHON=pure) for pure in ("", "1")}
    assert len(outs) == 1
    (out,) = outs
    exact, fp = eval(out)
    assert exact == fp


def test_the_version_says_whether_the_speedups_are_on() -> None:
    from klpcheck.base.native import speedups_status

    assert speedups_status() == (
        "C speedups on"
        if C is not None
        else "C speedups off (KLPCHECK_PURE_PYTHON)"
        if os.environ.get("KLPCHECK_PURE_PYTHON")
        else "C speedups not built (pure Python: same results, slower)"
    )
    r = check(
        __import__("klpcheck").Model("one", init=0), storage="fingerprint", por=False
    )
    assert r.distinct_states == 1
