"""models/livepatch.py: upstream verifies, every known race shows up, footprints are honest.

The sizes here are one CPU (plus its idle task) so the whole file runs in seconds; the
manifest pins the default sizes.
"""

from __future__ import annotations

import re
from collections import deque
from typing import Any

import pytest

import klpcheck
from klpcheck import Model
from tests.conftest import MODELS, full_result

LIVEPATCH = MODELS / "livepatch.py"


def build(**params: object) -> Model[Any]:
    """The model with ``params`` given as ``-D`` would give them."""
    text = {
        k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in params.items()
    }
    return klpcheck.load_model(LIVEPATCH, text)


def outcome(**params: object) -> tuple[str, int, dict[str, int]]:
    """Verdict, distinct states and shortest trace length per violated property.

    A full search (breadth-first, no reduction), as the manifest pins them; shared with
    every other test asking for the same configuration (tests/conftest.py).
    """
    r = full_result(LIVEPATCH, **params)
    lengths = {v.property: len(v.trace) for v in r.violations if v.trace is not None}
    return r.verdict.name, r.distinct_states, lengths


def shortest(prop: str, **params: object) -> list[str]:
    """The step labels of the BFS-shortest trace that violates ``prop``."""
    r = full_result(LIVEPATCH, **params)
    (trace,) = [v.trace for v in r.violations if v.property == prop]
    assert trace is not None
    return [s.label() for s in trace.steps]


def replay(model: Model[Any], labels: list[str]) -> Any:
    """Fire the steps named by ``labels`` from the initial state; each must be enabled."""
    (s,) = model.init
    by_label = {i.label(): i for i in model.instances()}
    for label in labels:
        inst = by_label[label]
        guard = inst.step.guard
        assert guard is None or guard(s, *inst.args), f"{label} is not enabled"
        s = inst.step.effect(s, *inst.args)
    return s


def holds(model: Model[Any], prop: str, s: Any) -> bool:
    (inv,) = [p for p in model.invariants if p.name == prop]
    return bool(inv.predicate(s))


# ------------------------------------------------------------------------------------------
# Upstream verifies.

UPSTREAM = {
    "enable": 2726,
    "disable": 2718,
    "enable_disable": 5424,
    "reverse": 8078,
    "stacked": 2822,
    "stack_enable": 2878,
    "replace": 2818,
}


@pytest.mark.parametrize(("scenario", "states"), UPSTREAM.items())
def test_upstream_holds_and_completes_every_direction(
    scenario: str, states: int
) -> None:
    assert outcome(scenario=scenario, cpus=1) == ("HOLDS", states, {})


def test_reachable_targets_follow_the_scenario() -> None:
    names = {p.name for p in build(scenario="enable_disable").reachables}
    assert names == {"patching_completes", "unpatching_completes"}
    assert {p.name for p in build(scenario="disable").reachables} == {
        "unpatching_completes"
    }


def test_both_reverse_orders_hold_under_sequential_consistency() -> None:
    assert outcome(scenario="reverse", cpus=1, reverse_order="4.12") == (
        "HOLDS",
        9724,
        {},
    )


def test_the_fixes_hold() -> None:
    assert outcome(scenario="reverse", cpus=1, fork=True) == ("HOLDS", 74976, {})
    assert outcome(scenario="stacked", cpus=1, idle_calls=True) == ("HOLDS", 4154, {})


def test_an_unknown_scenario_is_rejected() -> None:
    with pytest.raises(klpcheck.ModelError, match="scenario is one of"):
        build(scenario="livepatch")


# ------------------------------------------------------------------------------------------
# Every race of reference §3 shows up.

