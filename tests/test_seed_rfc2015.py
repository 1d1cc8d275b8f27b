"""The RFC 6/9 seed model: pinned verdicts, shortest traces, the seed's two scenarios
replayed step by step, non-vacuity, and footprints checked against the steps' behaviour."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable
from typing import Any

import pytest

import klpcheck
from klpcheck.model.definition import Instance, Model
from tests.conftest import MODELS, full_result

SEED = MODELS / "seed_rfc2015.py"


def _load(**params: object) -> Model[Any]:
    return klpcheck.load_model(SEED, params)


def _run(**params: object) -> klpcheck.Result:
    """The full search, shared with every test asking for the same configuration."""
    return full_result(SEED, **params)


def _shortest(result: klpcheck.Result) -> dict[str, int]:
    return {v.property: len(v.trace) for v in result.violations if v.trace is not None}


# -- pinned outcomes -----------------------------------------------------------------

PINS = [
    # params, distinct states, {violated property: BFS-shortest length}
    ({}, 1080, {}),
    ({"clear_first": True}, 1561, {"no_wrong_universe_call": 13}),
    ({"sync": False}, 952, {"no_wrong_universe_call": 14}),
    (
        {"rcu_watching": False},
        1100,
        {"no_removed_function_called": 11, "no_wrong_universe_call": 16},
    ),
    ({"flag_all": True}, 1521, {"no_wrong_universe_call": 14}),
    ({"scenario": "patch"}, 594, {}),
    ({"scenario": "unpatch"}, 707, {}),
    ({"scenario": "unpatch", "clear_first": True}, 989, {"no_wrong_universe_call": 13}),
    ({"scenario": "unpatch", "sync": False}, 699, {}),
    ({"scenario": "unpatch", "rcu_watching": False}, 707, {}),
    ({"tasks": 1}, 88, {}),
    ({"tasks": 3}, 14830, {}),
]


@pytest.mark.parametrize(("params", "states", "shortest"), PINS, ids=repr)
def test_variant_gives_its_pinned_outcome(
    params: dict[str, object], states: int, shortest: dict[str, int]
) -> None:
    result = _run(**params)
    expected = klpcheck.Verdict.VIOLATED if shortest else klpcheck.Verdict.HOLDS
    assert result.verdict is expected
    assert result.distinct_states == states
    assert _shortest(result) == shortest


@pytest.mark.parametrize(
    "variant", [{"clear_first": True}, {"sync": False}, {"rcu_watching": False}]
)
def test_patching_side_is_unaffected_by_the_unpatch_variants(
    variant: dict[str, object],
) -> None:
    """Josh's case 1: once every task is NEW the handler takes the top entry anyway."""
    result = _run(scenario="patch", **variant)
    assert result.verdict is klpcheck.Verdict.HOLDS
    assert result.distinct_states == 594


def test_clear_first_trace_is_miroslavs_order() -> None:
    """A task that found foo_2 reads its flag after the early clear and runs foo_2 while
    OLD; no grace period is involved."""
    (violation,) = _run(clear_first=True).violations
    assert [s.label() for s in violation.trace.steps] == [  # type: ignore[union-attr]
        "klp_init_transition",
        "klp_start_transition",
        "klp_update_task_universe(t=0)",
        "call_foo(t=0)",
        "rcu_read_lock(t=0)",
        "list_first_or_null_rcu(t=0)",
        "klp_update_task_universe(t=1)",
        "klp_try_complete_transition",
        "clear_transition_early",
        "read_func_transition(t=0)",
        "klp_arch_set_pc(t=0)",
        "rcu_read_unlock(t=0)",
        "ftrace_return(t=0)",
    ]
    last = violation.trace.last  # type: ignore[union-attr]
    assert last.klp_universe[0].name == "OLD"
    assert last.target[0].name == "FOO_2"


def test_rcu_not_watching_frees_foo_2_under_a_reader() -> None:
    """842c08846420: the grace period ignores task 0's read-side section."""
    result = _run(rcu_watching=False)
    violation = result.violation("no_removed_function_called")
    assert violation is not None
    assert violation.trace is not None
    assert [s.step for s in violation.trace.steps][-4:] == [
        "klp_try_complete_transition",
        "klp_unpatch_objects",
        "synchronize_rcu",
        "synchronize_rcu_returns",
    ]
    last = violation.trace.last
    assert last.pc[0].name == "HAS_FUNC"
    assert last.func[0].name == "FOO_2"
    assert last.func_life[1].name == "FREED"


def test_the_race_needs_the_unwatched_task() -> None:
    """The same interleaving with a watched reader (task 1) blocks in synchronize_rcu."""
    model = _load(rcu_watching=False)
    s = _replay(
        model,
        [
            "klp_init_transition",
            "klp_start_transition",
            "klp_update_task_universe(t=0)",
            "klp_update_task_universe(t=1)",
            "call_foo(t=1)",
            "rcu_read_lock(t=1)",
            "list_first_or_null_rcu(t=1)",
            "klp_try_complete_transition",
            "klp_unpatch_objects",
            "synchronize_rcu",
        ],
    )
    assert not _enabled(model, s, "synchronize_rcu_returns")


