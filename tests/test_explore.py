"""The explorer's outcomes on models whose answers are known by hand."""

from __future__ import annotations

import pytest

from klpcheck import Model, Verdict, check
from tests.toy_models import chain, counters, flag_race, pair_target


@pytest.mark.parametrize(("n", "k"), [(1, 5), (2, 3), (3, 4)])
@pytest.mark.parametrize("order", ["bfs", "dfs"])
def test_independent_counters_have_k_to_the_n_states(
    n: int, k: int, order: str
) -> None:
    r = check(counters(n, k), order=order)
    assert r.verdict is Verdict.HOLDS
    assert r.distinct_states == k**n
    assert r.transitions == n * k**n
    assert r.step_stats["tick"].fired == n * k**n
    assert r.step_stats["tick"].new_states == k**n - 1


def test_bfs_depth_is_the_longest_shortest_distance() -> None:
    assert check(counters(3, 4)).max_depth == 9


def test_bfs_finds_the_shortest_counterexample() -> None:
    r = check(flag_race())
    assert r.verdict is Verdict.VIOLATED
    (v,) = r.violations
    assert (v.property, v.kind) == ("mutual_exclusion", "invariant")
    assert v.doc == "At most one task is in its critical section."
    assert v.trace is not None
    assert [s.label() for s in v.trace.steps] == [
        "observe(t=0)",
        "observe(t=1)",
        "claim(t=0)",
        "claim(t=1)",
    ]


def test_keep_going_explores_everything() -> None:
    r = check(flag_race(), keep_going=True)
    assert r.verdict is Verdict.VIOLATED
    assert r.distinct_states == 9
    assert [len(v.trace or ()) for v in r.violations] == [4]


def test_dfs_finds_a_violation_no_shorter_than_bfs() -> None:
    bfs = check(flag_race()).violations[0].trace
    dfs = check(flag_race(), order="dfs").violations[0].trace
    assert bfs is not None
    assert dfs is not None
    assert len(dfs) >= len(bfs)
    assert not check(flag_race(), order="dfs", keep_going=True).holds


def test_trace_states_replay_from_the_initial_state() -> None:
    trace = check(flag_race()).violations[0].trace
    assert trace is not None
    assert trace.states[0] == flag_race().init[0]
    assert trace.last.pc[0].value == trace.last.pc[1].value == "critical"


@pytest.mark.parametrize("order", ["bfs", "dfs"])
def test_a_dead_end_is_a_deadlock(order: str) -> None:
    r = check(chain(3), order=order)
    assert r.verdict is Verdict.VIOLATED
    (v,) = r.violations
    assert (v.property, v.kind) == ("deadlock", "deadlock")
    assert v.trace is not None
    assert len(v.trace) == 3
    assert v.trace.last == 3


def test_terminal_states_and_no_deadlock_option_silence_deadlock() -> None:
    assert check(chain(3, terminal=True)).holds
    r = check(chain(3), deadlock=False)
    assert (r.verdict, r.distinct_states, r.max_depth) == (Verdict.HOLDS, 4, 3)


def test_an_unreached_target_fails_a_complete_search() -> None:
    r = check(pair_target(2, 3))
    assert r.verdict is Verdict.VIOLATED
    assert r.distinct_states == 9
    (v,) = r.violations
    assert (v.property, v.kind, v.trace) == ("both_at_target", "reachable", None)


def test_a_reached_target_gives_a_shortest_witness() -> None:
    r = check(pair_target(2, 2))
    assert r.holds
    assert len(r.witnesses["both_at_target"]) == 4


def test_an_unreached_target_in_an_incomplete_search_is_not_a_violation() -> None:
    r = check(pair_target(2, 3), max_states=4)
    assert r.verdict is Verdict.INCOMPLETE
    assert r.violations == ()


@pytest.mark.parametrize("order", ["bfs", "dfs"])
def test_state_bound_makes_the_search_incomplete(order: str) -> None:
    r = check(counters(3, 4), max_states=10, order=order)
    assert r.verdict is Verdict.INCOMPLETE
    assert r.distinct_states == 10
    assert r.incomplete_reason == "state bound of 10 reached"