RACES: list[tuple[str, dict[str, object], int, dict[str, int]]] = [
    (
        "#2c clear_first",
        {"scenario": "stacked", "clear_first": True},
        3647,
        {
            "handler_follows_patch_state": 19,
            "no_wrong_universe_call": 26,
            "no_removed_function_called": 26,
        },
    ),
    (
        "#3 rcu",
        {"scenario": "stacked", "sync": "rcu", "idle_calls": True},
        4458,
        {
            "handler_follows_patch_state": 23,
            "no_wrong_universe_call": 26,
            "no_removed_function_called": 25,
            "handler_never_sees_idle": 26,
            "no_unsafe_switch": 26,
        },
    ),
    (
        "#4 fork",
        {"scenario": "enable", "fork": True, "fork_recopy": False},
        34460,
        {
            "no_stale_patch_pending": 23,
            "completion_finds_all_switched": 23,
            "patch_state_follows_transition": 35,
        },
    ),
    (
        "#5 no S2",
        {"scenario": "enable", "s2": False},
        2704,
        {"handler_never_sees_idle": 21},
    ),
    (
        "#7 shared",
        {"scenario": "enable", "stack_buffer": "shared"},
        5089,
        {"no_unsafe_switch": 19, "no_wrong_universe_call": 29},
    ),
    (
        "#8 immediate",
        {"scenario": "immediate"},
        9150,
        {"no_unsafe_switch": 17, "no_wrong_universe_call": 4},
    ),
    (
        "#9 exiting",
        {"scenario": "enable", "exiting": True},
        9756,
        {
            "handler_never_sees_idle": 12,
            "no_exiting_task_left_behind": 18,
            "handler_follows_patch_state": 21,
            "no_wrong_universe_call": 25,
        },
    ),
    (
        "#10 idle maps to target",
        {
            "scenario": "reverse",
            "fork": True,
            "idle_maps_target": True,
            "funcs": 2,
            "depth": 2,
            "tasks": 1,
        },
        87078,
        {"no_wrong_universe_call": 15},
    ),
    (
        "force",
        {"scenario": "force"},
        10976,
        {
            "no_unsafe_switch": 19,
            "handler_follows_patch_state": 23,
            "no_wrong_universe_call": 33,
        },
    ),
]


@pytest.mark.parametrize(
    ("params", "states", "violated"),
    [pytest.param(p, n, v, id=name) for name, p, n, v in RACES],
)
def test_each_race_violates_what_history_predicts(
    params: dict[str, object], states: int, violated: dict[str, int]
) -> None:
    assert outcome(cpus=1, **params) == ("VIOLATED", states, violated)


def test_the_rcu_hole_needs_a_patch_below_the_removed_one() -> None:
    params = {"sync": "rcu", "idle_calls": True, "cpus": 1}
    assert outcome(scenario="disable", **params) == ("HOLDS", 3946, {})
    assert outcome(scenario="reverse", **params) == (
        "VIOLATED",
        14132,
        {
            "handler_never_sees_idle": 26,
            "completion_finds_all_switched": 34,
            "handler_follows_patch_state": 36,
            "patch_state_follows_transition": 42,
            "no_wrong_universe_call": 46,
            "no_removed_function_called": 46,
        },
    )


def test_waiting_for_exiting_tasks_fixes_all_of_9_but_the_idle_warn() -> None:
    params = {"scenario": "replace", "funcs": 2, "exiting": True, "cpus": 1}
    assert outcome(exit_wait=True, **params) == (
        "VIOLATED",
        22291,
        {"handler_never_sees_idle": 12},
    )


def test_fixed_by_per_cpu_buffers_the_hook_race_is_gone() -> None:
    verdict, _, violated = outcome(scenario="enable", stack_buffer="percpu", cpus=2)
    assert (verdict, violated) == ("HOLDS", {})


def test_with_one_function_the_idle_to_target_proposal_cannot_mix_code() -> None:
    params = {"scenario": "reverse", "fork": True, "idle_maps_target": True, "tasks": 1}
    assert outcome(cpus=1, **params) == ("HOLDS", 19523, {})


# ------------------------------------------------------------------------------------------
# The shortest counterexamples are the races as the kernel history tells them.


def loop(step: str, tasks: int = 3) -> list[str]:
    """One admin loop over every task (normal tasks, then idle tasks)."""
    return [f"{step}(t={t})" for t in range(tasks)]


ENABLE_HEAD = [
    "enabled_store",
    "klp_init_transition",
    *loop("klp_init_transition_task"),
    "klp_init_transition_funcs",
]


