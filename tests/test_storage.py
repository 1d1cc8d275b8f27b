"""Fingerprint storage: the same counts, verdicts and traces as exact storage."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from dataclasses import dataclass
from enum import Enum
from typing import NamedTuple

import pytest

from klpcheck import Model, ModelError, Record, Result, check
from klpcheck.gate.manifest import Entry, compare, load_manifest, run_entry
from klpcheck.model.fingerprint import encode, fingerprint, fingerprinter
from klpcheck.model.fptable import FingerprintTable
from tests.conftest import MODELS, ROOT, SMALL, full_search
from tests.toy_models import chain, counters, flag_race, pair_target

# Every model file, at the sizes that run in a second or less (liveness entries need
# one process and exact storage).
ENTRIES = [
    e
    for e in load_manifest(MODELS / "manifest.toml")
    if not e.slow and e.states < SMALL and not e.params.get("live")
]


def _labels(result: Result) -> list[list[str]]:
    return [
        [s.label() for s in v.trace.steps] if v.trace else [] for v in result.violations
    ]


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.id)
def test_fingerprints_match_every_pin_and_exact_traces(entry: Entry) -> None:
    exact = full_search(entry)
    fp = run_entry(entry, storage="fingerprint")
    assert compare(entry, fp) == []
    assert (fp.transitions, fp.max_depth) == (exact.transitions, exact.max_depth)
    assert _labels(fp) == _labels(exact)
    assert fp.step_stats == exact.step_stats
    assert "collision" in fp.notes[0]


@pytest.mark.parametrize("order", ["bfs", "dfs"])
@pytest.mark.parametrize(
    "model", [counters(3, 4), flag_race(), chain(3), pair_target(2, 2)]
)
def test_toy_models_agree_in_both_orders(model: object, order: str) -> None:
    exact = check(model, order=order, keep_going=True)  # type: ignore[arg-type]
    fp = check(model, order=order, keep_going=True, storage="fingerprint")  # type: ignore[arg-type]
    assert (fp.verdict, fp.distinct_states, fp.transitions) == (
        exact.verdict,
        exact.distinct_states,
        exact.transitions,
    )
    assert _labels(fp) == _labels(exact)
    assert {n: len(t) for n, t in fp.witnesses.items()} == {
        n: len(t) for n, t in exact.witnesses.items()
    }


def test_bounds_stay_incomplete_with_fingerprints() -> None:
    r = check(counters(3, 4), max_states=10, storage="fingerprint")
    assert (r.verdict.value, r.distinct_states) == ("incomplete", 10)


class Colour(Enum):
    RED = "red"
    BLUE = "blue"


class Pair(NamedTuple):
    a: int
    b: str


@dataclass(frozen=True)
class Rich:
    colour: Colour
    names: frozenset[str]
    pair: Pair
    items: tuple[int, ...] = ()


RICH = Rich(Colour.RED, frozenset({"alpha", "beta", "gamma"}), Pair(1, "x"), (1, 2))


def test_the_encoding_is_canonical() -> None:
    same = Rich(Colour.RED, frozenset(["gamma", "beta", "alpha"]), Pair(1, "x"), (1, 2))
    assert encode(same) == encode(RICH)
    assert fingerprinter(Rich)(same) == fingerprinter(Rich)(RICH)
    blue = Rich(Colour.BLUE, RICH.names, RICH.pair, RICH.items)
    assert fingerprint(blue) != fingerprint(RICH)


def test_fingerprints_do_not_depend_on_the_hash_seed() -> None:
    # The second call of a fingerprinter goes through the conversion learnt by the
    # first (enum fields from id() tables, remembered objects): stable as well.
    code = (
        "from tests.test_storage import RICH, Rich; "
        "from klpcheck.model.fingerprint import fingerprint, fingerprinter; "
        "f = fingerprinter(Rich); f(RICH); "
        "print(fingerprint(RICH), f(RICH))"
    )
    outs = set()
    for seed in ("1", "2", "3"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run(
            [sys.executable, "-c", code],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        outs.add(out)
    assert outs == {f"{fingerprint(RICH)} {fingerprinter(Rich)(RICH)}\n"}


def test_a_nondeterministic_step_is_named_when_its_trace_is_rebuilt() -> None:
    calls = [0]

    @dataclass(frozen=True)
    class Box:
        n: int = 0

    m = Model("flaky", init=Box())

    @m.step(when=lambda s: s.n < 2)
    def bump(s: Box) -> Box:
        """Counts up, but not the same way twice."""
        calls[0] += 1
        return Box(s.n + (1 if calls[0] <= 2 else 2))

    @m.invariant
    def below_two(s: Box) -> bool:
        """n stays below 2."""
        return s.n < 2

    for storage in ("exact", "fingerprint"):
        calls[0] = 0
        with pytest.raises(
            ModelError, match="is not deterministic: no step leads again"
        ):
            check(m, storage=storage)


def test_the_fingerprint_table_grows_and_keeps_every_parent() -> None:
    table = FingerprintTable(capacity=4)
    fps = [(i * 0x9E3779B97F4A7C15) % 2**64 for i in range(1, 5000)]
    table[0] = None  # stored as 1: the one value the table cannot tell apart
    for parent, fp in itertools.pairwise(fps):
        table[fp] = parent
    assert len(table) == len(fps)
    assert all(fp in table for fp in fps[1:])
    assert table[fps[-1]] == fps[-2]
    assert table[0] is None
    assert 12345 not in table
    with pytest.raises(KeyError):
        table[12345]


def test_the_search_leaves_the_collector_as_it_found_it() -> None:
    import gc

    check(counters(3, 12))
    assert gc.get_freeze_count() == 0
    assert gc.isenabled()


class Mode(Enum):
    IDLE = "idle"
    BUSY = "busy"


class Pinned(Record):
    mode: tuple[Mode, ...]
    count: int = 0


def test_fingerprints_of_enum_states_are_pinned() -> None:
    """Fingerprints are a contract between runs, processes and machines: the C hash and
    its pure-Python twin give these values (the hash of klpcheck.model.hash64; the
    BLAKE2b fingerprints before it had other values)."""
    s = Pinned((Mode.IDLE, Mode.BUSY, Mode.IDLE), 3)
    pins = ("0xecb984d24f8589da", "0x84aafabe3ac9cb90")
    assert (hex(fingerprint(s)), hex(fingerprinter(Pinned)(s))) == pins
    assert hex(fingerprinter(Pinned, native=False)(s)) == pins[1]


class Other(Enum):
    IDLE = "idle"


class Mixed(Record):
    modes: tuple[Mode, ...] | tuple[int, ...]
    mode: Mode | Other | int | None
    rest: tuple[object, ...] = ()


class Modes(tuple[Mode, ...]):
    __slots__ = ()


def test_the_learnt_enum_fast_path_gives_the_general_bytes() -> None:
    """The first state with enums fixes which fields are converted from tables; states of
    another shape (an int or another enum where a member was, a tuple subclass where a
    tuple was, a set inside) must still encode exactly as the general conversion does."""
    from klpcheck.model.fingerprint import _canonical, encoder

    enc = encoder(frozenset({Mixed}))
    states = [
        Mixed((Mode.IDLE, Mode.BUSY), Mode.BUSY, ((Mode.IDLE, 1),)),
        Mixed((Mode.BUSY,), Mode.IDLE),
        Mixed((1, 2), Mode.IDLE),
        Mixed((Mode.IDLE,), Other.IDLE),
        Mixed((Mode.IDLE,), 0),
        Mixed((Mode.IDLE,), None, (frozenset({"a", "b"}),)),
        Mixed(Modes((Mode.IDLE,)), Mode.BUSY),
        Mixed((), Mode.BUSY),
    ]
    import marshal

    for s in states:
        assert enc(s) == marshal.dumps(_canonical(s)[3:], 2), s
    assert len({enc(s) for s in states}) == len(states)


def test_a_subclass_of_a_plain_type_is_encoded_as_the_value_it_equals() -> None:
    from klpcheck.model.fingerprint import encode
    from klpcheck.model.memory import Loc

    assert encode((Loc(1, "x"), 2)) == encode((1, 2))
    assert encode((Loc(1, "x"), 2)) != encode((0, 2))
