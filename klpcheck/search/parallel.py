"""Breadth-first search with several worker processes, level by level.

Every visited state belongs to one partition, chosen by a hash of its key
(:func:`local_owner`): its fingerprint with fingerprint storage, Python's ``hash()``
(shared by forked processes) with exact storage; :func:`owner_of` is the
process-independent choice a partition elsewhere would need. Each worker process holds one partition of the visited map
and one share of the frontier. A level runs in three rounds, each a message to every
worker and one reply:

1. ``expand``: each worker fires every step in each of its frontier states. Successors of
   its own partition are looked up and admitted at once; the keys of the others are sent,
   with their parents' keys, to their owners. The states themselves do not travel: the
   worker that found a state keeps it until its owner says whether it is new.
2. ``check``: each owner inserts the keys it was sent that it has not seen, and answers
   one flag per key.
3. ``admit``: each worker admits the states flagged new, checks the invariants and
   reachable targets on them, and makes them its next frontier.

Between levels the coordinator moves frontier states from the fullest workers to the
emptiest (``give``/``take``), the only time states travel; shares then stay about even.

All states of depth d are admitted before any of depth d + 1, so every violation found is
at its shortest depth, as in the single-process search; counts and verdicts are the same.
Which of several shortest traces is reported can differ. The coordinator (this process)
only routes messages, so a partition could live elsewhere: :class:`Partition` is all it
asks of one.
"""

from __future__ import annotations

import contextlib
import gc
import marshal
import multiprocessing
import pickle
import signal
import sys
import time
import zlib
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any, Protocol

from klpcheck.base.errors import ModelError, UsageError
from klpcheck.base.options import Options, Progress
from klpcheck.base.resources import memory_over
from klpcheck.base.result import Result, Trace, Violation, verdict_of
from klpcheck.model.definition import Model, Property, check_answers, not_a_bool
from klpcheck.model.fingerprint import collision_note, encode
from klpcheck.reduce.symmetry import symmetry_use
from klpcheck.search.common import CLOCK_EVERY, diagnose, step_stats
from klpcheck.search.plan import Plan, compose
from klpcheck.search.storage import Key, Visited, new_visited, rebuild_trace

__all__ = ["Partition", "local_owner", "owner_of", "search"]

_PICKLE = pickle.HIGHEST_PROTOCOL
_DEADLOCK_DOC = "A state that is not terminal has no enabled step."


def owner_of(key: Hashable, workers: int) -> int:
    """The partition that owns ``key``: the same in every process and on every machine.

    Examples
    --------
    >>> owner_of(0x9E3779B97F4A7C15, 2), owner_of(((0, 1), False), 2)
    (1, 0)
    """
    if type(key) is int:
        return key % workers  # a fingerprint (or an int state): already uniform enough
    body: Any = key
    if type(key) is tuple and key and isinstance(key[0], type):
        body = key[1:]  # an exact key: the class, then the compared fields
    try:
        data = marshal.dumps(body, 2)
    except ValueError:
        data = encode(body)
    if b"<" in data or b">" in data:  # maybe a set, whose order is not canonical
        data = encode(body)
    return zlib.crc32(data) % workers


def local_owner(key: Hashable, workers: int, storage: str) -> int:
    """The owner of ``key`` among forked workers, which share this process's hash seed.

    A fingerprint is its own stable hash. An exact key is partitioned by Python's
    ``hash()``, several times cheaper than :func:`owner_of`; that is sound only because
    forked workers inherit the coordinator's hash seed and object addresses. A partition
    in another process or on another machine must use :func:`owner_of`.
    """
    if storage == "fingerprint":
        return key % workers  # type: ignore[operator]
    return hash(key) % workers