def test_shared_stack_buffer_trace_is_the_overwritten_trace() -> None:
    """#7: task 1 saves its trace (orig f), the admin's check of task 0 overwrites the
    one buffer with a clean trace, task 1 scans it and switches inside old code."""
    assert shortest(
        "no_unsafe_switch", scenario="enable", cpus=1, stack_buffer="shared"
    ) == [
        *ENABLE_HEAD,
        "schedule(cpu=0, prev=2, t=1)",
        "klp_ftrace_handler(t=1, f=0)",
        "klp_patch_object",
        *START,
        "klp_sched_try_switch(t=1)",
        "klp_try_switch_task(t=0)",
        "klp_sched_try_switch_scan(t=1)",
        "klp_sched_try_switch_clear(t=1)",
        "klp_sched_try_switch_read(t=1)",
        "klp_store_patch_state(t=1)",
    ]


def test_without_s2_the_handler_reads_idle_after_the_reset() -> None:
    """#5: H3 reads transition=1, completion clears it and resets the task, H5 reads IDLE."""
    assert shortest("handler_never_sees_idle", scenario="enable", cpus=1, s2=False) == [
        *ENABLE_HEAD,
        "klp_patch_object",
        *START,
        "klp_try_switch_task(t=0)",
        "klp_try_switch_task(t=1)",
        "schedule(cpu=0, prev=2, t=0)",
        "klp_try_switch_task(t=2)",
        "klp_try_complete_transition",
        "klp_ftrace_handler(t=0, f=0)",
        "klp_ftrace_handler_transition(t=0)",
        "klp_complete_transition_clear",
        "klp_complete_transition_task(t=0)",
        "klp_ftrace_handler_patch_state(t=0)",
    ]


def test_clear_first_sends_an_unpatched_task_into_the_top_func() -> None:
    """#2c: transition is cleared while patch 1's func is still on top of func_stack."""
    assert shortest(
        "handler_follows_patch_state", scenario="stacked", cpus=1, clear_first=True
    ) == [
        *ENABLE_HEAD,
        *START,
        "klp_try_switch_task(t=0)",
        "klp_try_switch_task(t=1)",
        "schedule(cpu=0, prev=2, t=0)",
        "klp_try_switch_task(t=2)",
        "klp_try_complete_transition",
        "klp_complete_transition_clear",
        "klp_ftrace_handler(t=0, f=0)",
        "klp_ftrace_handler_transition(t=0)",
        "klp_ftrace_handler_return(t=0)",
    ]


START = [*loop("klp_start_transition_task"), "klp_start_transition_done"]


def test_petrs_reverse_counterexample_to_the_idle_proposal_is_a_trace() -> None:
    """#10 as Petr Mladek told it: a new IDLE task runs the new funcA (target PATCHED),
    the admin reverses, and inside funcA it gets the original funcB."""
    params = {"scenario": "reverse", "fork": True, "funcs": 2, "depth": 2, "tasks": 1}
    labels = [
        *ENABLE_HEAD,
        "klp_patch_object",
        *START,
        "schedule(cpu=0, prev=2, t=0)",
        "dup_task_struct",
        "klp_copy_process",
        "schedule(cpu=0, prev=0, t=1)",
        "klp_ftrace_handler(t=1, f=0)",
        "klp_ftrace_handler_transition(t=1)",
        "klp_ftrace_handler_patch_state(t=1)",  # IDLE -> target PATCHED: new funcA
        "klp_ftrace_handler_return(t=1)",
        *loop("klp_try_switch_task"),
        "klp_try_complete_transition",
        "klp_reverse_transition",
        *loop("klp_reverse_transition_task"),
        "klp_synchronize_transition",
        "klp_synchronize_transition_done",
        "klp_reverse_transition_flip",
        *START,
        "klp_ftrace_handler(t=1, f=1)",
        "klp_ftrace_handler_transition(t=1)",
        "klp_ftrace_handler_patch_state(t=1)",  # IDLE -> target UNPATCHED
        "klp_ftrace_handler_prev(t=1)",  # the original funcB
        "klp_ftrace_handler_return(t=1)",
    ]
    model = build(idle_maps_target=True, cpus=1, **params)
    s = replay(model, labels)
    assert s.stack[1] == ((0, 0), (1, -1))
    assert not holds(model, "no_wrong_universe_call", s)
    # Today's kernel: the child copies the parent's UNPATCHED state, so its handler
    # steps down (H6) to funcA's original, and the call chain stays in one universe.
    model = build(cpus=1, **params)
    s = replay(
        model,
        [
            *labels[:18],
            "klp_ftrace_handler_prev(t=1)",
            "klp_ftrace_handler_return(t=1)",
        ],
    )
    assert s.stack[1] == ((0, -1),)


