"""Random tiny models: the fair-SCC verdict against a brute-force search for lassos.

The oracle works from the definitions alone. A lasso's cycle is a closed walk; the set
of edges it uses is strongly connected, and any strongly connected set of edges is
walked, every edge of it, by some closed walk. Whether the behaviour is fair depends
only on which instances that walk takes and in which states it passes. So a violation
exists exactly when a state reachable from a trigger through states where the target
fails has no enabled step, or some strongly connected set of edges among those states
is fair: every weak instance it leaves untaken is disabled in one of its states, every
strong one in all of them. The oracle tries every set of edges.

A second oracle reaches bigger models (up to 7 states and 6 instances, of steps with no,
one or two parameters) by trying every set of states instead: among the closed walks
that pass in exactly the states V, one that takes every edge between them is the
fairest (it takes the most instances, and passes in the same states), and it exists
when those edges connect V strongly.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import combinations
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from klpcheck import Model, Verdict, check

# A random model: per step, its fairness and one table per instance (state -> successor).
Spec = tuple[
    int,  # states 0..n-1
    tuple[int, ...],  # initial states
    tuple[tuple[Any, tuple[dict[int, int], ...]], ...],  # steps: fairness, tables
    frozenset[int],  # p (the trigger of leads_to)
    frozenset[int],  # q (the target)
]


@st.composite
def specs(draw: st.DrawFn, max_states: int = 3) -> Spec:
    n = draw(st.integers(2, max_states))
    state = st.integers(0, n - 1)
    # Dense tables: each state has a successor with probability 2/3.
    cell = st.sampled_from([None, *range(n), *range(n)])
    table = st.lists(cell, min_size=n, max_size=n).map(
        lambda row: {s: t for s, t in enumerate(row) if t is not None}
    )
    fairness = st.sampled_from([None, False, True, "weak", "strong", "strong"])
    steps = draw(
        st.lists(
            st.tuples(fairness, st.lists(table, min_size=1, max_size=2).map(tuple)),
            min_size=1,
            max_size=3,
        )
    )
    kept, total = [], 0  # at most three instances: the oracle tries 2**edges sets
    for fair, tables in steps:
        tables = tables[: 3 - total]
        if tables:
            kept.append((fair, tables))
            total += len(tables)
    init = draw(st.sets(state, min_size=1, max_size=2).map(lambda s: tuple(sorted(s))))
    p = draw(st.frozensets(state))
    q = draw(st.frozensets(state, max_size=1))
    return n, init, tuple(kept), p, q


def build(spec: Spec) -> Model[int]:
    _n, init, steps, p, q = spec
    model: Model[int] = Model("random", init=list(init))
    for j, (fair, tables) in enumerate(steps):
        guard, effect = _step(f"s{j}", tables)
        model.step(when=guard, over=range(len(tables)), fair=fair)(effect)

    @model.leads_to(lambda s: s in q)
    def p_leads_to_q(s: int) -> bool:
        return s in p

    @model.eventually
    def eventually_q(s: int) -> bool:
        return s in q

    return model


def _step(
    name: str, tables: tuple[dict[int, int], ...]
) -> tuple[Callable[[int, int], bool], Callable[[int, int], int]]:
    def guard(s: int, i: int) -> bool:
        return s in tables[i]

    def effect(s: int, i: int) -> int:
        return tables[i][s]

    effect.__name__ = name
    return guard, effect


# -- the oracle --------------------------------------------------------------------------


def _kind(fair: Any) -> str | None:
    return "weak" if fair is True else (fair or None)


def oracle(spec: Spec, prop: str) -> bool:
    """True when some fair behaviour violates ``prop``, by trying every edge set."""
    _n, init, steps, p, q = spec
    instances = [
        (j, i, _kind(fair), table)
        for j, (fair, tables) in enumerate(steps)
        for i, table in enumerate(tables)
    ]
    reach, todo = set(init), list(init)
    while todo:
        s = todo.pop()
        for *_, table in instances:
            if s in table and table[s] not in reach:
                reach.add(table[s])
                todo.append(table[s])
    if prop == "eventually_q":
        triggers = {s for s in init if s not in q}
    else:
        triggers = {s for s in reach if s in p and s not in q}
    region, todo = set(triggers), list(triggers)
    while todo:
        s = todo.pop()
        for *_, table in instances:
            t = table.get(s)
            if t is not None and t not in q and t not in region:
                region.add(t)
                todo.append(t)
    if any(not any(s in table for *_, table in instances) for s in region):
        return True
    edges = [
        (s, k, table[s])
        for k, (*_, table) in enumerate(instances)
        for s in region
        if s in table and table[s] in region
    ]
    for size in range(1, len(edges) + 1):
        for chosen in combinations(edges, size):
            if _connected(chosen) and _fair(chosen, instances):
                return True
    return False


def _connected(edges: tuple[tuple[int, int, int], ...]) -> bool:
    nodes = {a for a, _, _ in edges} | {b for _, _, b in edges}
    start = next(iter(nodes))
    for direction in (0, 1):
        seen, todo = {start}, [start]
        while todo:
            v = todo.pop()
            for e in edges:
                a, b = (e[0], e[2]) if direction == 0 else (e[2], e[0])
                if a == v and b not in seen:
                    seen.add(b)
                    todo.append(b)
        if seen != nodes:
            return False
    return True


def _fair(edges: tuple[tuple[int, int, int], ...], instances: list[Any]) -> bool:
    visited = {a for a, _, _ in edges}
    taken = {k for _, k, _ in edges}
    for k, (_, _, kind, table) in enumerate(instances):
        if kind is None or k in taken:
            continue
        on = [s in table for s in visited]
        if kind == "weak" and all(on):
            return False
        if kind == "strong" and any(on):
            return False
    return True


def region_of(
    init: tuple[int, ...],
    tables: list[dict[int, int]],
    p: frozenset[int],
    q: frozenset[int],
    prop: str,
) -> set[int]:
    """The states reachable from a trigger of ``prop`` through states outside q."""
    reach, todo = set(init), list(init)
    while todo:
        s = todo.pop()
        for table in tables:
            if s in table and table[s] not in reach:
                reach.add(table[s])
                todo.append(table[s])
    if prop == "eventually_q":
        triggers = {s for s in init if s not in q}
    else:
        triggers = {s for s in reach if s in p and s not in q}
    region, todo = set(triggers), list(triggers)
    while todo:
        s = todo.pop()
        for table in tables:
            t = table.get(s)
            if t is not None and t not in q and t not in region:
                region.add(t)
                todo.append(t)
    return region


def subset_oracle(
    init: tuple[int, ...],
    instances: list[tuple[str | None, dict[int, int]]],
    p: frozenset[int],
    q: frozenset[int],
    prop: str,
) -> bool:
    """True when some fair behaviour violates ``prop``, by trying every set of states
    (each instance given as its fairness and its table)."""
    tables = [table for _, table in instances]
    region = sorted(region_of(init, tables, p, q, prop))
    if any(not any(s in table for table in tables) for s in region):
        return True
    for size in range(1, len(region) + 1):
        for chosen in combinations(region, size):
            states = set(chosen)
            edges = tuple(
                (s, k, table[s])
                for k, table in enumerate(tables)
                for s in states
                if s in table and table[s] in states
            )
            if not edges or not _connected(edges):
                continue
            if {a for a, _, _ in edges} | {b for _, _, b in edges} != states:
                continue
            taken = {k for _, k, _ in edges}
            if all(
                kind is None
                or k in taken
                or not (
                    all(s in table for s in states)
                    if kind == "weak"
                    else any(s in table for s in states)
                )
                for k, (kind, table) in enumerate(instances)
            ):
                return True
    return False


# A bigger random model: per step, its fairness, its number of parameters (0, 1 or 2)
# and one table per instance.
BigSpec = tuple[
    int,
    tuple[int, ...],
    tuple[tuple[Any, int, tuple[dict[int, int], ...]], ...],
    frozenset[int],
    frozenset[int],
]


@st.composite
def big_specs(draw: st.DrawFn, max_states: int = 7, max_instances: int = 6) -> BigSpec:
    n = draw(st.integers(3, max_states))
    state = st.integers(0, n - 1)
    # Sparser tables than specs(): bigger cycles, and states where a step is disabled.
    cell = st.sampled_from([None, None, *range(n)])
    table = st.lists(cell, min_size=n, max_size=n).map(
        lambda row: {s: t for s, t in enumerate(row) if t is not None}
    )
    fairness = st.sampled_from([None, True, "weak", "strong", "strong"])
    steps, total = [], 0
    for _ in range(draw(st.integers(1, 4))):
        if total == max_instances:
            break
        arity = draw(st.integers(0, 2))
        count = 1 if arity == 0 else draw(st.integers(1, max_instances - total))
        tables = tuple(draw(table) for _ in range(count))
        steps.append((draw(fairness), arity, tables))
        total += count
    init = draw(st.sets(state, min_size=1, max_size=3).map(lambda s: tuple(sorted(s))))
    return n, init, tuple(steps), draw(st.frozensets(state)), draw(st.frozensets(state))


def build_big(spec: BigSpec) -> Model[int]:
    _n, init, steps, p, q = spec
    model: Model[int] = Model("random_big", init=list(init))
    for j, (fair, arity, tables) in enumerate(steps):
        name = f"s{j}"
        if arity == 0:
            (only,) = tables
            guard0, effect0 = _step0(name, only)
            model.step(when=guard0, fair=fair)(effect0)
        elif arity == 1:
            guard, effect = _step(name, tables)
            model.step(when=guard, over=range(len(tables)), fair=fair)(effect)
        else:
            guard2, effect2 = _step2(name, tables)
            pairs = [(i, 10 * i) for i in range(len(tables))]
            model.step(when=guard2, over=pairs, fair=fair)(effect2)

    @model.leads_to(lambda s: s in q)
    def p_leads_to_q(s: int) -> bool:
        return s in p

    @model.eventually
    def eventually_q(s: int) -> bool:
        return s in q

    return model


def _step0(
    name: str, table: dict[int, int]
) -> tuple[Callable[[int], bool], Callable[[int], int]]:
    def guard(s: int) -> bool:
        return s in table

    def effect(s: int) -> int:
        return table[s]

    effect.__name__ = name
    return guard, effect


def _step2(
    name: str, tables: tuple[dict[int, int], ...]
) -> tuple[Callable[[int, int, int], bool], Callable[[int, int, int], int]]:
    def guard(s: int, i: int, ten_i: int) -> bool:
        assert ten_i == 10 * i
        return s in tables[i]

    def effect(s: int, i: int, ten_i: int) -> int:
        return tables[i][s]

    effect.__name__ = name
    return guard, effect


def _compare_big(spec: BigSpec) -> None:
    _n, init, steps, p, q = spec
    model = build_big(spec)
    result = check(model, keep_going=True, deadlock=False)
    assert result.verdict is not Verdict.INCOMPLETE
    instances = [
        (_kind(fair), table) for fair, _arity, tables in steps for table in tables
    ]
    for prop in ("p_leads_to_q", "eventually_q"):
        expected = subset_oracle(init, instances, p, q, prop)
        assert (result.violation(prop) is not None) == expected, prop
        if expected:
            check_lasso((0, init, (), p, q), model, prop, result)


# -- an independent look at the lasso shown -------------------------------------------------


def check_lasso(spec: Spec, model: Model[int], prop: str, result: Any) -> None:
    """The trace is made of enabled steps, the target fails from the trigger on, and
    the cycle closes and is fair (or the trace ends where nothing is enabled)."""
    _, init, _, p, q = spec
    v = result.violation(prop)
    states = v.trace.states
    assert states[0] in init
    by_label = {inst.label(): inst for inst in model.instances()}
    fired = []
    for s, step, t in zip(states, v.trace.steps, states[1:], strict=False):
        inst = by_label[step.label()]
        assert inst.step.guard is not None
        assert inst.step.guard(s, *inst.args)
        assert inst.step.effect(s, *inst.args) == t
        fired.append(inst)
    lasso = v.lasso
    assert all(s not in q for s in states[lasso.trigger :])
    if prop == "p_leads_to_q":
        assert states[lasso.trigger] in p
    else:
        assert lasso.trigger == 0
    if lasso.cycle_start is None:
        last = states[-1]
        assert not any(
            inst.step.guard is not None and inst.step.guard(last, *inst.args)
            for inst in model.instances()
        )
        return
    c = lasso.cycle_start
    assert states[c] == states[-1]
    assert len(states) - 1 > c
    cycle_states, cycle_fired = states[c:-1], fired[c:]
    for inst in model.instances():
        if inst.step.fair is None or inst in cycle_fired:
            continue
        on = [inst.step.guard(s, *inst.args) for s in cycle_states]  # type: ignore[misc]
        assert not (inst.step.fair == "weak" and all(on)), inst.label()
        assert not (inst.step.fair == "strong" and any(on)), inst.label()


def _compare(spec: Spec) -> None:
    model = build(spec)
    result = check(model, keep_going=True, deadlock=False)
    assert result.verdict is not Verdict.INCOMPLETE
    for prop in ("p_leads_to_q", "eventually_q"):
        expected = oracle(spec, prop)
        assert (result.violation(prop) is not None) == expected, prop
        if expected:
            check_lasso(spec, model, prop, result)


# Two shapes the random draws rarely hit. A weak instance enabled in only one state of
# a cycle that never takes it (the cycle is fair). A strong instance enabled in one state
# of the only cycle: removing that state leaves an edge but no cycle (the model holds).
INTERMITTENT_WEAK: Spec = (
    3,
    (0,),
    ((None, ({0: 1, 1: 0},)), ("weak", ({0: 2},))),
    frozenset({0}),
    frozenset({2}),
)
STRONG_LEAVES_NO_CYCLE: Spec = (
    4,
    (0,),
    ((None, ({0: 1, 1: 2, 2: 0},)), ("strong", ({1: 3},)), (None, ({3: 3},))),
    frozenset({0}),
    frozenset({3}),
)


@example(INTERMITTENT_WEAK)
@example(STRONG_LEAVES_NO_CYCLE)
@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
)
@given(specs())
def test_fair_scc_verdicts_match_brute_force(spec: Spec) -> None:
    _compare(spec)


@pytest.mark.slow
@settings(
    max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(specs(max_states=4))
def test_fair_scc_verdicts_match_brute_force_many(spec: Spec) -> None:
    _compare(spec)


# Strong fairness pruned twice. In the component {0, 1, 2, 3}, strong x (enabled in 1)
# is never taken inside: drop 1. Strong y was taken inside on 1 -> 2; in what is left,
# the component {2, 3}, it is enabled in 3 and never taken: drop 3, and no cycle is
# left. The model holds; judging y on the first component would report 2 -> 3 -> 2.
TWICE_PRUNED: BigSpec = (
    5,
    (0,),
    (
        (None, 1, ({0: 1, 2: 3, 3: 2},)),
        (None, 0, ({3: 0},)),
        ("strong", 1, ({1: 4}, {1: 2, 3: 4})),
    ),
    frozenset({0}),
    frozenset({4}),
)


def test_strong_fairness_is_judged_again_after_each_pruning() -> None:
    result = check(build_big(TWICE_PRUNED), keep_going=True, deadlock=False)
    assert (result.verdict, result.distinct_states) == (Verdict.HOLDS, 5)


# Weak fairness judged again after a strong pruning. Weak w (enabled in 0 and 1) is
# disabled in 2, so the component {0, 1, 2} looks fair to it; but strong x, enabled in 2
# and never taken inside, drops 2, and on {0, 1} w is enabled throughout and never
# taken: the model holds. Without fairness on w, 0 -> 1 -> 0 is a fair violation.
WEAK_AFTER_STRONG: BigSpec = (
    4,
    (0,),
    (
        (None, 1, ({0: 1, 1: 0}, {0: 2, 2: 0})),
        ("weak", 0, ({0: 3, 1: 3},)),
        ("strong", 0, ({2: 3},)),
    ),
    frozenset({0}),
    frozenset({3}),
)


def test_weak_fairness_is_judged_again_after_a_strong_pruning() -> None:
    result = check(build_big(WEAK_AFTER_STRONG), keep_going=True, deadlock=False)
    assert (result.verdict, result.distinct_states) == (Verdict.HOLDS, 4)
    n, init, (loops, (_, _, w), x), p, q = WEAK_AFTER_STRONG
    unfair_w: BigSpec = (n, init, (loops, (None, 0, w), x), p, q)
    result = check(build_big(unfair_w), keep_going=True, deadlock=False)
    lassos = {
        v.property: [step.label() for step in v.trace.steps]
        for v in result.violations
        if v.trace is not None
    }
    assert lassos == {
        "p_leads_to_q": ["s0(i=0)", "s0(i=0)"],
        "eventually_q": ["s0(i=0)", "s0(i=0)"],
    }


@example(WEAK_AFTER_STRONG)
@example(TWICE_PRUNED)
@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
)
@given(big_specs())
def test_bigger_models_match_the_state_set_oracle(spec: BigSpec) -> None:
    _compare_big(spec)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
)
@given(specs())
def test_the_two_oracles_agree(spec: Spec) -> None:
    _n, init, steps, p, q = spec
    instances = [(_kind(fair), table) for fair, tables in steps for table in tables]
    for prop in ("p_leads_to_q", "eventually_q"):
        assert subset_oracle(init, instances, p, q, prop) == oracle(spec, prop)


@pytest.mark.slow
@settings(
    max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(big_specs(max_states=9, max_instances=8))
def test_bigger_models_match_the_state_set_oracle_many(spec: BigSpec) -> None:
    _compare_big(spec)
