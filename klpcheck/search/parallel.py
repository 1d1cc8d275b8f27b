"""Breadth-first search with several workers, level by level, over 64-bit state hashes.

The design is that of LTSmin's distributed breadth-first search and TLC's sharded
fingerprint sets (Laarman, van de Pol and Weber, "Boosting multi-core reachability
performance with shared hash tables", 2010, and Yu, Manolios and Lamport, "Model
checking TLA+ specifications", 1999, for the fingerprint sets): every worker **expands
the states it generated** and **owns one shard of the visited set**, the hashes ``h``
with :func:`shard_of` ``(h) == index``. A hash is the state's 64-bit fingerprint (its
orbit's under symmetry) from :func:`klpcheck.search.storage.hash_key`, the same in
every process and on every machine. A level runs in four rounds, each one request to
every worker and one reply (:mod:`klpcheck.search.transport`):

1. ``expand``: each worker fires every step in each of its frontier states and hands
   the successors to its :class:`~klpcheck.search.routing.Router` (one C call per
   expanded state when the speedups are built). A successor of its own shard is looked
   up and, if new, recorded. For any other it sends only ``(hash, parent hash, step
   instance id)`` to the owner, in one batch per owner (native 64-bit words, as
   bytes), and keeps only its parent's position in the frontier: most successors sent
   are known already, and the few answered new are fired again from their parents. A
   hash sent in this level or the two before is not sent again.
2. ``check``: each owner records the hashes it was sent that it has not seen, each with
   its parent hash and instance id, and answers one byte per hash: new or seen.
3. ``gather`` and ``admit_fresh``: each generator collects the new states of its own
   shard and those flagged new, the shares are evened out (below), and each worker
   checks the invariants and reachable targets on the new states it holds and keeps
   them as its next frontier.

With incremental enabledness (:mod:`klpcheck.model.enabled`, where the plan allows it,
as in one process) each frontier state carries its enabled mask, and a new state its
parent's until it is admitted: its own is then refreshed from its parent's and the
instance fired, and only the properties that instance may change are checked on it.
Masks travel with states when shares are evened out.

Before the new states are admitted the coordinator evens out the shares: each worker
collects its new states and hands some to the emptiest workers (``gather``), then every
worker admits what it holds (``admit_fresh``). A worker keeps what it generated, so
without this the worker of the initial state would expand everything; after the first
levels shares stay about even, and states seldom travel. Moving them before the checks
shares both the checks and the next expansion evenly.

A counterexample is rebuilt by asking the owners for each hash's parent, back to an
initial state, and re-executing the recorded steps from it
(:func:`~klpcheck.search.storage.rebuild_trace`).

All states of depth d are admitted before any of depth d + 1, so every violation found
is at its shortest depth, as in the single-process search; distinct-state and transition
counts and verdicts are the same, up to a hash collision, whose probability the result
notes as fingerprint storage does. Which of several shortest traces is reported can
differ. Liveness properties need the whole state graph in one place and stay with the
single-process search.
"""

from __future__ import annotations

import enum
import functools
import gc
import sys
import time
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any

from klpcheck.base.errors import ModelError
from klpcheck.base.options import Options, Progress
from klpcheck.base.resources import memory_over
from klpcheck.base.result import Result, Trace, Violation, verdict_of
from klpcheck.model.definition import (
    Model,
    Property,
    check_answers,
    not_a_bool,
    successors_of,
)
from klpcheck.model.enabled import Incremental, incremental
from klpcheck.model.fingerprint import collision_note
from klpcheck.model.fptable import new_table
from klpcheck.reduce.symmetry import symmetry_use
from klpcheck.search.common import CLOCK_EVERY, diagnose, step_stats, wrong_type
from klpcheck.search.plan import Plan
from klpcheck.search.routing import new_router
from klpcheck.search.storage import hash_key, rebuild_trace
from klpcheck.search.transport import LocalTransport, Transport

__all__ = ["search", "shard_of"]

_DEADLOCK_DOC = "A state that is not terminal has no enabled step."


