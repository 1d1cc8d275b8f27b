"""models/livepatch.py with ``loop_order="any"``: ``rename`` is a symmetry of the model.

The orbit counts pinned here (classes of reachable states up to renaming normal tasks
and CPUs, each CPU with its idle task) are what the checker's symmetry reduction must
report for ``symmetry=true``.
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Callable
from typing import Any

import pytest

import klpcheck
from klpcheck import Model
from klpcheck.model.fingerprint import encode
from tests.conftest import full_result
from tests.test_livepatch_model import LIVEPATCH, _reachable, build

Renaming = tuple[tuple[int, ...], tuple[int, ...]]


def any_order(**params: object) -> Model[Any]:
    return build(loop_order="any", **params)


def renamer(model: Model[Any]) -> Callable[[Any, Renaming], Any]:
    """The model file's ``rename`` (from the module that defines its State)."""
    (s,) = model.init
    rename: Callable[[Any, Renaming], Any] = sys.modules[type(s).__module__].rename
    return rename


def group(tasks: int, cpus: int) -> list[Renaming]:
    """Every permutation of the normal tasks times every permutation of the CPUs."""
    return list(
        itertools.product(
            itertools.permutations(range(tasks)), itertools.permutations(range(cpus))
        )
    )


def compose(g: Renaming, h: Renaming) -> Renaming:
    """g, then h: old index i goes to ``h[g[i]]``."""
    return (
        tuple(h[0][i] for i in g[0]),
        tuple(h[1][j] for j in g[1]),
    )


def orbits(model: Model[Any], tasks: int, cpus: int) -> int:
    """Check that the reachable states are closed under renaming and that every
    property sees no difference; return the number of orbits."""
    rename = renamer(model)
    (init,) = model.init
    sorting = sys.modules[type(init).__module__].sorting_renamings
    states = _reachable(model)
    seen = set(states)
    props = model.invariants + model.reachables
    reps = set()
    sorted_reps = set()
    for s in states:
        images = [rename(s, g) for g in group(tasks, cpus)]
        for n in images:
            assert n in seen, (s, n)
            for p in props:
                assert bool(p.predicate(n)) == bool(p.predicate(s)), (p.name, s, n)
        reps.add(min(encode(n) for n in images))
        # The representative among the renamings that sort the tasks and CPUs (the
        # model's symmetry candidates) lies in the orbit too: as many of them as
        # orbits means no orbit was split.
        sorted_reps.add(min(encode(rename(s, g)) for g in sorting(s)))
    assert len(sorted_reps) == len(reps)
    return len(reps)


def test_any_order_adds_states_and_keeps_the_verdict() -> None:
    r = full_result(LIVEPATCH, loop_order="any", symmetry=True)  # the entry's search
    assert (r.verdict.name, r.distinct_states) == ("HOLDS", 54238)


def test_rename_accounts_for_every_field() -> None:
    model = any_order()
    (s,) = model.init
    mod = sys.modules[type(s).__module__]
    named = (*mod.PER_TASK_PLAIN, *mod.PER_CPU, *mod.NAMES_A_CPU, *mod.KEPT)
    assert sorted(named) == sorted(type(s).__dataclass_fields__)


def test_two_tasks_one_cpu_are_closed_under_renaming() -> None:
    assert orbits(any_order(tasks=2, cpus=1), 2, 1) == ORBITS_2_1
    params = {"loop_order": "any", "symmetry": True, "tasks": 2, "cpus": 1}
    reduced = klpcheck.check(klpcheck.load_model(LIVEPATCH, params), keep_going=True)
    assert reduced.symmetry is not None
    assert reduced.distinct_states == ORBITS_2_1


@pytest.mark.slow
def test_two_tasks_two_cpus_are_closed_under_renaming() -> None:
    """The manifest's any_order entry pins these orbits for the checker's reduction;
    this counts them independently (half a minute)."""
    assert orbits(any_order(tasks=2, cpus=2), 2, 2) == ORBITS_2


@pytest.mark.slow
def test_renaming_with_a_shared_stack_buffer_and_idle_calls() -> None:
    """Counted independently, and by the checker's symmetry reduction."""
    params = {"stack_buffer": "shared", "idle_calls": True, "tasks": 2, "cpus": 2}
    assert orbits(any_order(**params), 2, 2) == ORBITS_SHARED
    reduced = klpcheck.check(
        klpcheck.load_model(
            LIVEPATCH, {"loop_order": "any", "symmetry": True, **params}
        ),
        keep_going=True,
    )
    assert reduced.distinct_states == ORBITS_SHARED


@pytest.mark.slow
def test_three_tasks_two_cpus_are_closed_under_renaming() -> None:
    assert orbits(any_order(tasks=3, cpus=2), 3, 2) == ORBITS_3


ORBITS_2_1 = 1717
ORBITS_2 = 14016
# 384,411 states (429,361 before the load and store steps were split)
ORBITS_SHARED = 100420
ORBITS_3 = 63639


def test_rename_is_a_group_action() -> None:
    model = any_order(scenario="reverse", tasks=3, cpus=2)
    rename = renamer(model)
    states = _reachable(model, 3000)
    elements = group(3, 2)
    identity = ((0, 1, 2), (0, 1))
    for s in states:
        assert rename(s, identity) == s
    for g, h in itertools.islice(itertools.product(elements, elements), 0, None, 7):
        for s in states[::50]:
            assert rename(rename(s, g), h) == rename(s, compose(g, h))


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({}, "symmetry needs loop_order='any'"),
        ({"loop_order": "any", "fork": True}, "neither fork nor exiting"),
        ({"loop_order": "any", "exiting": True}, "neither fork nor exiting"),
    ],
)
def test_symmetry_needs_any_order_and_no_distinguished_task(
    params: dict[str, object], error: str
) -> None:
    with pytest.raises(klpcheck.ModelError, match=error):
        build(symmetry=True, **params)