def test_the_references_fork_and_reverse_interleaving_leaves_a_stale_tif() -> None:
    """#4 as the reference tells it: P (pending) forks, the admin reverses so that P's
    state is the new target, then klp_copy_process gives C that state and an old TIF."""
    labels = [
        "enabled_store",
        "klp_init_transition",
        *loop("klp_init_transition_task", 4),
        "klp_init_transition_funcs",
        "klp_patch_object",
        *loop("klp_start_transition_task", 4),
        "klp_start_transition_done",
        "schedule(cpu=0, prev=3, t=0)",  # P runs, so the first try cannot switch it
        *loop("klp_try_switch_task", 4),
        "klp_try_complete_transition",
        "dup_task_struct",
        "klp_reverse_transition",
        *loop("klp_reverse_transition_task", 4),
        "klp_synchronize_transition",
        "klp_synchronize_transition_done",
        "klp_reverse_transition_flip",
        *loop("klp_start_transition_task", 4),
        "klp_start_transition_done",
        "klp_copy_process",
    ]
    params = {"scenario": "reverse", "fork": True, "cpus": 1}
    buggy = build(fork_recopy=False, **params)
    s = replay(buggy, labels)
    assert (s.patch_pending[2], s.patch_state[2], s.target.name) == (
        True,
        s.patch_state[0],
        "UNPATCHED",
    )
    assert not holds(buggy, "no_stale_patch_pending", s)
    fixed = build(**params)
    s = replay(fixed, labels)
    assert not s.patch_pending[2]
    assert holds(fixed, "no_stale_patch_pending", s)


# ------------------------------------------------------------------------------------------
# Protections: what removing each one breaks, as the kernel's code comments say.


def test_without_s3_a_switch_in_flight_stores_the_old_target_after_the_flip() -> None:
    """The idle task clears TIF and loads PATCHED; the reverse flips the target without
    waiting for it and the try sees every task at the new target; the stale store
    lands while klp_complete_transition runs (I4)."""
    params = {"scenario": "reverse", "cpus": 1, "tasks": 1}
    labels = shortest("completion_finds_all_switched", s3=False, **params)
    assert labels == [
        "enabled_store",
        "klp_init_transition",
        *loop("klp_init_transition_task", 2),
        "klp_init_transition_funcs",
        "klp_patch_object",
        *loop("klp_start_transition_task", 2),
        "klp_start_transition_done",
        *loop("klp_try_switch_task", 2),
        "klp_try_complete_transition",
        "klp_reverse_transition",
        "klp_reverse_transition_task(t=0)",
        "klp_update_patch_state(t=1)",
        "klp_reverse_transition_task(t=1)",
        "klp_update_patch_state_read(t=1)",
        "klp_reverse_transition_flip",
        *loop("klp_start_transition_task", 2),
        "klp_start_transition_done",
        "klp_transition_work_fn",
        *loop("klp_try_switch_task", 2),
        "klp_try_complete_transition",
        "klp_store_patch_state(t=1)",
    ]
    # With S3 the sync after the clearing loop waits for the idle task's store.
    model = build(**params)
    s = replay(model, labels[: labels.index("klp_update_patch_state_read(t=1)") + 1])
    assert s.prog[0][0].name == "SYNC"
    (sync,) = [
        i for i in model.instances() if i.label() == "klp_synchronize_transition"
    ]
    s = sync.step.effect(s)
    (wait,) = [
        i for i in model.instances() if i.label() == "klp_synchronize_transition_done"
    ]
    assert s.sync_wait[1]
    assert wait.step.guard is not None
    assert not wait.step.guard(s)