def shard_of(h: int, workers: int) -> int:
    """The worker that owns hash ``h``: the same in every process and on every machine.

    The high half of the hash is used, so that the low bits (which a hash table indexes
    by) stay uniform within one shard.

    Examples
    --------
    >>> shard_of(0x9E3779B97F4A7C15, 2), shard_of(0x9E3779B97F4A7C15, 3)
    (1, 0)
    """
    return (h >> 32) % workers


# -- the worker side -------------------------------------------------------------------


@dataclass
class _Found:
    """A violation, deadlock or reached target seen by a worker: its depth and hash."""

    name: str
    depth: int
    key: int


@dataclass
class _LevelReport:
    """What a worker reports after each round."""

    visited: int
    frontier: int
    bound: str | None = None
    found: list[_Found] = field(default_factory=list)
    fresh: int = 0  # after expand: the new states of the worker's own shard
    cpu: float = 0.0  # the worker's CPU seconds so far


# new states not yet admitted: states, hashes, instances that led to them, and (with
# incremental enabledness) their parents' enabled masks
_Fresh = tuple[list[Any], list[int], list[int], list[Any]]


class _Worker:
    """One shard of the visited hashes, and the frontier states this worker generated."""

    def __init__(
        self,
        model: Model[Any],
        opts: Options,
        symmetric: bool,
        index: int,
        workers: int,
        use_incremental: bool = False,
    ) -> None:
        gc.freeze()  # in a forked worker, what it inherited is never garbage
        self.model, self.opts = model, opts
        self.index, self.workers = index, workers
        instances = model.instances()
        # incremental enabledness, where the plan allows it (built here: a Ray actor
        # cannot be sent the generated functions)
        self.inc: Incremental | None = (
            # (the plan allows it only for one state type: its writes are checked)
            incremental(
                instances,
                next(iter(model.state_types)),
                trust=opts.incremental is True,
            )
            if use_incremental
            else None
        )
        self.successors = (
            successors_of(instances) if self.inc is None else self.inc.successors
        )
        self.key: Callable[[Any], int] = hash_key(model, symmetric)
        # hash -> parent hash (None for an initial state) and instance id
        self.visited = new_table(steps=True)
        self.router = new_router(
            self.key,
            self.visited,
            index,
            workers,
            len(instances),
            tuple(model.state_types),
        )
        # the frontier: states, their hashes and (incremental) their enabled masks
        self.frontier: list[Any] = []
        self.keys: list[int] = []
        self.masks: list[int] = []
        # what the last expand produced: new states of this shard (states, hashes,
        # instances, parents' masks), per owner the successors sent to it (triples and
        # their parents' positions), and the level expanded (states and masks)
        self.fresh: _Fresh = ([], [], [], [])
        self.pending: dict[int, tuple[bytes, bytes]] = {}
        self.expanded: tuple[list[Any], list[int]] = ([], [])
        self.new = [0] * len(
            instances
        )  # new states admitted from other owners' answers
        self.invariants: list[Property] = list(model.invariants)
        self.targets: list[Property] = list(model.reachables)
        self.watched: list[tuple[list[Property], list[Property]]] = []
        self.regroup()
        self.found: list[_Found] = []
        self.allowance = sys.maxsize
        self.deadlock = bool(opts.deadlock)
        self.bound: str | None = None
        self.current: Any = None  # the state being worked on, for diagnosis
        self.memory = opts.max_memory  # each worker holds its share of the search

    def report(self) -> _LevelReport:
        found, self.found = self.found, []
        bound, self.bound = self.bound, None
        return _LevelReport(
            len(self.visited), len(self.frontier), bound, found, cpu=time.process_time()
        )

    def regroup(self) -> None:
        """Incremental: the properties each instance's firing may change (as one process)."""
        if self.inc is None:
            return
        self.watched = self.inc.watched(self.invariants, self.targets)

    def judge(
        self,
        s: Any,
        h: int,
        depth: int,
        invariants: list[Property],
        targets: list[Property],
    ) -> None:
        """Check ``invariants`` and the reachable ``targets`` on a new state."""
        for prop in invariants:
            answer = prop.predicate(s)
            if answer is not True:
                if answer is not False:
                    raise not_a_bool(f"{prop.kind} {prop.name}", answer, s)
                self.found.append(_Found(prop.name, depth, h))
                # a new list: the loops go on over the old one
                self.invariants = [p for p in self.invariants if p is not prop]
                self.regroup()
        for prop in targets:
            answer = prop.predicate(s)
            if answer is not False:
                if answer is not True:
                    raise not_a_bool(f"{prop.kind} {prop.name}", answer, s)
                self.found.append(_Found(prop.name, depth, h))
                self.targets = [p for p in self.targets if p is not prop]
                self.regroup()

    def admit(
        self,
        states: list[Any],
        keys: list[int],
        steps: list[int] | None,
        own_masks: list[int] | None,
        depth: int,
    ) -> None:
        """New states join the next frontier; check them.

        ``steps`` and ``own_masks`` (the instances that led to them and, with incremental
        enabledness, their own enabled masks, computed when they were gathered) are
        given for states that have a parent; with incremental enabledness only the
        properties the instance may change are checked.
        """
        inc, i, s = self.inc, 0, None
        try:
            if inc is None:
                judge = self.judge
                for i, s in enumerate(states):
                    if self.invariants or self.targets:
                        judge(s, keys[i], depth, self.invariants, self.targets)
            elif steps is None or own_masks is None:
                for i, s in enumerate(states):
                    self.masks.append(inc.full(s))
                    self.judge(s, keys[i], depth, self.invariants, self.targets)
            else:
                # Only the properties instance k may change: the parent held every
                # invariant still checked and met no target still sought.
                masks, judge, spill = self.masks, self.judge, inc.spill
                for i, s in enumerate(states):
                    k = steps[i]
                    mask = own_masks[i]
                    if mask >= spill:  # k changed more than it declares: check all
                        masks.append(mask ^ spill)
                        judge(s, keys[i], depth, self.invariants, self.targets)
                        continue
                    masks.append(mask)
                    invariants, targets = self.watched[k]
                    if invariants or targets:
                        live = [p for p in targets if p in self.targets]
                        judge(s, keys[i], depth, invariants, live)
        except Exception:
            self.current = s
            raise
        self.frontier += states
        self.keys += keys

    # -- requests ----------------------------------------------------------------------

    def start(self, allowance: int) -> _LevelReport:
        """Admit the initial states of this shard, one per hash (the first in order)."""
        seen: set[int] = set()
        states, keys = [], []
        for s in self.model.init:
            check_answers(self.model, s)
            self.current = s
            h = self.key(s)
            if h in seen:
                continue  # under symmetry, another state of an orbit already seen
            seen.add(h)
            if shard_of(h, self.workers) != self.index:
                continue
            if allowance <= 0:
                self.bound = f"state bound of {self.opts.max_states} reached"
                continue
            allowance -= 1
            self.visited.add(h, None, 0)
            states.append(s)
            keys.append(h)
        self.allowance = allowance
        self.admit(states, keys, None, None, 0)
        self.current = None
        return self.report()

    def expand(
        self, depth: int, at_bound: bool, allowance: int, budget: float | None
    ) -> tuple[_LevelReport, dict[int, bytes]]:
        """Fire every step in every frontier state; record own successors, batch others.

        A batch for an owner is one ``array('Q')`` of ``(hash, parent hash, instance
        id)`` triples, as bytes (:class:`~klpcheck.search.routing.Router`). ``budget``
        is the time left in seconds (the clocks of two machines do not agree).
        """
        deadline = None if budget is None else time.perf_counter() + budget
        n = self.workers
        router, inc = self.router, self.inc
        route = router.route
        frontier, keys, masks = self.frontier, self.keys, self.masks
        self.frontier, self.keys, self.masks = [], [], []
        router.begin(at_bound, allowance)
        bad: tuple[int, Any] | None = None
        s: Any = None
        try:
            start = 0
            while start < len(frontier) and bad is None:
                stop = start + CLOCK_EVERY
                if inc is None:
                    successors = self.successors
                    for i, (s, hs) in enumerate(
                        zip(frontier[start:stop], keys[start:stop], strict=True), start
                    ):
                        succs = successors(s)
                        if succs:
                            bad = route(succs, hs, None, i)
                            if bad is not None:
                                break
                        else:
                            self.dead_end(s, hs, depth)
                else:
                    fire = inc.fire
                    for i, (s, hs, ms) in enumerate(
                        zip(
                            frontier[start:stop],
                            keys[start:stop],
                            masks[start:stop],
                            strict=True,
                        ),
                        start,
                    ):
                        succs = fire(s, ms)
                        if succs:
                            # the parent goes with its mask: the check of declared
                            # writes, when the new states are gathered, compares them
                            bad = route(succs, hs, (ms, s), i)
                            if bad is not None:
                                break
                        else:
                            self.dead_end(s, hs, depth)
                start = stop
                gc.freeze()  # see common.frozen_gc; what a level makes is long-lived
                if deadline is not None and time.perf_counter() >= deadline:
                    self.bound = f"time limit of {self.opts.time_limit:g} s reached"
                    break
                if self.memory is not None:
                    over = memory_over(self.memory, n)
                    if over is not None:
                        self.bound = over
                        break
        except Exception:
            self.current = s
            raise
        if bad is not None:
            k, ns = bad
            raise wrong_type(self.model.instances()[k], self.model, ns)
        self.allowance = router.allowance
        if router.bound == 1:
            self.bound = f"depth bound of {self.opts.max_depth} reached"
        elif router.bound == 2:
            self.bound = f"state bound of {self.opts.max_states} reached"
        if self.bound is None and self.memory is not None:
            self.bound = memory_over(self.memory, n)  # once a level as well
        gc.freeze()
        states, hashes, steps, parents, self.pending = router.harvest()
        self.fresh = (states, hashes, steps, parents)
        self.expanded = (frontier, masks)  # the parents of the states sent
        out = {o: batch[0] for o, batch in self.pending.items()}
        report = self.report()
        report.fresh = len(states)
        return report, out

    def dead_end(self, s: Any, hs: int, depth: int) -> None:
        """A state with no enabled step: a deadlock unless it is terminal."""
        terminal = self.model.terminal_property
        if self.deadlock and (terminal is None or not terminal.predicate(s)):
            self.found.append(_Found("deadlock", depth, hs))
            # the first one found is a shortest; later levels are deeper
            self.deadlock = False

    def check(
        self, batches: list[tuple[int, bytes]], at_bound: bool
    ) -> tuple[_LevelReport, dict[int, bytes]]:
        """Record the hashes other workers sent; one byte per hash, 1 when it was new."""
        answers: dict[int, bytes] = {}
        for sender, blob in batches:
            limit = 0 if at_bound else max(0, self.allowance)
            marks, added, refused = self.visited.add_triples(blob, limit)
            self.allowance -= added
            if refused:
                self.bound = (
                    f"depth bound of {self.opts.max_depth} reached"
                    if at_bound
                    else f"state bound of {self.opts.max_states} reached"
                )
            answers[sender] = marks
        gc.freeze()
        return self.report(), answers

    def gather(
        self, answers: dict[int, bytes], gives: list[tuple[int, int]]
    ) -> tuple[_LevelReport, dict[int, _Fresh]]:
        """Collect the new states, and hand ``count`` of them to each ``(worker, count)``.

        The new states are those of this shard and those their owners answered were
        new. A state sent was not kept: it is fired again from its parent, and must hash
        as it did. The states handed over are not admitted yet: their receivers admit
        them with their own (:meth:`admit_fresh`), so that both the checks and the next
        level's expansion are shared evenly.
        """
        new, types, key = self.new, self.model.state_types, self.key
        instances = self.model.instances()
        states, keys, steps, parents = self.fresh
        frontier, masks = self.expanded
        for owner, (blob, where) in self.pending.items():
            marks = answers[owner]
            triples = memoryview(blob).cast("Q")
            positions = memoryview(where).cast("Q")
            i = marks.find(1)
            while i >= 0:  # find() skips the many zeros in C
                h, k, at = triples[3 * i], triples[3 * i + 2], positions[i]
                s = self.current = frontier[at]
                inst = instances[k]
                ns = inst.step.effect(s, *inst.args)
                if type(ns) not in types:
                    raise wrong_type(inst, self.model, ns)
                if key(ns) != h:
                    raise ModelError(
                        f"model `{self.model.name}` is not deterministic: step "
                        f"{inst.label()} fired again from {s!r:.200} gave another state; "
                        "guards and effects must be pure functions of the state"
                    )
                new[k] += 1
                states.append(ns)
                keys.append(h)
                steps.append(k)
                if masks:
                    parents.append((masks[at], s))
                i = marks.find(1, i + 1)
        self.pending = {}
        self.expanded = ([], [])
        if self.inc is not None:
            # Each new state's own mask, here where its parent is: ``refresh`` also
            # checks that the step changed nothing outside its declared writes.
            refresh = self.inc.refresh
            for i, ns in enumerate(states):
                self.current = ns
                mask, parent = parents[i]
                parents[i] = refresh[steps[i]](ns, mask, parent)
        self.current = None
        parcels: dict[int, _Fresh] = {}
        for receiver, count in gives:
            if count > 0:
                parcel = tuple(part[-count:] for part in self.fresh)
                parcels[receiver] = parcel  # type: ignore[assignment]
                for part in self.fresh:
                    del part[-count:]
        return self.report(), parcels

    def admit_fresh(self, parcels: list[_Fresh], depth: int) -> _LevelReport:
        """Admit the new states gathered here and those handed over from other workers."""
        states, keys, steps, parents = self.fresh
        self.fresh = ([], [], [], [])
        for p_states, p_keys, p_steps, p_parents in parcels:
            states += p_states
            keys += p_keys
            steps += p_steps
            parents += p_parents
        self.admit(states, keys, steps, parents, depth + 1)
        gc.freeze()
        return self.report()

    def parent(self, h: int) -> tuple[int | None, int]:
        """The parent hash of ``h`` (None for an initial state) and the instance id."""
        parent = self.visited[h]
        if parent is None:
            return None, -1
        return parent, self.visited.step_of(h)

    def totals(self) -> tuple[list[int], list[int]]:
        fired, fresh = self.router.counts()
        return fired, [a + b for a, b in zip(fresh, self.new, strict=True)]

    def cpu(self) -> float:
        """CPU seconds this worker has used."""
        return time.process_time()