# -- the seed's two scenarios, replayed ------------------------------------------------


def _instances(model: Model[Any]) -> dict[str, Instance]:
    return {i.label(): i for i in model.instances()}


def _enabled(model: Model[Any], s: Any, label: str) -> bool:
    inst = _instances(model)[label]
    guard = inst.step.guard
    return guard is None or bool(guard(s, *inst.args))


def _replay(model: Model[Any], labels: Iterable[str]) -> Any:
    """Fire the named step instances in order from the initial state, checking each is
    enabled and every invariant holds after it."""
    by_label = _instances(model)
    (s,) = model.init
    for label in labels:
        assert _enabled(model, s, label), label
        inst = by_label[label]
        s = inst.step.effect(s, *inst.args)
        for inv in model.invariants:
            assert inv.predicate(s), (label, inv.name)
    return s


TO_COMPLETION = [
    "klp_init_transition",
    "klp_start_transition",
    "klp_update_task_universe(t=0)",
    "klp_update_task_universe(t=1)",
]


def test_miroslav_scenario_a_is_not_a_race() -> None:
    """Seed, first scenario: a task stalls in the handler before rcu_read_lock() while
    synchronize_rcu() runs and klp_complete_transition() clears the flag. It resumes,
    finds foo_1 (foo_2 is off the list) and runs it: the right code for OLD."""
    model = _load()
    s = _replay(
        model,
        [
            *TO_COMPLETION,
            "call_foo(t=0)",
            "klp_try_complete_transition",
            "klp_unpatch_objects",
            "synchronize_rcu",
            "synchronize_rcu_returns",
            "klp_complete_transition",
            "rcu_read_lock(t=0)",
            "list_first_or_null_rcu(t=0)",
            "read_func_transition(t=0)",
            "klp_arch_set_pc(t=0)",
            "rcu_read_unlock(t=0)",
            "ftrace_return(t=0)",
        ],
    )
    assert s.target[0].name == "FOO_1"


SCENARIO_B = [
    *TO_COMPLETION,
    "klp_try_complete_transition",
    "klp_unpatch_objects",
    "synchronize_rcu",
    "synchronize_rcu_returns",
    "call_foo(t=0)",
    "rcu_read_lock(t=0)",
    "list_first_or_null_rcu(t=0)",
    "read_func_transition(t=0)",
]


def test_miroslav_scenario_b_is_not_a_race() -> None:
    """Seed, second scenario: after the sync and before klp_complete_transition() a task
    finds foo_1. foo_1->transition is 0 (only patch_2's func was flagged), so it runs
    foo_1."""
    model = _load()
    s = _replay(
        model,
        [
            *SCENARIO_B,
            "klp_arch_set_pc(t=0)",
            "rcu_read_unlock(t=0)",
            "ftrace_return(t=0)",
        ],
    )
    assert s.pc[0].name == "RUNNING"
    assert s.target[0].name == "FOO_1"


def test_miroslav_scenario_b_is_a_race_when_every_func_is_flagged() -> None:
    """With flag_all, foo_1->transition is 1 and the OLD task steps down to foo."""
    model = _load(flag_all=True)
    s = _replay(model, SCENARIO_B)
    assert s.pc[0].name == "SAW_TRANSITION"
    for label in ("read_klp_universe(t=0)", "klp_arch_set_pc(t=0)"):
        inst = _instances(model)[label]
        s = inst.step.effect(s, *inst.args)
    assert s.target[0].name == "FOO"


# -- non-vacuity -----------------------------------------------------------------------


@pytest.mark.parametrize("scenario", ["patch", "unpatch", "stacked"])
def test_a_call_runs_in_every_phase_and_the_transition_completes(
    scenario: str,
) -> None:
    model = _load(scenario=scenario)
    names = [p.name for p in model.reachables]
    assert names[0] == "transition_completes"
    assert "foo_runs_at_klp_unpatch_objects" in names or scenario == "patch"
    assert "foo_runs_at_done" in names
    result = _run(scenario=scenario)
    assert result.verdict is klpcheck.Verdict.HOLDS  # a missed reachable would fail


def _reachable_states(model: Model[Any]) -> list[Any]:
    seen = dict.fromkeys(model.init)
    frontier = list(seen)
    instances = model.instances()
    while frontier:
        nxt = []
        for s in frontier:
            for i in instances:
                g = i.step.guard
                if g is not None and not g(s, *i.args):
                    continue
                ns = i.step.effect(s, *i.args)
                if ns not in seen:
                    seen[ns] = None
                    nxt.append(ns)
        frontier = nxt
    return list(seen)


@pytest.mark.parametrize("scenario", ["patch", "unpatch", "stacked"])
def test_handler_never_finds_an_empty_func_stack(scenario: str) -> None:
    """Registration order (list_add_rcu before register, unregister and its sync before
    list_del_rcu) keeps the handler's WARN_ON_ONCE(!func) path unreachable."""
    for s in _reachable_states(_load(scenario=scenario)):
        assert not (s.func_stack == () and any(pc.name == "RCU_LOCKED" for pc in s.pc))


