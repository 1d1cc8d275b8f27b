"""Symmetry reduction: orbit counts, verdicts and traces equal to those of the full search."""

from __future__ import annotations

import itertools
import json
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass, replace
from math import comb
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from klpcheck import Model, ModelError, UsageError, check, set_at
from klpcheck.cli import main
from klpcheck.trace.files import load_counterexample, replay, save_counterexample
from tests.por_models import Lock, lock

CI = settings(
    derandomize=True,
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

SLOW = settings(CI, max_examples=3000)

Perm = tuple[int, ...]


def permute(values: tuple[Any, ...], g: Perm) -> tuple[Any, ...]:
    """Process i's value moves to process g[i]."""
    out = list(values)
    for i, v in enumerate(values):
        out[g[i]] = v
    return tuple(out)


def symmetric_lock(n: int, *, invariant: bool = False) -> Model[Lock]:
    """The lock model of tests/por_models.py with every permutation of its processes."""
    model = lock(n, invariant=invariant)

    @model.symmetry(list(itertools.permutations(range(n))))
    def rename(s: Lock, g: Perm) -> Lock:
        """Process i becomes process g[i]; so does the lock's owner."""
        return Lock(g[s.lock] if s.lock >= 0 else -1, permute(s.pc, g))

    return model


def reachable_states(model: Model[Any]) -> set[Hashable]:
    """Every reachable state, by a plain breadth-first search written here."""
    seen: set[Hashable] = set(model.init)
    todo = deque(model.init)
    while todo:
        s = todo.popleft()
        for inst in model.instances():
            guard, effect = inst.step.guard, inst.step.effect
            if guard is None or guard(s, *inst.args):
                ns = effect(s, *inst.args)
                if ns not in seen:
                    seen.add(ns)
                    todo.append(ns)
    return seen


def lock_orbit(s: Lock) -> Hashable:
    return tuple(sorted(s.pc)), None if s.lock < 0 else s.pc[s.lock]


# -- the lock model -------------------------------------------------------------------


@pytest.mark.parametrize(("n", "orbits"), [(4, 105), (5, 196)])
def test_lock_orbits_are_the_multisets_of_pcs(n: int, orbits: int) -> None:
    full = {lock_orbit(s) for s in reachable_states(lock(n))}  # type: ignore[arg-type]
    # at most one process at pc 1 (it holds the lock): multisets over the other 5 pcs
    assert len(full) == comb(n + 4, 4) + comb(n + 3, 4) == orbits
    r = check(symmetric_lock(n))
    assert r.distinct_states == orbits
    assert r.holds
    assert r.symmetry is not None
    assert (r.symmetry.renamings, r.symmetry.orbits) == (
        len(list(itertools.permutations(range(n)))),
        orbits,
    )


@pytest.mark.parametrize(
    "options",
    [
        {"order": "bfs"},
        {"order": "dfs"},
        {"storage": "fingerprint"},
        {"workers": 2},
        {"workers": 2, "storage": "fingerprint"},
    ],
    ids=["bfs", "dfs", "fingerprint", "workers", "workers-fingerprint"],
)
def test_every_search_mode_counts_the_same_orbits(options: dict[str, Any]) -> None:
    r = check(symmetric_lock(4, invariant=True), **options)
    assert (r.verdict.value, r.distinct_states) == ("holds", 105)
    assert r.symmetry is not None
    assert r.symmetry.orbits == 105


def test_no_symmetry_searches_every_state() -> None:
    full = check(lock(4), por=False)
    off = check(symmetric_lock(4), symmetry=False, por=False)
    assert off.distinct_states == full.distinct_states == len(reachable_states(lock(4)))
    assert off.symmetry is None


# -- partial-order reduction ------------------------------------------------------------


def test_por_is_off_with_a_reason_when_symmetry_is_used() -> None:
    r = check(symmetric_lock(4))
    assert not r.reduction.used
    assert r.reduction.reason.startswith("symmetry reduction is in use")
    assert check(symmetric_lock(4), symmetry=False).reduction.used


def test_por_and_symmetry_together_are_a_usage_error() -> None:
    with pytest.raises(UsageError) as err:
        check(symmetric_lock(3), por=True)
    assert str(err.value) == (
        "partial-order reduction and symmetry reduction do not combine soundly in "
        "general; drop --por (por=True) or pass --no-symmetry (symmetry=False)"
    )
    assert check(symmetric_lock(3), por=True, symmetry=False).reduction.used


def test_symmetry_true_without_a_declared_group_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match=r"declares no @model\.symmetry"):
        check(lock(3), symmetry=True)


