"""The store-buffer library on tiny hand models: outcomes, exact counts, no stuttering."""

from __future__ import annotations

import pickle

import networkx as nx
import pytest

from klpcheck import Model, ModelError, Record, check, set_at
from klpcheck.model.memory import Buffer, Cell, Loc, WeakMemory
from klpcheck.trace.codec import encode
from klpcheck.trace.graph import state_graph


class MP(Record):
    """Message passing: CPU 0 writes x then y, CPU 1 reads y then x."""

    pc: tuple[int, int]
    r: tuple[int, int]  # CPU 1's reads of y and x
    mem: tuple[Cell, ...]
    sb: tuple[Buffer, ...]


def mp(writer: str, reader: str) -> Model[MP]:
    """writer: plain, wmb or release; reader: plain, rmb, dep (x's address comes from
    the read of y) or acquire."""
    wm = WeakMemory(cpus=2, locations={"x": 0, "y": 0})
    m = Model("mp", init=MP(pc=(0, 0), r=(-1, -1), mem=wm.cells, sb=wm.buffers))

    @m.step(when=lambda s: s.pc[0] == 0)
    def write_x(s: MP) -> MP:
        return s.replace(pc=(1, s.pc[1]), **wm.store(s, 0, "x", 1))

    @m.step(when=lambda s: s.pc[0] == 1)
    def write_y(s: MP) -> MP:
        if writer == "release":
            return s.replace(pc=(2, s.pc[1]), **wm.store_release(s, 0, "y", 1))
        s = s.replace(**wm.wmb(s, 0)) if writer == "wmb" else s
        return s.replace(pc=(2, s.pc[1]), **wm.store(s, 0, "y", 1))

    @m.step(when=lambda s: s.pc[1] == 0)
    def read_y(s: MP) -> MP:
        if reader == "acquire":
            v, updates = wm.load_acquire(s, 1, "y")
        else:
            v, updates = wm.load(s, 1, "y"), {}
            if reader == "rmb":
                updates = wm.rmb(s, 1)
        return s.replace(pc=(s.pc[0], 1), r=(v, -1), **updates)

    @m.step(when=lambda s: s.pc[1] == 1)
    def read_x(s: MP) -> MP:
        if reader == "dep":
            v, updates = wm.load_dep(s, 1, "x")
            return s.replace(pc=(s.pc[0], 2), r=(s.r[0], v), **updates)
        return s.replace(pc=(s.pc[0], 2), r=(s.r[0], wm.load(s, 1, "x")))

    @m.invariant
    def no_stale_message(s: MP) -> bool:
        """CPU 1 never sees the flag y without the data x."""
        return s.r != (1, 0)

    m.terminal(lambda s: s.pc == (2, 2) and wm.quiet(s))
    wm.register(m)
    return m


@pytest.mark.parametrize(
    ("writer", "reader", "states", "trace"),
    [
        # As MP+poonceonces.litmus (50 states): y drains, is seen, x is not.
        ("plain", "plain", 50, 6),
        ("wmb", "plain", 42, 7),  # x drains first, but CPU 1's view of x lags
        ("plain", "rmb", 50, 6),  # views fresh after reading y, but x never drained
        ("wmb", "rmb", 39, None),  # MP+fencewmbonceonce+fencermbonceonce: Never
        ("wmb", "dep", 40, None),  # an address dependency orders the reads
        ("plain", "dep", 50, 6),  # ... but not the stores
        # As MP+pooncerelease+poacquireonce.litmus (39 states): Never.
        ("release", "acquire", 39, None),
        ("release", "plain", 42, 7),
    ],
)
def test_message_passing(
    writer: str, reader: str, states: int, trace: int | None
) -> None:
    result = check(mp(writer, reader), por=False, keep_going=True)
    assert result.distinct_states == states
    if trace is None:
        assert result.verdict.exit_code == 0
    else:
        assert [v.property for v in result.violations] == ["no_stale_message"]
        assert result.violations[0].trace is not None
        assert len(result.violations[0].trace) == trace