class Partition(Protocol):
    """What the coordinator asks of one partition of the visited map and its frontier.

    :class:`_Process` implements it with a forked worker process and a pipe. A remote
    implementation would send the same requests to another machine; only keys, flags and
    counters cross the boundary, never states.
    """

    def send(self, request: tuple[Any, ...]) -> None:
        """Start one request: ``("expand", …)``, ``("check", …)``, ``("admit", …)``, …"""

    def receive(self) -> Any:
        """The reply to the last request sent."""

    def close(self) -> None:
        """Stop the partition and free what it holds."""


# -- the worker side -------------------------------------------------------------------


@dataclass
class _Found:
    """A violation, deadlock or reached target seen by a worker: its depth and key."""

    name: str
    depth: int
    key: Hashable


@dataclass
class _LevelReport:
    """What a worker reports after each round."""

    visited: int
    frontier: int
    bound: str | None = None
    found: list[_Found] = field(default_factory=list)


class _Worker:
    """One partition: its visited map, its frontier, and the steps it fires."""

    def __init__(
        self, model: Model[Any], opts: Options, index: int, workers: int
    ) -> None:
        from klpcheck.model.definition import successors_of

        self.model, self.opts = model, opts
        self.index, self.workers = index, workers
        self.successors = successors_of(model.instances())
        self.key: Key = compose(model, opts).key or (lambda s: s)
        self.owner: Callable[[Hashable], int] = lambda k: local_owner(
            k, workers, opts.storage
        )
        self.visited: Visited = new_visited(opts.storage)
        self.frontier: list[tuple[Any, Hashable]] = []
        # per owner: the states sent to it, their keys and the steps that found them
        self.pending: dict[int, tuple[list[Any], list[Hashable], list[int]]] = {}
        self.fired = [0] * len(model.instances())
        self.new = [0] * len(model.instances())
        self.invariants: list[Property] = list(model.invariants)
        self.targets: list[Property] = list(model.reachables)
        self.found: list[_Found] = []
        self.sent: tuple[dict[int, Hashable], dict[int, Hashable]] = ({}, {})
        self.allowance = sys.maxsize
        self.deadlock = bool(opts.deadlock)
        self.bound: str | None = None
        self.current: Any = None
        self.memory = opts.max_memory  # each worker holds its share of the search

    def report(self) -> _LevelReport:
        found, self.found = self.found, []
        bound, self.bound = self.bound, None
        return _LevelReport(len(self.visited), len(self.frontier), bound, found)

    def admit(self, s: Any, ks: Hashable, depth: int) -> None:
        """A new state of this partition joins the next frontier; check it."""
        self.frontier.append((s, ks))
        for prop in list(self.invariants):
            answer = prop.predicate(s)
            if answer is not True:
                if answer is not False:
                    raise not_a_bool(f"{prop.kind} {prop.name}", answer, s)
                self.found.append(_Found(prop.name, depth, ks))
                self.invariants.remove(prop)
        for prop in list(self.targets):
            answer = prop.predicate(s)
            if answer is not False:
                if answer is not True:
                    raise not_a_bool(f"{prop.kind} {prop.name}", answer, s)
                self.found.append(_Found(prop.name, depth, ks))
                self.targets.remove(prop)

    def insert(self, kn: Hashable, parent: Hashable | None, at_bound: bool) -> bool:
        """Record ``kn`` as visited unless seen, bounded or over the allowance."""
        if kn in self.visited:
            return False
        if at_bound:
            self.bound = f"depth bound of {self.opts.max_depth} reached"
            return False
        if self.allowance <= 0:
            self.bound = f"state bound of {self.opts.max_states} reached"
            return False
        self.allowance -= 1
        self.visited[kn] = parent
        return True

    # -- requests ----------------------------------------------------------------------

    def start(self, allowance: int) -> _LevelReport:
        """Admit the initial states of this partition."""
        self.allowance = allowance
        for s in self.model.init:
            check_answers(self.model, s)
            self.current = s
            ks = self.key(s)
            if self.owner(ks) == self.index and self.insert(ks, None, False):
                self.admit(s, ks, 0)
        return self.report()

    def expand(
        self, depth: int, at_bound: bool, allowance: int, deadline: float | None
    ) -> tuple[_LevelReport, dict[int, bytes]]:
        """Fire every step in every frontier state; admit own successors, route others."""
        self.allowance = allowance
        key, me, workers = self.key, self.index, self.workers
        by_fingerprint = self.opts.storage == "fingerprint"
        fired, new, visited, insert = self.fired, self.new, self.visited, self.insert
        successors = self.successors
        terminal = self.model.terminal_property
        types = self.model.state_types
        frontier, self.frontier = self.frontier, []
        # Keys sent in this level and the two before, by hash: most duplicates a
        # breadth-first search finds are that recent, and need not travel to their
        # owners again. Hashing an exact key (a tuple) once instead of at every lookup
        # is most of what this costs; a key is skipped only if it is equal, not just
        # of equal hash.
        sent: dict[int, Hashable] = {}
        sent1, sent2 = self.sent
        keys: list[list[Hashable]] = [[] for _ in range(workers)]
        parents: list[list[Hashable]] = [[] for _ in range(workers)]
        states: list[list[Any]] = [[] for _ in range(workers)]
        steps: list[list[int]] = [[] for _ in range(workers)]
        for expanded, (s, ks) in enumerate(frontier, 1):
            self.current = s
            succs = successors(s)
            for k, ns in succs:
                fired[k] += 1
                kn = key(ns)
                h = kn if by_fingerprint else hash(kn)
                o = h % workers  # type: ignore[operator]
                if o == me:
                    if kn in visited:
                        continue
                    if type(ns) not in types:
                        raise TypeError("a step returned a state of the wrong type")
                    if insert(kn, ks, at_bound):
                        new[k] += 1
                        self.admit(ns, kn, depth + 1)
                    continue
                if (
                    sent.get(h) == kn  # type: ignore[call-overload]
                    or sent1.get(h) == kn  # type: ignore[call-overload]
                    or sent2.get(h) == kn  # type: ignore[call-overload]
                ):
                    continue  # sent already, so visited now: a duplicate
                sent[h] = kn  # type: ignore[index]
                keys[o].append(kn)
                parents[o].append(ks)
                states[o].append(ns)
                steps[o].append(k)
            if (
                not succs
                and self.deadlock
                and (terminal is None or not terminal.predicate(s))
            ):
                self.found.append(_Found("deadlock", depth, ks))
                # the first one found is a shortest; later levels are deeper
                self.deadlock = False
            if not expanded % CLOCK_EVERY:
                gc.freeze()  # see explore.frozen_gc; what a level makes is long-lived too
                if deadline is not None and time.perf_counter() >= deadline:
                    self.bound = f"time limit of {self.opts.time_limit:g} s reached"
                    break
                if self.memory is not None:
                    over = memory_over(self.memory, workers)
                    if over is not None:
                        self.bound = over
                        break
        self.current = None
        if self.bound is None and self.memory is not None:
            self.bound = memory_over(self.memory, workers)  # once a level as well
        gc.freeze()  # see explore.frozen_gc: the visited keys need no re-scanning
        self.sent = (sent, sent1)
        to = [o for o in range(workers) if keys[o]]
        self.pending = {o: (states[o], keys[o], steps[o]) for o in to}
        # Pickled here, so the coordinator forwards bytes without decoding them.
        out = {o: pickle.dumps((keys[o], parents[o]), _PICKLE) for o in to}
        return self.report(), out

    def check(
        self, batches: list[tuple[int, bytes]], at_bound: bool
    ) -> tuple[_LevelReport, dict[int, bytes]]:
        """Insert the keys other workers found; one flag per key, 1 when it was new."""
        flags: dict[int, bytes] = {}
        visited, insert = self.visited, self.insert
        for sender, blob in batches:
            keys, parents = pickle.loads(blob)
            marks = bytearray(len(keys))
            for i, kn in enumerate(keys):
                if kn not in visited and insert(kn, parents[i], at_bound):
                    marks[i] = 1
            flags[sender] = bytes(marks)
        gc.freeze()
        return self.report(), flags

    def admit_flagged(self, flags: dict[int, bytes], depth: int) -> _LevelReport:
        """Admit the routed successors their owners flagged as new."""
        for owner, (states, keys, steps) in self.pending.items():
            marks = flags[owner]
            i = marks.find(1)
            while i >= 0:  # find() skips the many zeros in C
                ns = states[i]
                self.current = ns
                self.new[steps[i]] += 1
                self.admit(ns, keys[i], depth + 1)
                i = marks.find(1, i + 1)
        self.pending = {}
        return self.report()

    def give(self, count: int) -> list[tuple[Any, Hashable]]:
        """Hand the last ``count`` frontier states to the coordinator, for another worker."""
        if count <= 0:
            return []
        out = self.frontier[-count:]
        del self.frontier[-count:]
        return out

    def take(self, parcels: list[list[tuple[Any, Hashable]]]) -> _LevelReport:
        """Add frontier states handed over from other workers."""
        for parcel in parcels:
            self.frontier.extend(parcel)
        return self.report()

    def parent(self, kn: Hashable) -> Hashable | None:
        parent: Hashable | None = self.visited[kn]
        return parent

    def totals(self) -> tuple[list[int], list[int]]:
        return self.fired, self.new

    def cpu(self) -> float:
        """CPU seconds this worker has used."""
        return time.process_time()