# -- a violation through one process ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Race:
    pc: tuple[int, ...]
    count: int = 0


def head_start(n: int = 3) -> Model[Race]:
    """Process n-1 starts at pc 5; it alone can jump, once another process is at pc 2."""
    model = Model("head_start", init=Race((0,) * (n - 1) + (5,)))

    @model.step(when=lambda s, t: s.pc[t] < 3, over=range(n))
    def advance(s: Race, t: int) -> Race:
        """Process t takes a local step."""
        return replace(s, pc=set_at(s.pc, t, s.pc[t] + 1), count=s.count + 1)

    @model.step(when=lambda s, t: s.pc[t] == 5 and 2 in s.pc, over=range(n))
    def jump(s: Race, t: int) -> Race:
        """Process t jumps ahead."""
        return replace(s, pc=set_at(s.pc, t, 6))

    @model.invariant
    def nobody_jumps(s: Race) -> bool:
        """No process reaches pc 6."""
        return 6 not in s.pc

    @model.symmetry(list(itertools.permutations(range(n))))
    def rename(s: Race, g: Perm) -> Race:
        return replace(s, pc=permute(s.pc, g))

    return model


@pytest.mark.parametrize(
    "options", [{}, {"order": "dfs"}, {"storage": "fingerprint"}, {"workers": 2}]
)
def test_a_violation_through_one_process_is_found_and_replays(
    options: dict[str, Any], tmp_path: Path
) -> None:
    model = head_start()
    r = check(model, deadlock=False, **options)
    v = r.violation("nobody_jumps")
    assert v is not None
    assert v.trace is not None
    last = v.trace.steps[-1]
    assert (last.step, last.params) == ("jump", {"t": 2})
    assert not model.invariants[0].predicate(last.state)
    if not options:
        labels = [(s.step, s.params) for s in v.trace.steps]
        assert labels == [
            ("advance", {"t": 0}),
            ("advance", {"t": 0}),
            ("jump", {"t": 2}),
        ]
    path = save_counterexample(model, v, tmp_path, order=r.order)
    assert len(replay(load_counterexample(path), model).trace.steps) == len(
        v.trace.steps
    )


# -- registration and errors --------------------------------------------------------------


def test_registration_refuses_an_empty_group_a_second_symmetry_and_a_non_function() -> (
    None
):
    model = lock(2)
    with pytest.raises(ModelError, match="symmetry group is empty"):
        model.symmetry([])
    with pytest.raises(ModelError, match="is not a function"):
        model.symmetry([(1, 0)])(42)  # type: ignore[arg-type]
    model.symmetry([(1, 0)])(lambda s, g: s)
    with pytest.raises(ModelError, match="declares @symmetry twice"):
        model.symmetry([(1, 0)])(lambda s, g: s)


def _renamed_by(rename: Callable[[Lock, Perm], Any]) -> Model[Lock]:
    model = lock(2)
    model.symmetry([(1, 0)])(rename)
    return model


def test_a_rename_that_returns_no_state_is_a_model_error() -> None:
    with pytest.raises(ModelError) as err:
        check(_renamed_by(lambda s, g: None))
    assert str(err.value).startswith(
        "symmetry rename `<lambda>` returned NoneType None"
    )


def test_a_rename_that_raises_is_a_model_error_naming_symmetry_rename() -> None:
    with pytest.raises(ModelError) as err:
        check(_renamed_by(lambda s, g: s.pc[7]))
    assert str(err.value) == (
        "symmetry rename `<lambda>` raised IndexError: tuple index out of range for "
        "g=(1, 0) in state Lock(lock=-1, pc=(0, 0))"
    )


# -- the audit ------------------------------------------------------------------------------


def test_audit_passes_on_a_sound_symmetry() -> None:
    r = check(symmetric_lock(3, invariant=True), audit=True)
    assert r.holds
    assert r.distinct_states == comb(3 + 4, 4) + comb(3 + 3, 4) == 50
    assert any(n.startswith("symmetry audit: in 50 states") for n in r.notes)


def test_audit_catches_a_rename_that_is_not_an_automorphism() -> None:
    model = symmetric_lock(2)

    @model.step(when=lambda s: s.pc[0] == 3)
    def favour(s: Lock) -> Lock:
        """Only process 0 may skip to pc 5."""
        return replace(s, pc=set_at(s.pc, 0, 5))

    assert check(model).holds  # without the audit nobody notices
    with pytest.raises(ModelError) as err:
        check(model, audit=True)
    assert str(err.value) == (
        "symmetry audit: g=(1, 0) is not an automorphism: step favour from state "
        "Lock(lock=-1, pc=(3, 0)) leads to an orbit that no step from its renaming "
        "reaches; renaming a state must rename its successors"
    )


