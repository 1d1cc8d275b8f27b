"""Partial-order reduction: exact reductions, each condition shown necessary, the
proviso in both orders, deadlocks kept, --shortest, and when reduction stays off."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

import klpcheck.reduce.por
from klpcheck import Model, ModelError, Verdict, check, render_text
from tests import por_models

ORDERS = ["bfs", "dfs"]


def _found(model: Model[Any], **options: Any) -> list[str]:
    r = check(model, keep_going=True, **options)
    return sorted(v.property for v in r.violations)


# -- pinned reductions ---------------------------------------------------------------


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize(("n", "k"), [(2, 3), (3, 3), (3, 4), (4, 3), (5, 4), (6, 5)])
def test_independent_processes_shrink_from_k_to_the_n_to_a_line(
    order: str, n: int, k: int
) -> None:
    model = por_models.independent(n, k)
    full = check(model, order=order, por=False, incremental=False)
    reduced = check(model, order=order)
    assert (full.distinct_states, full.transitions) == (
        k**n,
        n * (k - 1) * k ** (n - 1),
    )
    assert (reduced.distinct_states, reduced.transitions) == (
        n * (k - 1) + 1,
        n * (k - 1),
    )
    assert reduced.holds
    assert reduced.reduction.used
    assert reduced.reduction.reduced == n * (k - 1) - (k - 1)  # the last process alone


@pytest.mark.parametrize("order", ORDERS)
def test_pure_cycles_keep_every_state_but_few_transitions(order: str) -> None:
    """The cycle proviso: every state of independent cycles stays reachable (a cycle of
    the reduced graph needs a fully expanded state), only transitions shrink."""
    reduced = check(por_models.independent(5, 4, cyclic=True), order=order)
    assert (reduced.distinct_states, reduced.transitions) == (1024, 1028)
    assert (
        check(por_models.independent(5, 4, cyclic=True), por=False).transitions == 5120
    )


@pytest.mark.parametrize(
    ("n", "order", "states", "transitions"),
    [
        (3, "bfs", 56, 84),
        (5, "bfs", 352, 640),
        (7, "bfs", 1920, 4032),  # SPIN 6.5.2 -DBFS keeps 1,920 of 187,500 as well
        (3, "dfs", 41, 62),
        (5, "dfs", 205, 382),
        (7, "dfs", 957, 2046),  # SPIN's depth-first search (stack proviso) keeps 957
    ],
)
def test_lock_model_reduction_is_pinned(
    n: int, order: str, states: int, transitions: int
) -> None:
    r = check(por_models.lock(n), order=order)
    assert (r.verdict, r.distinct_states, r.transitions) == (
        Verdict.HOLDS,
        states,
        transitions,
    )


def test_lock_model_full_search_has_the_published_counts() -> None:
    r = check(por_models.lock(5), por=False)
    assert (r.distinct_states, r.transitions) == (6250, 28750)


def test_an_invariant_reading_every_pc_makes_every_step_visible() -> None:
    r = check(por_models.lock(4, invariant=True))
    assert r.distinct_states == check(por_models.lock(4), por=False).distinct_states
    assert r.reduction.used
    assert r.reduction.reduced == 0
    assert r.reduction.summary() == (
        "partial-order reduction cut nothing: 12 of 12 steps write what invariant "
        "mutual_exclusion reads"
    )


def test_when_nothing_was_cut_traces_are_called_shortest() -> None:
    model = por_models.lock(3, invariant=True)

    @model.invariant(reads={"pc"})
    def nobody_at_3(s: por_models.Lock) -> bool:
        """No process reaches pc 3."""
        return 3 not in s.pc

    r = check(model)
    assert (r.reduction.used, r.reduction.reduced) == (True, 0)
    assert [len(v.trace or ()) for v in r.violations] == [3]
    text = render_text(r)
    assert "(breadth-first: each trace is a shortest one)" in text
    assert "reduced state graph" not in text


# -- each condition is needed: the correct reducer finds it, a broken one does not ----


def _break(monkeypatch: pytest.MonkeyPatch, condition: str) -> None:
    if condition == "C1 dependency":
        original = klpcheck.reduce.por.Reducer.__init__

        def only_self(
            self: klpcheck.reduce.por.Reducer, instances: Any, *rest: Any
        ) -> None:
            original(self, instances, *rest)
            self.dependent = [(a,) for a in range(len(instances))]

        monkeypatch.setattr(klpcheck.reduce.por.Reducer, "__init__", only_self)
    elif condition == "C1 enabling":
        monkeypatch.setattr(klpcheck.reduce.por.Reducer, "_nes", lambda self, a, s: ())
    elif condition == "C2":
        monkeypatch.setattr(
            klpcheck.reduce.por.Reducer, "watch", lambda self, props: None
        )
        original = klpcheck.reduce.por.Reducer.__init__

        def blind(
            self: klpcheck.reduce.por.Reducer, instances: Any, *rest: Any
        ) -> None:
            original(self, instances, *rest)
            self.visible = [False] * len(instances)
            self.visible_list = ()

        monkeypatch.setattr(klpcheck.reduce.por.Reducer, "__init__", blind)
    else:
        monkeypatch.setattr(klpcheck.reduce.por, "c3_proviso", lambda *args: False)


CASES = [
    ("C1 dependency", por_models.conflict, ["z_is_zero"]),
    ("C1 enabling", por_models.enabling, []),
    ("C2", por_models.visibility, ["x_not_behind"]),
    ("C3", por_models.ignoring, ["y_is_zero"]),
]


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize(("condition", "build", "violated"), CASES)
def test_reduction_finds_what_full_search_finds_on_the_textbook_cases(
    condition: str, build: Any, violated: list[str], order: str
) -> None:
    assert _found(build(), order=order, por=False, incremental=False) == violated
    assert _found(build(), order=order) == violated


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize(("condition", "build", "violated"), CASES)
def test_dropping_a_condition_makes_the_reduction_unsound(
    monkeypatch: pytest.MonkeyPatch,
    condition: str,
    build: Any,
    violated: list[str],
    order: str,
) -> None:
    _break(monkeypatch, condition)
    broken = check(build(), order=order, keep_going=True)
    expected = ["x_is_two"] if condition == "C1 enabling" else []
    assert sorted(v.property for v in broken.violations) == expected != violated


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("n", [2, 3, 4, 5])
def test_deadlocks_of_the_dining_philosophers_are_kept(order: str, n: int) -> None:
    r = check(por_models.philosophers(n), order=order)
    assert [v.property for v in r.violations] == ["deadlock"]
    trace = r.violations[0].trace
    assert trace is not None
    assert all(pc == 1 for pc in trace.last.pc)


# -- traces --------------------------------------------------------------------------


def test_breadth_first_traces_are_shortest_in_the_reduced_graph_only() -> None:
    reduced = check(por_models.detour(3))
    (v,) = reduced.violations
    assert v.trace is not None
    assert len(v.trace) == 4
    assert "shortest in the reduced state graph" in render_text(reduced)


def test_shortest_re_finds_each_trace_without_reduction() -> None:
    r = check(por_models.detour(3), shortest=True)
    (v,) = r.violations
    assert v.trace is not None
    assert [s.step for s in v.trace.steps] == ["set_y"]
    assert r.reduction.used
    assert "each trace is a shortest one" in render_text(r)
    assert any("--shortest" in n for n in r.notes)


def test_shortest_keeps_every_violation_of_a_continued_search() -> None:
    r = check(por_models.philosophers(3), shortest=True, keep_going=True)
    assert [(v.property, len(v.trace or ())) for v in r.violations] == [("deadlock", 3)]


# -- when reduction stays off -----------------------------------------------------------


def test_reduction_is_off_without_footprints() -> None:
    m = Model("bare", init=por_models.XY())
    m.step(lambda s: replace(s, x=1))
    r = check(m)
    assert not r.reduction.used
    assert r.reduction.reason == "no step declares reads= or writes="


def test_reduction_is_off_for_states_without_named_fields() -> None:
    m = Model("tuple", init=(0, 0))
    m.step(reads={"a"}, writes={"a"})(lambda s: s)
    assert "no named fields" in check(m).reduction.reason


def test_reduction_is_off_when_every_pair_of_steps_is_dependent() -> None:
    r = check(por_models.lock(1))
    assert "every pair of steps may be dependent" in r.reduction.reason


def test_por_false_turns_it_off() -> None:
    r = check(por_models.lock(3), por=False)
    assert (r.reduction.used, r.distinct_states) == (False, 200)


def test_a_guard_reading_outside_its_footprint_is_a_model_error() -> None:
    m = Model("liar", init=por_models.XY())

    @m.step(when=lambda s: s.x == 0, reads={"x"}, writes={"x"})
    def set_x(s: por_models.XY) -> por_models.XY:
        return replace(s, x=1)

    @m.step(when=lambda s: s.y == 0 and s.x == 1, reads={"y"}, writes={"y"})
    def set_y(s: por_models.XY) -> por_models.XY:
        return replace(s, y=1)

    @m.step(when=lambda s: s.z == 0, reads={"z"}, writes={"y", "z"})
    def reset_y(s: por_models.XY) -> por_models.XY:
        return replace(s, y=0, z=1)

    # The necessary enabling set of the disabled set_y would be computed from what its
    # guard read; that includes x, which set_y does not declare. Its code shows it, so
    # the search does not start.
    with pytest.raises(
        ModelError,
        match=r"guard of step set_y reads x \(its code names it\).*reads=\{'y'\}",
    ):
        check(m)


def test_a_read_narrower_in_the_code_than_seen_is_caught_while_reducing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The code names stack[t] (then [-1], an index counted from the end): that
    # overlaps the declared stack[t][0], so the check before the search passes; what
    # the guard reads when it runs is stack[t] whole, which the declaration does not
    # cover. The reduction widens the declared reads by what the code shows, stack[t]:
    m = por_models.nested_stacks(lambda s, t: s.stack[t][-1] == 0, "stack[t]")
    full = check(m, deadlock=False, por=False, incremental=False)
    assert _found(m, deadlock=False) == _found(m, deadlock=False, por=False)
    assert full.verdict.value == "violated"
    # Where the code could not be read, what the guard reads as it runs is checked.
    monkeypatch.setattr(klpcheck.reduce.por, "provable_fields", lambda t: None)
    with pytest.raises(ModelError) as err:
        check(m, deadlock=False)
    assert str(err.value) == (
        "the guard of step finish(t=0) read stack[0], but the step declares "
        "reads={stack[t][0]} (writes count as reads too); in state "
        "Nested(stack=((0, 1), (0, 1)), done=(0, 0)). Partial-order reduction trusts "
        "footprints, so an undeclared read can hide a violation: add 'stack[0]' (or its "
        "field) to reads=, or run with --no-por"
    )


# -- found by the random suite ---------------------------------------------------------


@pytest.mark.parametrize("por", [False, True])
@pytest.mark.parametrize("order", ORDERS)
def test_two_invariants_broken_in_the_same_state_are_both_reported_there(
    order: str, por: bool
) -> None:
    """Continuing past the first violation must not skip the next invariant of the same
    state; the full search hid this by meeting the second one again one step later."""
    m = Model("both", init=por_models.XY())

    @m.step(when=lambda s: s.z < 2, reads={"z"}, writes={"z"})
    def count_z(s: por_models.XY) -> por_models.XY:
        return replace(s, z=s.z + 1)

    @m.invariant(reads={"x"})
    def x_is_one(s: por_models.XY) -> bool:
        return s.x == 1

    @m.invariant(reads={"y"})
    def y_is_one(s: por_models.XY) -> bool:
        return s.y == 1

    r = check(m, order=order, por=por, keep_going=True, deadlock=False)
    assert [(v.property, len(v.trace or ())) for v in r.violations] == [
        ("x_is_one", 0),
        ("y_is_one", 0),
    ]