def test_without_task_curr_a_task_is_switched_between_decision_and_entry() -> None:
    """The handler decided patch 0's func (transition still clear); the admin switches
    the running task to UNPATCHED before it enters: I7, Petr's rule."""
    params = {"scenario": "disable", "cpus": 1, "tasks": 1}
    labels = shortest("no_unsafe_switch", task_curr=False, **params)
    assert labels == [
        "enabled_store",
        "klp_init_transition",
        *loop("klp_init_transition_task", 2),
        "schedule(cpu=0, prev=1, t=0)",
        "klp_ftrace_handler(t=0, f=0)",
        "klp_ftrace_handler_transition(t=0)",
        "klp_init_transition_funcs",
        *loop("klp_start_transition_task", 2),
        "klp_start_transition_done",
        "klp_try_switch_task(t=0)",
    ]
    s = replay(build(task_curr=False, **params), labels)
    assert s.hpc[0].name == "DECIDED"
    assert s.patch_state[0].name == "UNPATCHED"
    assert s.unsafe_switch[0]
    # Upstream the running task is -EBUSY: nothing changes.
    s = replay(build(**params), labels)
    assert s.patch_state[0].name == "PATCHED"


def test_the_idle_task_leaves_its_cpu_only_without_patched_frames() -> None:
    model = build(scenario="enable", idle_calls=True, cpus=1, tasks=1)
    s = replay(
        model,
        ["klp_ftrace_handler(t=1, f=0)"],  # no patch yet: the original, no handler
    )
    assert s.stack[1] == ((0, -1),)
    (switch_out,) = [
        i for i in model.instances() if i.label() == "schedule(cpu=0, prev=1, t=0)"
    ]
    assert switch_out.step.guard is not None
    assert not switch_out.step.guard(s, *switch_out.args)
    s = replay(model, ["klp_ftrace_handler(t=1, f=0)", "function_return(t=1)"])
    assert switch_out.step.guard(s, *switch_out.args)


# ------------------------------------------------------------------------------------------
# Footprints: every declared reads=/writes= is honest over every reachable state.

_LOC = re.compile(r"^(\w+)((?:\[[^\]]+\])*)$")
Loc = tuple[str, tuple[int, ...]]
Cell = tuple[str, int | None]


def _resolve(item: str, names: dict[str, Any]) -> Loc:
    m = _LOC.match(item)
    assert m is not None, item
    idx = re.findall(r"\[([^\]]+)\]", m.group(2))
    return m.group(1), tuple(
        int(i) if i.lstrip("-").isdigit() else names[i] for i in idx
    )


def _get(s: Any, loc: Loc) -> Any:
    v = getattr(s, loc[0])
    for i in loc[1]:
        v = v[i]
    return v


def _changed(s: Any, n: Any) -> set[Cell]:
    out: set[Cell] = set()
    for f in type(s).__dataclass_fields__:
        a, b = getattr(s, f), getattr(n, f)
        if a == b:
            continue
        if isinstance(a, tuple) and len(a) == len(b) and not hasattr(a, "_fields"):
            out |= {(f, i) for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y}
        else:
            out.add((f, None))
    return out


def _cell(s: Any, c: Cell) -> Any:
    v = getattr(s, c[0])
    return v if c[1] is None else v[c[1]]


def _reachable(model: Model[Any], limit: int | None = None) -> list[Any]:
    """Every reachable state, or the first ``limit`` of a breadth-first search."""
    seen = dict.fromkeys(model.init)
    todo = deque(model.init)
    while todo and (limit is None or len(seen) < limit):
        s = todo.popleft()
        for inst in model.instances():
            g = inst.step.guard
            if g is None or g(s, *inst.args):
                n = inst.step.effect(s, *inst.args)
                if n not in seen:
                    seen[n] = None
                    todo.append(n)
    return list(seen)