def test_audit_catches_an_invariant_that_is_not_symmetric() -> None:
    model = symmetric_lock(2)

    @model.invariant
    def first_lags(s: Lock) -> bool:
        """Process 0 is never past pc 4."""
        return s.pc[0] <= 4

    # the first violation would end the search before a state with pc 5 is expanded
    with pytest.raises(ModelError) as err:
        check(model, audit=True, keep_going=True)
    assert str(err.value) == (
        "symmetry audit: invariant `first_lags` is False in state "
        "Lock(lock=-1, pc=(5, 0)) but True in its renaming by g=(1, 0); every "
        "property must give the same answer on a state and its renamings"
    )


def test_audit_catches_generators_given_for_a_group() -> None:
    model = lock(3)

    @model.symmetry([(1, 0, 2), (0, 2, 1)])  # two transpositions generate S3
    def rename(s: Lock, g: Perm) -> Lock:
        return Lock(g[s.lock] if s.lock >= 0 else -1, permute(s.pc, g))

    with pytest.raises(ModelError) as err:
        check(model, audit=True)
    assert str(err.value) == (
        "symmetry audit: state Lock(lock=-1, pc=(2, 0, 0)) and its renaming by "
        "g=(1, 0, 2) have different canonical forms; the group must be closed under "
        "composition: list every element, not only generators"
    )


# -- random symmetric models ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Shared:
    pc: tuple[int, ...]
    counter: int = 0


PCS = 4
# per pc: the pc reached, how much the counter changes, and the bound it needs
Table = list[tuple[int, int, int]]


def random_model(
    n: int,
    table: Table,
    limits: list[tuple[int, int]],
    rank: list[int] | None = None,
) -> Model[Shared]:
    """With ``rank`` (a number per pc), the symmetry names as candidates the renamings
    that sort the processes on the rank of their pc (ties broken every way)."""
    model = Model("random_symmetric", init=Shared((0,) * n))

    @model.step(
        when=lambda s, t: table[s.pc[t]][2] >= s.counter and s.counter < 4,
        over=range(n),
    )
    def local(s: Shared, t: int) -> Shared:
        to, delta, _ = table[s.pc[t]]
        return Shared(set_at(s.pc, t, to), max(0, s.counter + delta))

    for i, (pc, k) in enumerate(limits):
        model.invariant(at_most(f"few_{i}", pc, k))

    group = list(itertools.permutations(range(n)))
    candidates = None if rank is None else sorting(lambda s, t: rank[s.pc[t]], n)

    @model.symmetry(group, candidates=candidates)
    def rename(s: Shared, g: Perm) -> Shared:
        return Shared(permute(s.pc, g), s.counter)

    return model


def sorting(local: Callable[[Any, int], int], n: int) -> Callable[[Any], list[Perm]]:
    """Candidates: every g (``g[old] == new``) that sorts the processes on ``local``."""

    def candidates(s: Any) -> list[Perm]:
        keys = [local(s, t) for t in range(n)]
        return [
            g
            for g in itertools.permutations(range(n))
            if all(keys[g.index(i)] <= keys[g.index(i + 1)] for i in range(n - 1))
        ]

    return candidates


def at_most(name: str, pc: int, k: int) -> Callable[[Shared], bool]:
    """An invariant named ``name``: at most k processes are at ``pc``."""

    def few(s: Shared) -> bool:
        return sum(p == pc for p in s.pc) <= k

    few.__name__ = name
    return few


tables = st.lists(
    st.tuples(st.integers(0, PCS - 1), st.integers(-1, 1), st.integers(0, 4)),
    min_size=PCS,
    max_size=PCS,
)
limits = st.lists(st.tuples(st.integers(0, PCS - 1), st.integers(0, 3)), max_size=3)


@CI
@given(n=st.integers(2, 4), table=tables, limits=limits)
def test_random_symmetric_models_agree_with_the_full_search(
    n: int, table: Table, limits: list[tuple[int, int]]
) -> None:
    _agrees_with_the_full_search(n, table, limits)


@pytest.mark.slow
@SLOW
@given(n=st.integers(2, 4), table=tables, limits=limits)
def test_many_random_symmetric_models_agree_with_the_full_search(
    n: int, table: Table, limits: list[tuple[int, int]]
) -> None:
    _agrees_with_the_full_search(n, table, limits)