@pytest.mark.parametrize("order", ["bfs", "dfs"])
def test_depth_bound_below_the_diameter_is_incomplete(order: str) -> None:
    r = check(counters(3, 4), max_depth=8, order=order)
    assert r.verdict is Verdict.INCOMPLETE
    assert r.incomplete_reason == "depth bound of 8 reached"


def test_depth_bound_at_the_diameter_is_complete() -> None:
    r = check(counters(3, 4), max_depth=9)
    assert (r.verdict, r.distinct_states) == (Verdict.HOLDS, 64)


def test_a_bound_at_exactly_the_state_count_is_complete() -> None:
    assert check(counters(2, 3), max_states=9).holds


def test_time_limit_makes_an_endless_search_incomplete() -> None:
    m = Model("endless", init=0)

    @m.step
    def grow(s: int) -> int:
        """Count up forever."""
        return s + 1

    r = check(m, time_limit=0.2)
    assert r.verdict is Verdict.INCOMPLETE
    assert r.incomplete_reason == "time limit of 0.2 s reached"
    assert r.distinct_states > 1000


def test_a_violation_found_before_a_bound_is_still_reported() -> None:
    r = check(flag_race(), max_states=100)
    assert r.verdict is Verdict.VIOLATED


def test_initial_states_are_checked_and_deduplicated() -> None:
    m = Model[int]("init", init=[1, 2, 1])

    @m.invariant
    def small(s: int) -> bool:
        """Every state is below 2."""
        return s < 2

    r = check(m, deadlock=False)
    assert r.distinct_states == 2
    (v,) = r.violations
    assert v.trace is not None
    assert (len(v.trace), v.trace.init) == (0, 2)


def test_self_loops_count_as_transitions() -> None:
    m = Model("loop", init=0)

    @m.step
    def stay(s: int) -> int:
        """Do nothing."""
        return s

    r = check(m)
    assert (r.distinct_states, r.transitions, r.max_depth) == (1, 1, 0)


def test_multi_parameter_steps_unpack_their_arguments() -> None:
    m = Model("grid", init=(0, 0))

    @m.step(
        over=[(i, d) for i in range(2) for d in (1, 2)],
        when=lambda s, i, d: s[i] + d <= 2,
    )
    def move(s: tuple[int, int], i: int, d: int) -> tuple[int, int]:
        """Coordinate i moves by d."""
        return (s[0] + d, s[1]) if i == 0 else (s[0], s[1] + d)

    r = check(m, deadlock=False)
    assert r.distinct_states == 9
    # a coordinate at 0, 1, 2 has 2, 1, 0 moves; summed over the 9 states: 2 * 3 * 3.
    assert r.transitions == 18


def test_raise_for_violation_carries_the_rendered_trace() -> None:
    r = check(flag_race())
    with pytest.raises(AssertionError, match=r"(?s)mutual_exclusion.*claim\(t=1\)"):
        r.raise_for_violation()
    check(counters(2, 2)).raise_for_violation()


def test_raise_for_violation_refuses_an_incomplete_search() -> None:
    r = check(counters(3, 4), max_states=5)
    with pytest.raises(AssertionError, match="incomplete"):
        r.raise_for_violation()
    r.raise_for_violation(allow_incomplete=True)


def test_an_interrupt_gives_an_incomplete_result() -> None:
    def interrupt(progress: object) -> None:
        raise KeyboardInterrupt

    r = check(counters(4, 10), progress=interrupt, progress_interval=0.0)
    assert r.verdict is Verdict.INCOMPLETE
    assert r.incomplete_reason == "interrupted"
    assert 1024 <= r.distinct_states < 10**4


def test_stopping_at_a_violation_does_not_call_targets_unreached() -> None:
    m = pair_target(2, 2)

    @m.invariant
    def a_below_two(s: object) -> bool:
        """a stays below 2 (broken after two steps, before the target is met)."""
        return s.a < 2  # type: ignore[attr-defined,no-any-return]

    r = check(m)
    assert [v.property for v in r.violations] == ["a_below_two"]
    r = check(m, keep_going=True)
    assert [v.property for v in r.violations] == ["a_below_two"]
    assert "both_at_target" in r.witnesses