# -- footprints ------------------------------------------------------------------------

_ENTRY = re.compile(r"^(\w+)(?:\[(\w+|-?\d+)\])?$")
Entry = tuple[str, int | None]


def _resolve(footprint: Iterable[str], params: dict[str, Any]) -> set[Entry]:
    out: set[Entry] = set()
    for item in footprint:
        m = _ENTRY.match(item)
        assert m is not None, item
        name, index = m.groups()
        if index is None:
            out.add((name, None))
        elif index.lstrip("-").isdigit():
            out.add((name, int(index)))
        else:
            out.add((name, params[index]))
    return out


def _changed(a: Any, b: Any) -> set[Entry]:
    out: set[Entry] = set()
    for f in dataclasses.fields(a):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if x == y:
            continue
        if isinstance(x, tuple) and isinstance(y, tuple) and len(x) == len(y):
            out |= {
                (f.name, i) for i, (u, v) in enumerate(zip(x, y, strict=True)) if u != v
            }
        else:
            out.add((f.name, None))
    return out


def _covered(entries: set[Entry], entry: Entry) -> bool:
    return entry in entries or (entry[0], None) in entries


def _mix(s: Any, donor: Any, reads: set[Entry]) -> Any:
    """``donor`` with every entry in ``reads`` taken from ``s``."""
    changes = {}
    for f in dataclasses.fields(s):
        if (f.name, None) in reads:
            changes[f.name] = getattr(s, f.name)
            continue
        value = getattr(donor, f.name)
        for name, i in reads:
            if name == f.name and i is not None:
                value = (*value[:i], getattr(s, name)[i], *value[i + 1 :])
        changes[f.name] = value
    return dataclasses.replace(donor, **changes)


def _project(s: Any, entries: set[Entry]) -> dict[Entry, Any]:
    return {
        (f, i): getattr(s, f) if i is None else getattr(s, f)[i] for f, i in entries
    }


def _same_writes(s: Any, after: Any, mixed: Any, got: Any, writes: set[Entry]) -> bool:
    """Each declared write that either run performs leaves the same value in both.

    An entry a step may write but left alone keeps its (possibly donated) old value,
    which is no evidence either way.
    """
    a, b = _project(after, writes), _project(got, writes)
    before, mixed_before = _project(s, writes), _project(mixed, writes)
    return all(
        a[e] == b[e] for e in writes if a[e] != before[e] or b[e] != mixed_before[e]
    )


VARIANTS: list[dict[str, object]] = [
    {},
    {"clear_first": True},
    {"sync": False},
    {"rcu_watching": False},
    {"flag_all": True},
    {"scenario": "patch"},
    {"scenario": "unpatch"},
]


@pytest.mark.parametrize(
    "params",
    [
        *(
            pytest.param({**v, "tasks": 1}, id=repr({**v, "tasks": 1}))
            for v in VARIANTS
        ),
        # Two tasks: the default variant by default, the others with -m slow.
        *(
            pytest.param(v, id=repr(v), marks=[pytest.mark.slow] if v else [])
            for v in VARIANTS
        ),
    ],
)
def test_footprints_cover_what_steps_and_properties_touch(
    params: dict[str, object],
) -> None:
    """Writes: every field a step changes is declared. Reads: replacing every undeclared
    field by another reachable state's value changes neither the guard nor the written
    values, nor a property's verdict."""
    model = _load(**params)
    states = _reachable_states(model)
    donors = [states[(k * 7919) % len(states)] for k in (1, 2, 3)]
    for inst in model.instances():
        p = inst.step.params(inst.args)
        assert inst.step.reads is not None
        assert inst.step.writes is not None
        reads, writes = _resolve(inst.step.reads, p), _resolve(inst.step.writes, p)
        guard: Callable[..., bool] = inst.step.guard or (lambda *_: True)
        for s in states:
            on = guard(s, *inst.args)
            after = inst.step.effect(s, *inst.args) if on else None
            if after is not None:
                undeclared = {e for e in _changed(s, after) if not _covered(writes, e)}
                assert not undeclared, (inst.label(), undeclared)
            for donor in donors:
                mixed = _mix(s, donor, reads)
                assert guard(mixed, *inst.args) == on, (inst.label(), s)
                if after is not None:
                    got = inst.step.effect(mixed, *inst.args)
                    assert _same_writes(s, after, mixed, got, writes), inst.label()
    for prop in model.invariants + model.reachables:
        assert prop.reads is not None
        reads = _resolve(prop.reads, {})
        for s in states:
            for donor in donors:
                assert prop.predicate(_mix(s, donor, reads)) == prop.predicate(s)


def test_tasks_must_be_positive() -> None:
    with pytest.raises(klpcheck.KlpcheckError, match="tasks must be at least 1"):
        _load(tasks=0)