def audit(model: Model[Any]) -> list[str]:
    """Check every footprint against every reachable state.

    Writes: every changed cell is declared. Reads: two states that agree on the declared
    reads agree on the guard and on the new value of every cell either one changes.
    Properties: two states that agree on the declared reads agree on the verdict.
    """
    states = _reachable(model)
    problems: set[str] = set()
    for inst in model.instances():
        step, names = inst.step, inst.step.params(inst.args)
        assert step.reads is not None, inst.label()
        assert step.writes is not None, inst.label()
        reads = [_resolve(x, names) for x in step.reads]
        writes = [_resolve(x, names) for x in step.writes]
        groups: dict[tuple[Any, ...], tuple[bool, Any, Any]] = {}
        for s in states:
            g = step.guard is None or bool(step.guard(s, *inst.args))
            n = step.effect(s, *inst.args) if g else None
            if n is not None:
                for f, i in _changed(s, n):
                    idx = () if i is None else (i,)
                    if not any(w == f and idx[: len(j)] == j for w, j in writes):
                        problems.add(f"{inst.label()} writes {f}{list(idx)}")
            key = tuple(_get(s, r) for r in reads)
            if key not in groups:
                groups[key] = (g, s, n)
                continue
            g0, s0, n0 = groups[key]
            if g0 != g:
                problems.add(f"{inst.label()}: guard reads more")
            elif n is not None:
                cells = _changed(s0, n0) | _changed(s, n)
                if any(_cell(n0, c) != _cell(n, c) for c in cells):
                    problems.add(f"{inst.label()}: effect reads more")
    for prop in model.invariants + model.reachables:
        assert prop.reads is not None, prop.name
        locs = [_resolve(x, {}) for x in prop.reads]
        verdicts: dict[tuple[Any, ...], bool] = {}
        for s in states:
            key = tuple(_get(s, r) for r in locs)
            verdict = bool(prop.predicate(s))
            if verdicts.setdefault(key, verdict) != verdict:
                problems.add(f"{prop.name} reads more")
    return sorted(problems)


@pytest.mark.parametrize(
    "params",
    [
        # By default one normal task (a few thousand states each); the same
        # configurations with two tasks, or two CPUs with fork, run with -m slow.
        {"scenario": "replace", "funcs": 2, "exiting": True, "cpus": 1, "tasks": 1},
        {
            "scenario": "stacked",
            "idle_calls": True,
            "sync": "rcu",
            "cpus": 1,
            "tasks": 1,
        },
        {"scenario": "enable", "stack_buffer": "shared", "cpus": 2, "tasks": 1},
        {"scenario": "force", "cpus": 1, "tasks": 1},
        {"scenario": "immediate", "cpus": 1, "tasks": 1},
        {"scenario": "enable_disable", "funcs": 2, "depth": 2, "cpus": 1, "tasks": 1},
        {"scenario": "force", "cpus": 1, "tasks": 1, "loop_order": "any"},
        {
            "scenario": "reverse",
            "ups_preempt_off": False,
            "hook_preempt_off": False,
            "task_curr": False,
            "cpus": 1,
            "tasks": 1,
        },
        {
            "scenario": "replace",
            "fork": True,
            "tasklist_lock": False,
            "unregister_sync": False,
            "cpus": 1,
            "tasks": 1,
        },
        {
            "scenario": "enable",
            "fork": True,
            "cpus": 1,
            "tasks": 1,
            "loop_order": "any",
        },
        {"scenario": "reverse", "cpus": 1, "tasks": 1},
        *(
            pytest.param(params, marks=pytest.mark.slow)
            for params in (
                {"scenario": "reverse", "fork": True, "cpus": 2, "tasks": 1},
                {"scenario": "replace", "funcs": 2, "exiting": True, "cpus": 1},
                {"scenario": "stacked", "idle_calls": True, "sync": "rcu", "cpus": 1},
                {"scenario": "force", "cpus": 1},
                {"scenario": "immediate", "cpus": 1},
                {"scenario": "force", "cpus": 1, "loop_order": "any"},
                {
                    "scenario": "reverse",
                    "fork": True,
                    "cpus": 1,
                    "tasks": 1,
                    "loop_order": "any",
                },
            )
        ),
    ],
    ids=lambda p: ",".join(f"{k}={v}" for k, v in p.items()),
)
def test_footprints_are_honest(params: dict[str, object]) -> None:
    assert audit(build(**params)) == []


def test_the_audit_catches_a_missing_read() -> None:
    import dataclasses

    model = build(scenario="enable", cpus=1, tasks=1)
    for i, step in enumerate(model.steps):
        if step.name == "klp_ftrace_handler_patch_state":
            assert step.reads is not None
            model.steps[i] = dataclasses.replace(
                step, reads=step.reads - {"patch_state[t]"}
            )
    model._instances = None
    assert audit(model) == [
        "klp_ftrace_handler_patch_state(t=0): effect reads more",
    ]


# ------------------------------------------------------------------------------------------
# memory="weak": the barrier pairs (reference §1.10), one task on one CPU.

WEAK = {"memory": "weak", "tasks": 1, "cpus": 1}