def _agrees_with_the_full_search(
    n: int, table: Table, limits: list[tuple[int, int]]
) -> None:
    """Orbits are the canonical forms of the full search's states; the same violations,
    each with a trace that ends in a violating state and is as short as the full one's."""
    model = random_model(n, table, limits)
    canonical = {
        (tuple(sorted(s.pc)), s.counter)  # type: ignore[attr-defined]
        for s in reachable_states(model)
    }
    full = check(model, symmetry=False, keep_going=True, deadlock=False)
    reduced = check(model, keep_going=True, deadlock=False)
    assert reduced.distinct_states == len(canonical)
    assert {v.property for v in reduced.violations} == {
        v.property for v in full.violations
    }
    shortest = {v.property: len(v.trace or ()) for v in full.violations}
    for v in reduced.violations:
        assert v.trace is not None
        final = v.trace.steps[-1].state if v.trace.steps else v.trace.init
        prop = next(p for p in model.invariants if p.name == v.property)
        assert not prop.predicate(final)
        # a state and its renamings are equally deep: orbit BFS traces are shortest too
        assert len(v.trace) == shortest[v.property]


@CI
@given(
    n=st.integers(2, 4),
    table=tables,
    rank=st.lists(st.integers(0, 2), min_size=PCS, max_size=PCS),
)
def test_candidates_that_sort_on_any_function_keep_the_orbits(
    n: int, table: Table, rank: list[int]
) -> None:
    """Sorting on any function of the local state (even a constant, or one that merges
    pcs) gives exactly the orbits and transitions of the exhaustive canonical form."""
    exhaustive = check(random_model(n, table, []), deadlock=False)
    sorted_ = check(random_model(n, table, [], rank), deadlock=False)
    assert (sorted_.distinct_states, sorted_.transitions, sorted_.max_depth) == (
        exhaustive.distinct_states,
        exhaustive.transitions,
        exhaustive.max_depth,
    )


def test_candidates_that_do_not_minimise_split_orbits_and_the_audit_says_so() -> None:
    model = symmetric_lock(3)
    exhaustive = check(model).distinct_states
    sym = model.renaming
    assert sym is not None
    model.renaming = replace(sym, candidates=lambda s: [(0, 1, 2)])  # identity only
    unsorted = check(model)
    assert unsorted.verdict.value == "holds"
    assert unsorted.distinct_states > exhaustive
    with pytest.raises(ModelError, match="minimise one function of rename"):
        check(model, audit=True)


def test_candidates_outside_the_group_are_a_model_error() -> None:
    model = symmetric_lock(3)
    sym = model.renaming
    assert sym is not None
    model.renaming = replace(sym, candidates=lambda s: [(0, 0, 1)])
    with pytest.raises(ModelError, match=r"named \(0, 0, 1\), which is not an element"):
        check(model)


# -- the command line -------------------------------------------------------------------


def _run(*args: str) -> tuple[int, str]:
    r = CliRunner().invoke(
        main, [*args, "--no-save"], env={"NO_COLOR": "1", "COLUMNS": "200"}
    )
    return r.exit_code, r.output


def test_the_command_line_prints_the_symmetry_line_and_honours_no_symmetry(
    tmp_path: Path,
) -> None:
    path = tmp_path / "sym.py"
    path.write_text(
        "from tests.test_symmetry import symmetric_lock\nmodel = symmetric_lock(4)\n"
    )
    report = tmp_path / "report.json"
    code, out = _run("run", str(path), "--json", str(report))
    assert code == 0
    assert (
        "symmetry: 24 renamings; 105 orbits (--no-symmetry for the full search)" in out
    )
    assert "partial-order reduction:" not in out
    data = json.loads(report.read_text())
    assert data["symmetry"] == {"used": True, "renamings": 24, "orbits": 105}
    assert data["search"]["symmetry"] is None
    assert data["counts"]["distinct_states"] == 105
    code, out = _run("run", str(path), "--no-symmetry", "--json", str(report))
    assert code == 0
    assert "symmetry:" not in out
    assert "partial-order reduction:" in out
    data = json.loads(report.read_text())
    assert data["symmetry"] == {"used": False}
    assert data["search"]["symmetry"] is False


def test_the_command_line_reports_a_failed_symmetry_audit_in_one_line(
    tmp_path: Path,
) -> None:
    path = tmp_path / "bad.py"
    path.write_text(
        "from tests.test_symmetry import symmetric_lock\n"
        "model = symmetric_lock(2)\n"
        "@model.invariant\n"
        "def first_lags(s):\n"
        "    return s.pc[0] <= 4\n"
    )
    code, out = _run("run", str(path), "--audit", "--continue")
    assert code == 2
    assert out.startswith("error: symmetry audit: invariant `first_lags` is False")
    assert out.count("\n") == 1