def test_drains_and_refreshes_are_never_self_loops() -> None:
    for writer, reader in [("plain", "plain"), ("wmb", "rmb"), ("release", "acquire")]:
        g = state_graph(mp(writer, reader))
        assert nx.number_of_selfloops(g) == 0
        full = check(mp(writer, reader), por=False, keep_going=True)
        assert g.number_of_nodes() == full.distinct_states


def test_the_stale_read_trace_shows_each_drain_and_refresh() -> None:
    result = check(mp("wmb", "plain"), por=False)
    trace = result.violations[0].trace
    assert trace is not None
    assert [step.label() for step in trace.steps] == [
        "write_x",
        "write_y",
        "drain(cpu=0, loc='x')",
        "drain(cpu=0, loc='y')",
        "refresh(cpu=1, loc='y')",
        "read_y",
        "read_x",
    ]
    assert repr(trace.steps[1].state.sb[0]) == "[x=1 | y=1]"
    assert repr(trace.steps[3].state.mem[1]) == "y=1 (views 1 0)"


def test_footprints_of_the_memory_steps_pass_the_audit() -> None:
    assert check(mp("plain", "plain"), audit=True).violations[0].property == (
        "no_stale_message"
    )
    assert check(mp("wmb", "rmb"), audit=True).verdict.exit_code == 0


class Two(Record):
    """Two CPUs, each storing to its own location; properties read only pc."""

    pc: tuple[int, int]
    mem: tuple[Cell, ...]
    sb: tuple[Buffer, ...]


def independent() -> Model[Two]:
    wm = WeakMemory(cpus=2, locations={"a": 0, "b": 0})
    m = Model("two", init=Two(pc=(0, 0), mem=wm.cells, sb=wm.buffers))

    @m.step(
        when=lambda s, c: s.pc[c] == 0,
        over=range(2),
        reads={"pc[c]", "sb[c]"},
        writes={"pc[c]", "sb[c]"},
    )
    def write(s: Two, c: int) -> Two:
        return s.replace(pc=set_at(s.pc, c, 1), **wm.store(s, c, c, 1))

    @m.invariant(reads={"pc"})
    def bounded(s: Two) -> bool:
        """Program counters stay within the program."""
        return max(s.pc) <= 1

    m.terminal(lambda s: True)
    wm.register(m)
    return m


def test_partial_order_reduction_cuts_independent_drains_and_refreshes() -> None:
    full = check(independent(), por=False)
    reduced = check(independent())
    assert full.verdict.exit_code == reduced.verdict.exit_code == 0
    # Per CPU: not stored; buffered; drained (own view 1, other 0); seen by both.
    assert full.distinct_states == 4 * 4
    assert reduced.distinct_states == 9


class Counter(Record):
    pc: tuple[int, int]
    tmp: tuple[int, int]
    mem: tuple[Cell, ...]
    sb: tuple[Buffer, ...]


def increments(atomic: bool) -> Model[Counter]:
    """Two CPUs add one to x: with a fully ordered RMW, or a load then a store."""
    wm = WeakMemory(cpus=2, locations={"x": 0})
    m = Model("inc", init=Counter(pc=(0, 0), tmp=(0, 0), mem=wm.cells, sb=wm.buffers))

    @m.step(
        when=lambda s, c: s.pc[c] == 0 and (not atomic or wm.empty(s, c)), over=range(2)
    )
    def first(s: Counter, c: int) -> Counter:
        if atomic:
            _, updates = wm.rmw(s, c, "x", lambda v: v + 1)  # type: ignore[operator]
            return s.replace(pc=set_at(s.pc, c, 2), **updates)
        value = wm.load(s, c, "x")
        assert isinstance(value, int)
        return s.replace(pc=set_at(s.pc, c, 1), tmp=set_at(s.tmp, c, value))

    @m.step(when=lambda s, c: s.pc[c] == 1, over=range(2))
    def second(s: Counter, c: int) -> Counter:
        return s.replace(pc=set_at(s.pc, c, 2), **wm.store(s, c, "x", s.tmp[c] + 1))

    @m.invariant
    def no_lost_update(s: Counter) -> bool:
        """Once both are done and the buffers drained, x is 2."""
        return not (s.pc == (2, 2) and wm.quiet(s)) or wm.value(s, "x") == 2

    m.terminal(lambda s: True)
    wm.register(m)
    return m