@pytest.mark.parametrize(
    ("scenario", "states"), [("enable", 1461), ("disable", 5486), ("reverse", 4606)]
)
def test_with_every_barrier_weak_memory_holds(scenario: str, states: int) -> None:
    assert outcome(scenario=scenario, **WEAK) == ("HOLDS", states, {})


@pytest.mark.parametrize(
    ("switch", "states", "lengths"),
    [
        ("b1", 6951, {"handler_never_sees_idle": 10}),
        ("h4_rmb", 6153, {"handler_never_sees_idle": 13}),
        (
            "b3",
            6936,
            {
                "handler_follows_patch_state": 17,
                "no_removed_function_called": 32,
                "no_wrong_universe_call": 32,
            },
        ),
        (
            "hook_rmb",
            7948,
            {
                "patch_state_follows_transition": 21,
                "handler_never_sees_idle": 24,
                "no_unsafe_switch": 25,
                "no_removed_function_called": 36,
                "no_wrong_universe_call": 36,
            },
        ),
    ],
)
def test_each_needed_barrier_removed_breaks_unpatching(
    switch: str, states: int, lengths: dict[str, int]
) -> None:
    assert outcome(scenario="disable", **{switch: False}, **WEAK) == (
        "VIOLATED",
        states,
        lengths,
    )


def test_without_b1_the_handler_reads_the_flag_before_the_state() -> None:
    """B1: func->transition drains before patch_state = PATCHED; the handler reads IDLE."""
    assert shortest(
        "handler_never_sees_idle", scenario="disable", b1=False, **WEAK
    ) == [
        "enabled_store",
        "klp_init_transition",
        "klp_init_transition_task(t=0)",
        "klp_init_transition_task(t=1)",
        "klp_init_transition_funcs",
        "schedule(cpu=0, prev=1, t=0)",
        "klp_ftrace_handler(t=0, f=0)",
        "drain(loc='transition0')",
        "klp_ftrace_handler_transition(t=0)",
        "klp_ftrace_handler_patch_state(t=0)",
    ]


def test_without_b4_reversing_is_still_safe() -> None:
    assert outcome(scenario="reverse", b4=False, **WEAK) == ("HOLDS", 5778, {})


@pytest.mark.slow
def test_b2_and_h2_are_redundant_next_to_the_release_and_the_dependency() -> None:
    assert outcome(scenario="stack_enable", b2=False, **WEAK) == ("HOLDS", 10219, {})
    assert outcome(scenario="stack_enable", h2_rmb=False, **WEAK) == (
        "HOLDS",
        10890,
        {},
    )
    assert outcome(scenario="stack_enable", h2_rmb=False, publish="plain", **WEAK) == (
        "HOLDS",
        10890,
        {},
    )
    assert outcome(scenario="stack_enable", b2=False, publish="plain", **WEAK) == (
        "VIOLATED",
        12441,
        {"handler_follows_patch_state": 14},
    )


@pytest.mark.slow
def test_without_the_start_order_a_stacked_publish_is_seen_after_tif() -> None:
    assert outcome(scenario="stack_enable", start_order=False, **WEAK) == (
        "VIOLATED",
        12530,
        {"handler_follows_patch_state": 19, "no_wrong_universe_call": 33},
    )


def test_weak_memory_is_the_same_model_under_sc_switches() -> None:
    """The sc default gains no state: the weak fields stay empty."""
    (s,) = build(scenario="enable", tasks=1, cpus=1).init
    assert (s.mem, s.sb, s.work) == ((), (), ())


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"b1": False}, "b1 needs memory='weak'"),
        ({"publish": "plain"}, "publish needs memory='weak'"),
        ({"memory": "tso"}, "memory is 'sc' or 'weak'"),
        ({"memory": "weak", "scenario": "force"}, "supports the scenarios"),
        ({"memory": "weak", "fork": True}, "models the barrier pairs only"),
    ],
)
def test_weak_memory_parameters_are_checked(
    params: dict[str, object], message: str
) -> None:
    with pytest.raises(klpcheck.ModelError, match=message):
        build(**params)


@pytest.mark.slow  # seven seconds; the weak entries' reduced searches run by default
def test_weak_memory_footprints_are_honest() -> None:
    assert audit(build(scenario="disable", **WEAK)) == []