# -- the coordinator -------------------------------------------------------------------


class _ModelFailure(Exception):
    """A worker reported an exception raised by model code."""

    def __init__(self, state: Any, message: str) -> None:
        super().__init__(message)
        self.state = state


def _modules_of(model: Model[Any]) -> list[str]:
    """The modules of the model's functions and state types (for a remote backend)."""
    things: list[Any] = list(model.state_types)
    for step in model.steps:
        things += [step.effect, step.guard]
    props = [*model.invariants, *model.reachables, model.terminal_property]
    things += [p.predicate for p in props if p is not None]
    if model.renaming is not None:
        things.append(model.renaming.rename)
    names = {getattr(t, "__module__", None) for t in things if t is not None}
    return sorted(n for n in names if isinstance(n, str))


def _as_text(value: Any) -> Any:
    """A parameter value as ``-D`` would write it (an enum member by its name)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, enum.Enum):
        return value.name
    return value if value is None else str(value)


def _loaded_worker(
    source: str,
    params: dict[str, Any],
    shape: tuple[str, int],
    opts: Options,
    symmetric: bool,
    index: int,
    workers: int,
    use_incremental: bool = False,
) -> _Worker:
    """A worker that loads its model from the model file, as the coordinator did."""
    from klpcheck.model.loader import load_model

    model = load_model(source, params)
    if (model.name, len(model.instances())) != shape:
        raise ModelError(
            f"the worker loaded model `{model.name}` with {len(model.instances())} step "
            f"instances from {source}, not `{shape[0]}` with {shape[1]}: the model "
            "file differs on this node; give every node the same file at the same path"
        )
    return _Worker(model, opts, symmetric, index, workers, use_incremental)


def transport_for(plan: Plan) -> Transport:
    """The workers ``plan.opts`` asks for: local processes or Ray actors.

    Forked local workers inherit the model. A Ray actor loads the model file itself when
    the model came from one (the file must be at the same path on every node: Ray's
    pickler cannot send the classes a model file defines by value reliably), and is
    sent the model otherwise.
    """
    opts = plan.opts.but(progress=None)
    model = plan.model
    inc = plan.incremental is not None
    factory: Callable[[int, int], Any] = functools.partial(
        _Worker, model, opts, plan.symmetric, use_incremental=inc
    )
    if opts.backend != "ray":
        return LocalTransport(factory, opts.workers)
    from klpcheck.search.ray_transport import RayTransport

    modules = _modules_of(model)
    if model.source is not None:
        params = {n: _as_text(v) for n, v in model.params.items()}
        shape = (model.name, len(model.instances()))
        factory = functools.partial(
            _loaded_worker,
            model.source,
            params,
            shape,
            opts,
            plan.symmetric,
            use_incremental=inc,
        )
        modules = []
    return RayTransport(factory, opts.workers, opts.address, modules)


def search(plan: Plan, transport: Transport | None = None) -> Result:
    """Run the level-synchronous search ``plan`` describes with ``plan.opts.workers``.

    ``transport`` defaults to the one :func:`transport_for` builds from the options; it
    is closed when the search ends.
    """
    # Liveness properties (when the model API has them) need the whole state graph in
    # one process: api.check() must refuse workers for a model that declares any.
    transport = transport if transport is not None else transport_for(plan)
    try:
        return _Coordinator(plan, transport).run()
    finally:
        transport.close()


def _moves(counts: list[int]) -> tuple[list[list[tuple[int, int]]], list[list[int]]]:
    """Who hands how many new states to whom, so that every worker gets about as many.

    ``counts[w]`` is how many new states worker ``w`` found (of its shard, and answered
    new by their owners). Returns, per worker, the ``(receiver, count)`` pairs it gives,
    and per worker the donors it receives from. A worker expands the states it admits,
    so without this the worker of the initial state would expand everything; shares
    within about 5% of even are left alone, as moving a state costs pickling it twice.

    Examples
    --------
    >>> _moves([1000, 0])
    ([[(1, 500)], []], [[], [0]])
    >>> _moves([500, 510])
    ([[], []], [[], []])
    """
    n = len(counts)
    target = sum(counts) // n
    slack = max(64, target // 20)
    left = [c - target for c in counts]  # surplus, or need when negative
    gives: list[list[tuple[int, int]]] = [[] for _ in range(n)]
    takes: list[list[int]] = [[] for _ in range(n)]
    for r in range(n):
        for d in range(n):
            if -left[r] <= slack:
                break
            give = min(-left[r], left[d])
            if give > slack:
                gives[d].append((r, give))
                takes[r].append(d)
                left[d] -= give
                left[r] += give
    return gives, takes


class _Coordinator:
    """Drives the workers level by level and assembles the result."""

    def __init__(self, plan: Plan, transport: Transport) -> None:
        self.plan, self.transport = plan, transport
        self.model, self.opts = plan.model, plan.opts
        self.key = hash_key(plan.model, plan.symmetric)
        self.n = transport.size
        self.start = time.perf_counter()
        self.cpu_start = time.process_time()
        # each worker's CPU seconds at its last report, and the sum over rounds of the
        # busiest worker's CPU: the wall time the rounds would take on free cores
        self.cpu = [0.0] * self.n
        self.critical = 0.0
        self.next_report = self.start + self.opts.progress_interval
        self.visited = [0] * self.n
        self.frontier = [0] * self.n
        self.found: dict[str, _Found] = {}
        self.incomplete: str | None = None
        self.max_depth = 0

    @staticmethod
    def _unwrap(replies: Iterable[tuple[Any, ...]]) -> list[Any]:
        values: list[Any] = []
        failure: Exception | None = None
        for reply in replies:
            if reply[0] == "model_error":
                failure = failure or ModelError(reply[1])
            elif reply[0] == "error":
                failure = failure or _ModelFailure(reply[1], reply[2])
            else:
                values.append(reply[1])
        if failure is not None:
            raise failure
        return values

    def ask(self, requests: list[tuple[Any, ...]]) -> list[Any]:
        """Send one request to every worker; their answers, in worker order."""
        return self._unwrap(self.transport.call(requests))

    def ask_one(self, index: int, request: tuple[Any, ...]) -> Any:
        return self._unwrap([self.transport.call_one(index, request)])[0]

    def note(self, reports: list[_LevelReport]) -> None:
        if len(reports) == self.n:
            self.critical += max(
                r.cpu - c for r, c in zip(reports, self.cpu, strict=True)
            )
            self.cpu = [r.cpu for r in reports]
        for i, r in enumerate(reports):
            self.visited[i], self.frontier[i] = r.visited, r.frontier
            if r.bound is not None and self.incomplete is None:
                self.incomplete = r.bound
            for f in r.found:
                old = self.found.get(f.name)
                if old is None or f.depth < old.depth:
                    self.found[f.name] = f
        cap = self.opts.max_states
        if cap is not None and sum(self.visited) > cap and self.incomplete is None:
            self.incomplete = f"state bound of {cap} reached"

    def allowances(self) -> list[int]:
        if self.opts.max_states is None:
            return [sys.maxsize] * self.n
        # Each worker may admit the whole remainder: a share of it could run out while
        # the total is still within the bound, and make a search that fits look cut
        # short. Together they may admit more than the remainder in one level; note()
        # then reports the bound, as one process would on the state past it.
        left = max(0, self.opts.max_states - sum(self.visited))
        return [left] * self.n

    def violated(self) -> bool:
        targets = {p.name for p in self.model.reachables}
        return any(name not in targets for name in self.found)

    def run(self) -> Result:
        try:
            self.levels()
        except KeyboardInterrupt:
            self.incomplete = "interrupted"
            self.transport.drain()  # replies still due would answer the next request
        except _ModelFailure as e:
            raise diagnose(self.model, e.state, Exception(str(e))) from None
        return self.result()

    def levels(self) -> None:
        opts, n = self.opts, self.n
        max_depth = opts.max_depth if opts.max_depth is not None else sys.maxsize
        deadline = None if opts.time_limit is None else self.start + opts.time_limit
        self.note(self.ask([("start", a) for a in self.allowances()]))
        depth = 0
        while any(self.frontier) and self.incomplete is None:
            if self.violated() and not opts.keep_going:
                return
            at_bound = depth >= max_depth
            budget = None if deadline is None else deadline - time.perf_counter()
            replies = self.ask(
                [("expand", depth, at_bound, a, budget) for a in self.allowances()]
            )
            self.note([r for r, _ in replies])
            batches: list[list[tuple[int, Any]]] = [[] for _ in range(n)]
            for sender, (_, out) in enumerate(replies):
                for owner, batch in out.items():
                    batches[owner].append((sender, batch))
            checked = self.ask([("check", batches[o], at_bound) for o in range(n)])
            self.note([r for r, _ in checked])
            answers = [
                {o: checked[o][1][s] for o in range(n) if s in checked[o][1]}
                for s in range(n)
            ]
            fresh = [
                r.fresh + sum(m.count(1) for m in answers[s].values())
                for s, (r, _) in enumerate(replies)
            ]
            gives, takes = _moves(fresh)
            gathered = self.ask([("gather", answers[s], gives[s]) for s in range(n)])
            self.note([r for r, _ in gathered])
            parcels = [[gathered[d][1][r] for d in takes[r]] for r in range(n)]
            self.note(self.ask([("admit_fresh", parcels[r], depth) for r in range(n)]))
            if any(self.frontier):
                self.max_depth = depth + 1
            depth += 1
            self.tick(depth, deadline)

    def tick(self, depth: int, deadline: float | None) -> None:
        now = time.perf_counter()
        if deadline is not None and now >= deadline and self.incomplete is None:
            self.incomplete = f"time limit of {self.opts.time_limit:g} s reached"
        if self.opts.progress is not None and now >= self.next_report:
            self.next_report = now + self.opts.progress_interval
            fired, _ = self.totals()
            self.opts.progress(
                Progress(
                    sum(self.visited),
                    sum(fired),
                    sum(self.frontier),
                    depth,
                    now - self.start,
                )
            )

    def totals(self) -> tuple[list[int], list[int]]:
        fired: list[int] = []
        new: list[int] = []
        for f, w in self.ask([("totals",)] * self.n):
            fired = [a + b for a, b in zip(fired or [0] * len(f), f, strict=True)]
            new = [a + b for a, b in zip(new or [0] * len(w), w, strict=True)]
        return fired, new

    def trace(self, h: int) -> Trace:
        """Walk parent hashes through their owners, then re-execute the steps."""
        chain: list[Hashable] = [h]
        hints: list[int] = []
        while True:
            parent, step = self.ask_one(shard_of(h, self.n), ("parent", h))
            if parent is None:
                break
            chain.append(parent)
            hints.append(step)
            h = parent
        chain.reverse()
        hints.reverse()
        return rebuild_trace(self.model, self.key, chain, hints)

    def result(self) -> Result:
        props = {p.name: p for p in self.model.invariants + self.model.reachables}
        targets = {p.name for p in self.model.reachables}
        fired, new = self.totals()
        violations, witnesses = [], {}
        found = sorted(self.found.values(), key=lambda f: f.depth)
        if not self.opts.keep_going:  # like one process: the first violation only
            first = next((f for f in found if f.name not in targets), None)
            found = [f for f in found if f.name in targets or f is first]
        for f in found:
            if f.name in targets:
                witnesses[f.name] = self.trace(f.key)
            elif f.name == "deadlock":
                violations.append(
                    Violation("deadlock", "deadlock", _DEADLOCK_DOC, self.trace(f.key))
                )
            else:
                p = props[f.name]
                violations.append(Violation(p.name, p.kind, p.doc, self.trace(f.key)))
        if self.incomplete is None and not (
            self.violated() and not self.opts.keep_going
        ):
            for p in self.model.reachables:
                if p.name not in witnesses:
                    violations.append(Violation(p.name, "reachable", p.doc, None))
        verdict = verdict_of(violations, self.incomplete)
        stats = step_stats(self.model.instances(), fired, new)
        distinct, transitions = sum(self.visited), sum(fired)
        cpu = ", ".join(f"{c:.2f}" for c in self.ask([("cpu",)] * self.n))
        notes = (
            f"{self.n} workers ({self.transport.name}; level-synchronous breadth-first "
            f"search over 64-bit state hashes); coordinator CPU seconds: "
            f"{time.process_time() - self.cpu_start:.2f}; CPU seconds of the busiest "
            f"worker, summed over rounds: {self.critical:.2f}; "
            f"CPU seconds per worker: {cpu}",
            collision_note(distinct, transitions),
        )
        return Result(
            model=self.model.name,
            verdict=verdict,
            violations=tuple(violations),
            distinct_states=distinct,
            transitions=transitions,
            max_depth=self.max_depth,
            elapsed=time.perf_counter() - self.start,
            order="bfs",
            step_stats=stats,
            witnesses=witnesses,
            incomplete_reason=self.incomplete,
            symmetry=symmetry_use(self.model, self.plan.symmetric, distinct),
            notes=notes,
        )
