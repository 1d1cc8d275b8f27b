"""Several worker processes: the same counts, verdicts and trace lengths as one."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time

import pytest

from klpcheck import Model, ModelError, UsageError, Verdict, check
from klpcheck.base.options import Options
from klpcheck.base.result import Result
from klpcheck.gate.manifest import Entry, compare, load_manifest, run_entry
from klpcheck.model.loader import load_model
from klpcheck.search.parallel import shard_of
from klpcheck.search.plan import compose
from klpcheck.search.storage import hash_key
from tests.conftest import MODELS, SMALL, full_search
from tests.toy_models import chain, counters, flag_race, pair_target

# Every model file, at the sizes that run in a second or less (liveness entries need
# one process and exact storage).
ENTRIES = [
    e
    for e in load_manifest(MODELS / "manifest.toml")
    if not e.slow and e.states < SMALL and not e.params.get("live")
]


@pytest.mark.parametrize("storage", ["exact", "fingerprint"])
@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.id)
def test_two_workers_match_every_pin(entry: Entry, storage: str) -> None:
    assert compare(entry, run_entry(entry, storage=storage, workers=2)) == []


def _fired_alike(one: Result, two: Result) -> None:
    """Workers fired every step as often as one process, found as many states and
    witnesses as long; which step finds a state first depends on the order of
    expansion, not how many are found."""
    assert (two.transitions, two.max_depth) == (one.transitions, one.max_depth)
    assert {n: s.fired for n, s in two.step_stats.items()} == {
        n: s.fired for n, s in one.step_stats.items()
    }
    assert sum(s.new_states for s in two.step_stats.values()) == sum(
        s.new_states for s in one.step_stats.values()
    )
    assert {n: len(t) for n, t in two.witnesses.items()} == {
        n: len(t) for n, t in one.witnesses.items()
    }


@pytest.mark.parametrize("entry", ENTRIES[:4], ids=lambda e: e.id)
def test_two_workers_fire_every_step_as_often_as_one(entry: Entry) -> None:
    _fired_alike(full_search(entry), run_entry(entry, workers=2))


# The entries whose steps declare what they write: incremental enabledness applies.
INCREMENTAL = [
    e
    for e in ENTRIES
    if any(s.writes is not None for s in load_model(e.model, e.params).steps)
]


@pytest.mark.parametrize(
    "entry",
    # the larger ones (a second each) under -m slow; the suite's budget
    [
        pytest.param(e, marks=[pytest.mark.slow] if e.states > 700 else [])
        for e in INCREMENTAL
    ],
    ids=lambda e: e.id,
)
def test_workers_with_incremental_enabledness_match_one_process(entry: Entry) -> None:
    model = load_model(entry.model, entry.params)
    assert compose(model, Options(incremental=True, por=False)).incremental is not None
    one = run_entry(entry, incremental=True)
    two = run_entry(entry, incremental=True, workers=2)
    assert compare(entry, two) == []
    _fired_alike(one, two)


@pytest.mark.parametrize("workers", [2, 3])
@pytest.mark.parametrize(
    "model", [counters(3, 4), flag_race(), chain(3), pair_target(2, 3)]
)
def test_toy_models_agree(model: Model[object], workers: int) -> None:
    one = check(model, keep_going=True)
    many = check(model, keep_going=True, workers=workers)
    assert (many.verdict, many.distinct_states, many.transitions) == (
        one.verdict,
        one.distinct_states,
        one.transitions,
    )
    assert [len(v.trace or ()) for v in many.violations] == [
        len(v.trace or ()) for v in one.violations
    ]


def test_the_first_violation_is_a_shortest_one() -> None:
    r = check(flag_race(), workers=2)
    assert r.verdict is Verdict.VIOLATED
    (v,) = r.violations
    assert v.trace is not None
    assert len(v.trace) == 4
    assert v.trace.last.pc[0].value == v.trace.last.pc[1].value == "critical"


def test_bounds_make_the_search_incomplete() -> None:
    r = check(counters(3, 4), max_states=10, workers=2)
    assert r.verdict is Verdict.INCOMPLETE
    assert r.distinct_states <= 10
    assert r.incomplete_reason == "state bound of 10 reached"
    r = check(counters(3, 4), max_depth=8, workers=2)
    assert (r.verdict, r.incomplete_reason) == (
        Verdict.INCOMPLETE,
        "depth bound of 8 reached",
    )
    assert check(counters(3, 4), max_depth=9, workers=2).holds


def test_time_limit_makes_an_endless_search_incomplete() -> None:
    m = Model[int]("endless", init=0)

    @m.step
    def grow(s: int) -> int:
        """Count up forever."""
        return s + 1

    r = check(m, time_limit=0.3, workers=2)
    assert r.verdict is Verdict.INCOMPLETE
    assert r.incomplete_reason == "time limit of 0.3 s reached"


def test_an_unreached_target_in_an_incomplete_search_is_not_a_violation() -> None:
    r = check(pair_target(2, 3), max_states=4, workers=2)
    assert (r.verdict, r.violations) == (Verdict.INCOMPLETE, ())


def test_a_raising_step_is_diagnosed_as_with_one_process() -> None:
    m = Model[int]("m", init=0)

    @m.step(over=range(2), when=lambda s, t: s < 3)
    def divide(s: int, t: int) -> int:
        """Fails once s reaches 1."""
        return s + 1 + 0 // (1 - s)

    with pytest.raises(ModelError) as one:
        check(m)
    with pytest.raises(ModelError) as two:
        check(m, workers=2)
    assert str(two.value) == str(one.value)


def test_a_step_that_is_not_deterministic_is_reported() -> None:
    # A worker keeps no state it sent to its owner: it fires the step again for the
    # ones answered new, and the state must hash as it did.
    calls = iter(range(10**6))
    m = Model[tuple[int, int]]("drift", init=(0, 0))

    @m.step(when=lambda s: s[0] < 40)
    def tick(s: tuple[int, int]) -> tuple[int, int]:
        """Counts how often it was called: not a function of the state."""
        return (s[0] + 1, next(calls))

    assert check(m, deadlock=False).distinct_states == 41  # one process never re-fires
    with pytest.raises(
        ModelError, match="model `drift` is not deterministic: step tick"
    ):
        check(m, workers=2, deadlock=False)


def test_workers_need_breadth_first_order() -> None:
    with pytest.raises(UsageError, match="breadth-first"):
        check(counters(2, 2), workers=2, order="dfs")
    with pytest.raises(UsageError, match="workers must be"):
        check(counters(2, 2), workers=0)


def test_owners_are_stable_and_spread() -> None:
    m = Model("grid", init=(0, 0, "x"))
    key = hash_key(m, False)
    owners = [shard_of(key((i, j, "x")), 2) for i in range(20) for j in range(20)]
    assert 150 < owners.count(0) < 250
    sets = Model("sets", init=(1, frozenset({"b", "c"})))
    assert hash_key(sets, False)((1, frozenset({"b", "c"}))) == hash_key(sets, False)(
        (1, frozenset({"c", "b"}))
    )


def test_hashes_are_the_same_in_every_process() -> None:
    # Ray actors on other machines must agree with this process on every hash.
    code = (
        "from klpcheck import Model; from klpcheck.search.storage import hash_key; "
        "m = Model('sets', init=(1, frozenset({'b', 'c', 'd'}))); "
        "print(hash_key(m, False)(m.init[0]))"
    )
    seen = {
        subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in ("1", "2")
    }
    assert len(seen) == 1


def test_an_interrupt_gives_an_incomplete_result() -> None:
    def interrupt(progress: object) -> None:
        raise KeyboardInterrupt

    r = check(counters(4, 10), progress=interrupt, progress_interval=0.0, workers=2)
    assert r.verdict is Verdict.INCOMPLETE
    assert r.incomplete_reason == "interrupted"
    assert r.distinct_states < 10**4


def test_the_frontier_is_shared_between_workers() -> None:
    r = check(counters(4, 8), workers=2)
    assert r.distinct_states == 8**4
    note, collisions = r.notes
    assert collisions.startswith(
        "fingerprint storage: the probability that a collision"
    )
    cpu = [float(c) for c in note.rpartition(": ")[2].split(", ")]
    assert len(cpu) == 2
    assert min(cpu) > 0.2 * max(cpu)


def _children(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return [int(c) for c in f.read().split()]


def _running(pid: int) -> bool:
    """Alive and not a zombie (an orphan's zombie waits for whoever adopts it)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            return not any(
                line.startswith("State:") and "Z" in line.split()[1] for line in f
            )
    except FileNotFoundError:
        return False


@pytest.mark.skipif(
    not os.path.exists(f"/proc/{os.getpid()}/task/{os.getpid()}/children"),
    reason="reads the process tree from Linux's /proc",
)
def test_workers_end_when_their_coordinator_is_killed() -> None:
    # SIGKILL leaves the coordinator no time to stop them: each worker must find its
    # pipe closed (no other process may hold the coordinator's end open).
    code = (
        "from klpcheck import check\n"
        "from klpcheck.model.loader import load_model\n"
        "check(load_model('models/livepatch.py', {'tasks': 3}), workers=2)\n"
    )
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=root)
    workers: list[int] = []
    try:
        deadline = time.monotonic() + 60
        while len(workers) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
            workers = _children(proc.pid)
        assert len(workers) == 2
        time.sleep(0.5)  # into the search
        proc.kill()
        proc.wait()
        deadline = time.monotonic() + 15
        while any(map(_running, workers)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [w for w in workers if _running(w)]
    finally:
        proc.kill()
        for w in workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(w, signal.SIGKILL)