def _serve(
    conn: Connection, model: Model[Any], opts: Options, index: int, n: int
) -> None:
    """A worker process: answer requests until told to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the coordinator handles Ctrl-C
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # and SIGTERM (sent to the group)
    gc.freeze()  # what the fork inherited is never garbage: keep the collector off it
    worker = _Worker(model, opts, index, n)
    while True:
        try:
            request = conn.recv()
        except EOFError:
            return
        name, *args = request
        if name == "stop":
            return
        try:
            reply: Any = ("ok", getattr(worker, name)(*args))
        except ModelError as e:
            reply = ("model_error", str(e))
        except Exception as e:
            reply = ("error", worker.current, f"{type(e).__name__}: {e}")
        conn.send(reply)


class _Process:
    """A :class:`Partition` in a forked worker process."""

    def __init__(self, model: Model[Any], opts: Options, index: int, n: int) -> None:
        ctx = multiprocessing.get_context("fork")
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(
            target=_serve, args=(child, model, opts, index, n), daemon=True
        )
        self.process.start()
        child.close()

    def send(self, request: tuple[Any, ...]) -> None:
        self.conn.send(request)

    def receive(self) -> Any:
        return self.conn.recv()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.conn.send(("stop",))
        self.process.join(timeout=1)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.conn.close()


# -- the coordinator -------------------------------------------------------------------


class _ModelFailure(Exception):
    """A worker reported an exception raised by model code."""

    def __init__(self, state: Any, message: str) -> None:
        super().__init__(message)
        self.state = state


def search(plan: Plan) -> Result:
    """Run the level-synchronous search ``plan`` describes with ``workers`` processes."""
    model, opts = plan.model, plan.opts
    if "fork" not in multiprocessing.get_all_start_methods():
        raise UsageError("workers > 1 needs the fork start method (Linux, macOS)")
    n = opts.workers
    parts: list[Partition] = [_Process(model, opts, i, n) for i in range(n)]
    try:
        return _Coordinator(plan, parts).run()
    finally:
        for p in parts:
            p.close()


class _Coordinator:
    """Drives the partitions level by level and assembles the result."""

    def __init__(self, plan: Plan, parts: list[Partition]) -> None:
        self.plan, self.parts = plan, parts
        self.model, self.opts = plan.model, plan.opts
        self.n = len(parts)
        self.start = time.perf_counter()
        self.next_report = self.start + self.opts.progress_interval
        self.visited = [0] * self.n
        self.frontier = [0] * self.n
        self.found: dict[str, _Found] = {}
        self.incomplete: str | None = None
        self.max_depth = 0
        self.waiting: list[Partition] = []  # sent a request, reply not yet received

    def ask(self, requests: list[tuple[Any, ...]]) -> list[Any]:
        """Send one request to every partition, then collect the replies in order."""
        for part, request in zip(self.parts, requests, strict=True):
            part.send(request)
        self.waiting = list(self.parts)
        replies = []
        failure: Exception | None = None
        for part in self.parts:
            try:
                reply = part.receive()
                self.waiting.remove(part)
            except EOFError:
                raise ModelError(
                    "a worker process died (are the states picklable?)"
                ) from None
            if reply[0] == "model_error":
                failure = failure or ModelError(reply[1])
            elif reply[0] == "error":
                failure = failure or _ModelFailure(reply[1], reply[2])
            else:
                replies.append(reply[1])
        if failure is not None:
            raise failure
        return replies

    def note(self, reports: list[_LevelReport]) -> None:
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
            for part in self.waiting:  # replies still due would answer the next request
                part.receive()
            self.waiting = []
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
            replies = self.ask(
                [("expand", depth, at_bound, a, deadline) for a in self.allowances()]
            )
            self.note([r for r, _ in replies])
            batches: list[list[tuple[int, bytes]]] = [[] for _ in range(n)]
            for sender, (_, out) in enumerate(replies):
                for owner, blob in out.items():
                    batches[owner].append((sender, blob))
            checked = self.ask([("check", batches[o], at_bound) for o in range(n)])
            self.note([r for r, _ in checked])
            flags = [
                {o: checked[o][1][s] for o in range(n) if s in checked[o][1]}
                for s in range(n)
            ]
            self.note(self.ask([("admit_flagged", flags[s], depth) for s in range(n)]))
            if any(self.frontier):
                self.max_depth = depth + 1
            self.balance()
            depth += 1
            self.tick(depth, deadline)

    def balance(self) -> None:
        """Move frontier states from the fullest workers to the emptiest.

        A worker expands the new states it found, so without this the worker that owns
        the initial state would expand everything. Once shares are even they stay about
        even, since each worker finds new states in proportion to its frontier; only
        the first levels and drift move states.
        """
        target = sum(self.frontier) // self.n
        slack = max(64, target // 10)
        surplus = [f - target for f in self.frontier]
        gives = [0] * self.n
        takes: list[list[int]] = [[] for _ in range(self.n)]  # donors per receiver
        for r in range(self.n):
            need = -surplus[r]
            for d in range(self.n):
                if need <= slack:
                    break
                give = min(need, surplus[d] - gives[d])
                if give > slack:
                    gives[d] += give
                    takes[r] += [d, give]
                    need -= give
        if not any(gives):
            return
        shipped = self.ask([("give", g) for g in gives])
        for d, g in enumerate(gives):
            self.frontier[d] -= g
        parcels: list[list[Any]] = [[] for _ in range(self.n)]
        for r in range(self.n):
            it = iter(takes[r])
            for d, count in zip(it, it, strict=True):
                parcels[r].append(shipped[d][:count])
                shipped[d] = shipped[d][count:]
        for r, report in enumerate(self.ask([("take", p) for p in parcels])):
            self.frontier[r] = report.frontier

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

    def trace(self, kn: Hashable) -> Trace:
        """Walk parent keys through their owners, then re-execute the steps."""
        chain = [kn]
        while True:
            part = self.parts[local_owner(chain[-1], self.n, self.opts.storage)]
            part.send(("parent", chain[-1]))
            reply = part.receive()
            if reply[1] is None:
                break
            chain.append(reply[1])
        chain.reverse()
        return rebuild_trace(self.model, self.plan.key, chain)

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
        notes = [
            f"{self.n} workers (level-synchronous breadth-first search); "
            f"CPU seconds per worker: {cpu}"
        ]
        if self.opts.storage == "fingerprint":
            notes.append(collision_note(distinct, transitions))
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
            notes=tuple(notes),
        )
