"""Random litmus programs: the store-buffer model contains sequential consistency, and
with ``smp_mb()`` between every two statements it is exactly sequential consistency."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from klpcheck.model.litmus import (
    LitmusTest,
    Registers,
    _apply,
    _eval,
    build_model,
    parse_litmus,
)
from klpcheck.trace.graph import state_graph

Outcome = tuple[Hashable, ...]

STATEMENTS = st.sampled_from(
    [
        "WRITE_ONCE(*x, 1);",
        "WRITE_ONCE(*y, 1);",
        "WRITE_ONCE(*x, 2);",
        "r0 = READ_ONCE(*x);",
        "r1 = READ_ONCE(*y);",
        "r1 = READ_ONCE(*x);",
        "smp_store_release(y, 2);",
        "r0 = smp_load_acquire(y);",
        "r1 = xchg(x, 3);",
        "smp_wmb();",
        "smp_rmb();",
        "smp_mb();",
    ]
)
PROGRAMS = st.lists(
    st.lists(STATEMENTS, min_size=1, max_size=3), min_size=2, max_size=3
)


def _text(procs: list[list[str]], fenced: bool) -> str:
    out = ["C random", "", "{}", ""]
    for n, body in enumerate(procs):
        out.append(f"P{n}(int *x, int *y)\n{{\n\tint r0;\n\tint r1;")
        for i, stmt in enumerate(body):
            if fenced and i:
                out.append("\tsmp_mb();")
            out.append(f"\t{stmt}")
        out.append("}\n")
    out.append("exists (x=0)")
    return "\n".join(out)


def _weak_outcomes(test: LitmusTest) -> set[Outcome]:
    model = build_model(test)
    ends = tuple(len(ops) for ops in test.procs)
    out = set()
    for s in state_graph(model, max_states=100_000).nodes:
        if s.pc == ends and not any(s.sb):
            out.add((*s.regs, *(c.value for c in s.mem)))
    return out


def _sc_outcomes(test: LitmusTest) -> set[Outcome]:
    """Every interleaving of the statements, each atomic on one shared memory."""
    names = list(test.init)
    init_regs = tuple(Registers(tuple((r, 0) for r in regs)) for regs in test.regs)
    start = ((0,) * len(test.procs), init_regs, tuple(test.init[n] for n in names))
    seen = {start}
    todo = [start]
    out = set()
    while todo:
        pcs, regs, mem = todo.pop()
        done = True
        for p, ops in enumerate(test.procs):
            if pcs[p] == len(ops):
                continue
            done = False
            op = ops[pcs[p]]
            r, m = regs[p], list(mem)
            loc = names.index(op.addr[1]) if op.addr is not None else -1
            if op.kind in ("load", "acquire"):
                r = r.put(op.reg, m[loc]) if op.reg else r
            elif op.kind in ("store", "release"):
                m[loc] = _eval(op.args[0], r)
            elif op.kind == "rmw":
                old = m[loc]
                m[loc] = (
                    _eval(op.args[1], r)
                    if op.args[0] == "xchg"
                    else _apply(op.args[0], old, _eval(op.args[1], r))
                )
                r = r.put(op.reg, old) if op.reg else r
            nxt = (
                (*pcs[:p], pcs[p] + 1, *pcs[p + 1 :]),
                (*regs[:p], r, *regs[p + 1 :]),
                tuple(m),
            )
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
        if done:
            out.add((*regs, *mem))
    return out


def _normal(outcomes: set[Any]) -> set[Outcome]:
    return {tuple(tuple(v) if isinstance(v, tuple) else v for v in o) for o in outcomes}


@settings(max_examples=25, deadline=None)
@given(PROGRAMS)
def test_every_sc_outcome_is_a_store_buffer_outcome(procs: list[list[str]]) -> None:
    test = parse_litmus(_text(procs, fenced=False), "random")
    assert _normal(_sc_outcomes(test)) <= _normal(_weak_outcomes(test))


@settings(max_examples=25, deadline=None)
@given(PROGRAMS)
def test_full_barriers_everywhere_give_exactly_sc(procs: list[list[str]]) -> None:
    test = parse_litmus(_text(procs, fenced=True), "random")
    assert _normal(_weak_outcomes(test)) == _normal(_sc_outcomes(test))


def test_store_buffering_is_the_one_extra_outcome_of_sb() -> None:
    procs = [
        ["WRITE_ONCE(*x, 1);", "r0 = READ_ONCE(*y);"],
        ["WRITE_ONCE(*y, 1);", "r0 = READ_ONCE(*x);"],
    ]
    test = parse_litmus(_text(procs, fenced=False), "sb")
    extra = _normal(_weak_outcomes(test)) - _normal(_sc_outcomes(test))
    # Both loads read 0 (registers of P0 and P1, then x and y in memory).
    assert extra == {((("r0", 0), ("r1", 0)), (("r0", 0), ("r1", 0)), 1, 1)}
    fenced = parse_litmus(_text(procs, fenced=True), "sb+mbs")
    assert len(_sc_outcomes(fenced)) == 3
    assert _normal(_weak_outcomes(fenced)) == _normal(_sc_outcomes(fenced))