def test_rmw_is_atomic_on_memory_and_load_store_is_not() -> None:
    atomic = check(increments(True), por=False)
    assert atomic.verdict.exit_code == 0
    assert atomic.distinct_states == 8
    split = check(increments(False), por=False, keep_going=True)
    assert [v.property for v in split.violations] == ["no_lost_update"]
    assert split.violations[0].trace is not None
    assert len(split.violations[0].trace) == 6


def test_own_store_is_read_back_before_and_after_it_drains() -> None:
    wm = WeakMemory(cpus=2, locations={"x": 0})
    s = MP(pc=(0, 0), r=(0, 0), mem=wm.cells, sb=wm.buffers)
    s = s.replace(**wm.store(s, 0, "x", 1))
    assert (wm.load(s, 0, "x"), wm.load(s, 1, "x"), wm.value(s, "x")) == (1, 0, 0)
    s = s.replace(**wm.drain(s, 0, wm.loc("x")))
    assert (wm.load(s, 0, "x"), wm.load(s, 1, "x"), wm.value(s, "x")) == (1, 0, 1)
    assert (wm.stale(s, 0, wm.loc("x")), wm.stale(s, 1, wm.loc("x"))) == (False, True)


def test_stores_to_one_location_drain_in_order_and_epochs_in_order() -> None:
    wm = WeakMemory(cpus=1, locations={"x": 0, "y": 0})
    s = MP(pc=(0, 0), r=(0, 0), mem=wm.cells, sb=wm.buffers)
    s = s.replace(**wm.store(s, 0, "x", 1))
    s = s.replace(**wm.store(s, 0, "y", 1))
    s = s.replace(**wm.store(s, 0, "x", 2))
    s = s.replace(**wm.wmb(s, 0))
    assert wm.wmb(s, 0) == {}  # a second barrier changes nothing
    s = s.replace(**wm.store(s, 0, "y", 2))
    assert repr(s.sb[0]) == "[x=1 y=1 x=2 | y=2]"
    x, y = wm.loc("x"), wm.loc("y")
    assert (wm.drainable(s, 0, x), wm.drainable(s, 0, y)) == (True, True)
    s = s.replace(**wm.drain(s, 0, y))
    assert repr(s.sb[0]) == "[x=1 x=2 | y=2]"
    assert not wm.drainable(s, 0, y)  # y=2 waits for the older epoch
    s = s.replace(**wm.drain(s, 0, x))
    assert (repr(s.sb[0]), wm.value(s, "x")) == ("[x=2 | y=2]", 1)
    s = s.replace(**wm.drain(s, 0, x))
    s = s.replace(**wm.drain(s, 0, y))
    assert (s.sb[0], wm.value(s, "x"), wm.value(s, "y")) == (Buffer(()), 2, 2)


def test_mb_and_rmw_need_an_empty_buffer() -> None:
    wm = WeakMemory(cpus=1, locations={"x": 0})
    s = MP(pc=(0, 0), r=(0, 0), mem=wm.cells, sb=wm.buffers)
    s = s.replace(**wm.store(s, 0, "x", 1))
    with pytest.raises(ModelError) as err:
        wm.mb(s, 0)
    assert str(err.value) == (
        "smp_mb() on CPU 0 with stores still buffered; guard the step with "
        "WeakMemory.empty(s, 0)"
    )
    with pytest.raises(ModelError, match="read-modify-write on CPU 0"):
        wm.rmw(s, 0, "x", lambda v: v)
    with pytest.raises(ModelError) as err:
        wm.load(s, 0, "z")
    assert str(err.value) == "`z` is not a weak location; the weak locations are x"


def test_values_are_immutable_hashable_and_saveable() -> None:
    x = Loc(0, "x")
    cell = Cell("x", 1, (1, 0))
    buf = Buffer((((x, 1),), ((x, 2),)))
    for value in (x, cell, buf):
        copy = pickle.loads(pickle.dumps(value))
        assert (copy, hash(copy), repr(copy)) == (value, hash(value), repr(value))
    assert encode((cell, buf)) == [["x", 1, [1, 0]], [[[0, 1]], [[0, 2]]]]
    with pytest.raises(AttributeError):
        cell.value = 2  # type: ignore[misc]
