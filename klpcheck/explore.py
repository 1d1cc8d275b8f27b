"""Explicit-state search: breadth-first (shortest counterexamples) and depth-first.

The explorer returns data and prints nothing. Each visited state is a key of one dict that
maps it to its parent state (``None`` for initial states); traces are rebuilt by walking
parents back and re-finding, in instance order, the step that leads from each state to the
next. Storing no step index and no state id keeps the cost per state to one dict slot.

Errors raised by model code are not caught per call: the whole loop runs inside one
``try``, and a failure is diagnosed afterwards by re-running the pure guard, effect and
properties on the state that was being expanded. The hot loop pays nothing for it.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import gc
import sys
import time
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass
from typing import Any

from klpcheck.errors import ModelError, UsageError
from klpcheck.fingerprint import collision_note
from klpcheck.model import Model, Property, successors_of
from klpcheck.por import Auditing, Expander, plan
from klpcheck.result import (
    Reduction,
    Result,
    Trace,
    Violation,
    step_stats,
    verdict_of,
)
from klpcheck.state import describe_unhashable
from klpcheck.storage import (
    STORAGES,
    Visited,
    new_visited,
    rebuild_trace,
    state_key,
)
from klpcheck.symmetry import SymmetryAudit, symmetry_use, uses_symmetry

__all__ = ["Options", "Progress", "check"]

ORDERS = ("bfs", "dfs")
_CLOCK_EVERY = 1024  # expansions between clock reads (time limit, progress)


@dataclass(frozen=True, slots=True)
class Progress:
    """A snapshot handed to the progress callback about once per ``progress_interval``."""

    distinct_states: int
    transitions: int
    queue: int
    depth: int
    elapsed: float


@dataclass(frozen=True, slots=True)
class Options:
    """Search options; see :func:`check`."""

    order: str = "bfs"
    max_depth: int | None = None
    max_states: int | None = None
    time_limit: float | None = None
    deadlock: bool = True
    keep_going: bool = False
    progress: Callable[[Progress], None] | None = None
    progress_interval: float = 1.0
    por: bool | None = None
    audit: bool = False
    shortest: bool = False
    storage: str = "exact"
    workers: int = 1
    symmetry: bool | None = None

    def but(self, **changes: Any) -> Options:
        """A copy with ``changes``."""
        return dataclasses.replace(self, **changes)

    def validate(self) -> None:
        """Raise UsageError on an impossible option value."""
        if self.order not in ORDERS:
            raise UsageError(
                f"order must be one of {', '.join(ORDERS)}, not {self.order!r}"
            )
        if self.storage not in STORAGES:
            raise UsageError(
                f"storage must be one of {', '.join(STORAGES)}, not {self.storage!r}"
            )
        if not isinstance(self.workers, int) or self.workers < 1:
            raise UsageError(
                f"workers must be a whole number ≥ 1, not {self.workers!r}"
            )
        if self.workers > 1 and self.order != "bfs":
            raise UsageError(
                "workers > 1 needs breadth-first order (no --dfs, no order='dfs')"
            )
        if self.symmetry not in (None, True, False):
            raise UsageError(
                f"symmetry must be True, False or None, not {self.symmetry!r}"
            )
        for name in ("max_depth", "max_states"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 0):
                raise UsageError(f"{name} must be a whole number ≥ 0, not {value!r}")
        if self.time_limit is not None and not self.time_limit > 0:
            raise UsageError(
                f"time_limit must be a number of seconds > 0, not {self.time_limit!r}"
            )


class _Stop(Exception):
    """Ends the search early (first violation, or a bound)."""


def check(model: Model[Any], **options: Any) -> Result:
    """Explore every reachable state of ``model`` and check its properties.

    Parameters
    ----------
    model
        The model to check.
    order
        ``"bfs"`` (default: the first counterexample is a shortest one) or ``"dfs"``.
    max_depth, max_states, time_limit
        Bounds. A search cut short by one reports ``Verdict.INCOMPLETE``, never HOLDS.
    deadlock
        Report a non-terminal state without an enabled step as a violation (default True).
    keep_going
        Do not stop at the first violation; report one trace per broken property.
    por
        Partial-order reduction (:mod:`klpcheck.por`). ``None`` (default): on when a step
        declares ``reads=`` or ``writes=``; ``False``: off. Verdicts are the same; traces
        are shortest in the reduced state graph only. Off (when not asked for) with
        fingerprint storage or several workers, which search the full state graph.
    audit
        Check every fired step against its declared footprints (:mod:`klpcheck.audit`);
        a wrong declaration raises ModelError.
    shortest
        After a reduced search found violations, search again without reduction for
        each, so that its trace is a shortest one.
    storage
        ``"exact"`` (default) keeps the states; ``"fingerprint"`` keeps 64-bit fingerprints
        (see :mod:`klpcheck.storage`).
    symmetry
        Symmetry reduction (:mod:`klpcheck.symmetry`): one state per orbit of the group
        declared with ``@model.symmetry``. ``None`` (default): on when declared;
        ``False``: off. Partial-order reduction is then off, and ``por=True`` with it
        is a UsageError. With ``audit`` every renaming is checked to be sound.
    workers
        Explore with this many processes (level-synchronous breadth-first search; see
        :mod:`klpcheck.parallel`). Counts, verdicts and trace lengths are those of one.
    progress, progress_interval
        A callback given a :class:`Progress` about every ``progress_interval`` seconds.

    Returns
    -------
    Result
        Verdict, violations with traces, distinct states, transitions, depth, time.

    Raises
    ------
    ModelError
        A guard, effect or property raised, or a step returned something that is not a state.
    UsageError
        An option has an impossible value.

    Examples
    --------
    >>> from klpcheck import Model
    >>> m = Model("pair", init=(0, 0))
    >>> @m.step(over=range(2), when=lambda s, i: s[i] < 2)
    ... def bump(s, i):
    ...     return s[:i] + (s[i] + 1,) + s[i + 1 :]
    >>> r = check(m, deadlock=False)
    >>> r.verdict.value, r.distinct_states, r.transitions, r.max_depth
    ('holds', 9, 12, 4)
    """
    unknown = set(options) - set(Options.__dataclass_fields__)
    if unknown:
        raise UsageError(
            f"unknown option(s) {', '.join(sorted(unknown))}; "
            f"known: {', '.join(Options.__dataclass_fields__)}"
        )
    opts = Options(**options)
    opts.validate()
    if not isinstance(model, Model):
        raise UsageError(f"check() needs a klpcheck.Model, not {type(model).__name__}")
    if model.livenesses:
        opts = _for_liveness(model, opts)
    if opts.symmetry and model.renaming is None:
        raise UsageError(
            f"symmetry=True, but model `{model.name}` declares no @model.symmetry(group)"
        )
    if opts.por and uses_symmetry(model, opts):
        raise UsageError(
            "partial-order reduction and symmetry reduction do not combine soundly in "
            "general; drop --por (por=True) or pass --no-symmetry (symmetry=False)"
        )
    if opts.storage != "exact" or opts.workers > 1:
        if opts.por or opts.audit or opts.shortest:
            raise UsageError(
                "partial-order reduction, --audit and --shortest run with exact storage "
                "and one worker; drop the fingerprint or workers option"
            )
        opts = opts.but(por=False)
    if opts.workers > 1:
        from klpcheck.parallel import search

        return search(model, opts)
    started = time.perf_counter()
    result = _Search(model, opts).run()
    if model.livenesses:
        from klpcheck.liveness import check_liveness

        return check_liveness(
            model,
            result,
            keep_going=opts.keep_going,
            time_limit=opts.time_limit,
            started=started,
        )
    if opts.shortest and result.reduction.used:
        from klpcheck.por import shortest_traces

        result = shortest_traces(
            model, result, lambda m, **o: _Search(m, opts.but(**o)).run()
        )
    return result


def _for_liveness(model: Model[Any], opts: Options) -> Options:
    """The options of a model with liveness properties: a full search, exactly stored.

    The analysis needs every edge of the state graph (:mod:`klpcheck.liveness`), so
    asking for a reduction, fingerprints or workers is a usage error.
    """
    asked = [
        what
        for what, on in (
            ("partial-order reduction (--por, por=True)", opts.por is True),
            ("symmetry reduction (symmetry=True)", opts.symmetry is True),
            ("fingerprint storage (--fingerprint)", opts.storage != "exact"),
            (f"{opts.workers} workers (--workers)", opts.workers > 1),
        )
        if on
    ]
    if asked:
        names = ", ".join(p.name for p in model.livenesses)
        raise UsageError(
            f"model `{model.name}` has liveness properties ({names}), which need the full "
            f"state graph: drop {' and '.join(asked)}"
        )
    return opts.but(por=False, symmetry=False)


class _Search:
    """One run of the explorer; holds the visited map and the counters."""

    def __init__(self, model: Model[Any], opts: Options) -> None:
        self.model = model
        self.opts = opts
        self.instances = model.instances()
        self.symmetric = uses_symmetry(model, opts)
        self.key = state_key(model, opts.storage, self.symmetric)
        self.expand = successors_of(self.instances)
        self.parent: Visited = new_visited(opts.storage)
        self.fired = [0] * len(self.instances)
        self.new = [0] * len(self.instances)
        self.violations: dict[str, tuple[Property | None, Hashable]] = {}
        self.invariants = list(model.invariants)
        self.pending = list(model.reachables)
        self.witnesses: dict[str, Hashable] = {}
        self.max_depth = 0
        self.incomplete: str | None = None
        self.exhausted = False  # every reachable state was expanded
        self.start = time.perf_counter()
        self.next_report = self.start + opts.progress_interval
        self.queue_size: Callable[[], int] = lambda: 0
        self.freeze: Callable[[], None] = lambda: None
        self.expander = self.reduced_expander()

    # -- driver ---------------------------------------------------------------------

    def run(self) -> Result:
        current: list[Any] = [
            None,
            None,
        ]  # state being expanded, its successor (diagnosis)
        with frozen_gc() as self.freeze:
            try:
                for s in self.model.init:
                    self.parent[self.key_of(s)] = None
                    self.on_new(s)
                if self.expander is not None:
                    self.reduced_search(current)
                elif self.opts.order == "bfs":
                    self.bfs(current)
                else:
                    self.dfs(current)
                self.exhausted = self.incomplete is None
            except _Stop:
                pass
            except KeyboardInterrupt:
                self.incomplete = "interrupted"
            except ModelError:
                raise
            except Exception as exc:
                raise self.diagnose(current[0], exc) from exc
        return self.result()

    def key_of(self, s: Hashable) -> Hashable:
        """The key of ``s`` in the visited map."""
        return s if self.key is None else self.key(s)

    def on_new(self, s: Hashable) -> None:
        """Check invariants and reachable targets on a newly found state."""
        for prop in self.invariants:
            if not prop.predicate(s):
                self.violate(prop, s)
        if self.pending:
            for prop in list(self.pending):
                if prop.predicate(s):
                    self.witnesses[prop.name] = s
                    self.pending.remove(prop)

    def violate(self, prop: Property | None, s: Hashable) -> None:
        name = prop.name if prop is not None else "deadlock"
        if name in self.violations:
            return
        self.violations[name] = (prop, s)
        if prop is not None:
            # A new list: on_new may be iterating over the old one, and another
            # invariant violated in the same state must still be seen there.
            self.invariants = [p for p in self.invariants if p is not prop]
        if not self.opts.keep_going:
            raise _Stop

    def tick(self, depth: int) -> None:
        """Called every _CLOCK_EVERY expansions: time limit and progress."""
        self.freeze()
        now = time.perf_counter()
        limit = self.opts.time_limit
        if limit is not None and now - self.start >= limit:
            self.incomplete = f"time limit of {limit:g} s reached"
            raise _Stop
        if self.opts.progress is not None and now >= self.next_report:
            self.next_report = now + self.opts.progress_interval
            self.opts.progress(
                Progress(
                    len(self.parent),
                    sum(self.fired),
                    self.queue_size(),
                    depth,
                    now - self.start,
                )
            )

    def bounds(self) -> tuple[int, int]:
        """``max_states`` and ``max_depth``, with no bound as ``sys.maxsize``."""
        opts = self.opts
        return (
            opts.max_states if opts.max_states is not None else sys.maxsize,
            opts.max_depth if opts.max_depth is not None else sys.maxsize,
        )

    def bound_hit(self, reason: str) -> None:
        self.incomplete = reason

    # -- breadth-first ------------------------------------------------------------

    def bfs(self, current: list[Any]) -> None:
        expand = self.expand
        parent = self.parent
        fired, new = self.fired, self.new
        types = self.model.state_types
        max_states, max_depth = self.bounds()
        deadlock = self.opts.deadlock
        terminal = self.model.terminal_property
        on_new = self.on_new
        key = self.key
        frontier = list(self.model.init)
        keys = frontier if key is None else [key(s) for s in frontier]
        depth = 0
        expanded = 0
        while frontier:
            nxt: list[Any] = []
            nxt_keys = nxt if key is None else []
            self.queue_size = lambda: len(frontier) + len(nxt)  # noqa: B023
            at_bound = depth >= max_depth
            for s, ks in zip(frontier, keys, strict=True):
                current[0] = s
                succs = expand(s)
                for k, ns in succs:
                    fired[k] += 1
                    kn = ns if key is None else key(ns)
                    if kn in parent:
                        continue
                    if type(ns) not in types:
                        raise self.wrong_type(k, s, ns)
                    if at_bound:
                        self.bound_hit(f"depth bound of {max_depth} reached")
                        continue
                    if len(parent) >= max_states:
                        self.bound_hit(f"state bound of {max_states} reached")
                        raise _Stop
                    parent[kn] = ks
                    new[k] += 1
                    nxt.append(ns)
                    if key is not None:
                        nxt_keys.append(kn)
                    self.max_depth = depth + 1
                    on_new(ns)
                if (
                    not succs
                    and deadlock
                    and (terminal is None or not terminal.predicate(s))
                ):
                    self.violate(None, s)
                expanded += 1
                if not expanded % _CLOCK_EVERY:
                    self.tick(depth)
            frontier, keys = nxt, nxt_keys
            depth += 1

    # -- depth-first --------------------------------------------------------------

    def successors(self, s: Hashable) -> list[tuple[int, Any, Hashable]]:
        """Fire every enabled instance in ``s``: ``(index, successor, its key)``.

        Reports a deadlock if no instance is enabled.
        """
        key, fired = self.key, self.fired
        out = []
        for k, ns in self.expand(s):
            fired[k] += 1
            out.append((k, ns, ns if key is None else key(ns)))
        terminal = self.model.terminal_property
        if (
            not out
            and self.opts.deadlock
            and (terminal is None or not terminal.predicate(s))
        ):
            self.violate(None, s)
        return out

    def dfs(self, current: list[Any]) -> None:
        parent, new = self.parent, self.new
        types = self.model.state_types
        max_states, max_depth = self.bounds()
        expanded = 0
        # Each frame: the state, its key, its successors, the next one to try, its depth.
        stack: list[list[Any]] = []
        self.queue_size = lambda: len(stack)
        for root in self.model.init:
            current[0] = root
            stack.append([root, self.key_of(root), self.successors(root), 0, 0])
            while stack:
                frame = stack[-1]
                s, ks, succs, pos, depth = frame
                if pos == len(succs):
                    stack.pop()
                    continue
                frame[3] = pos + 1
                k, ns, kn = succs[pos]
                if kn in parent:
                    continue
                if type(ns) not in types:
                    raise self.wrong_type(k, s, ns)
                if depth >= max_depth:
                    self.bound_hit(f"depth bound of {max_depth} reached")
                    continue
                if len(parent) >= max_states:
                    self.bound_hit(f"state bound of {max_states} reached")
                    raise _Stop
                parent[kn] = ks
                new[k] += 1
                if depth + 1 > self.max_depth:
                    self.max_depth = depth + 1
                self.on_new(ns)
                current[0] = ns
                stack.append([ns, kn, self.successors(ns), 0, depth + 1])
                expanded += 1
                if not expanded % _CLOCK_EVERY:
                    self.tick(depth)

    # -- reduced search (partial-order reduction, or the footprint audit) -------------

    def reduced_expander(self) -> Expander | None:
        """The expander of the reduced search; None for the plain loops above."""
        reducer, self.por_reason = plan(self.model, self.opts.por, self.symmetric)
        self.auditor: Auditing | None = None
        self.symmetry_audit: SymmetryAudit | None = None
        if self.opts.audit:
            from klpcheck.audit import Auditor

            self.auditor = Auditor(self.model)
            if self.symmetric:
                assert self.key is not None
                self.symmetry_audit = SymmetryAudit(self.model, self.key)
        if reducer is None and self.auditor is None:
            return None
        return Expander(
            self.instances,
            reducer,
            lambda: self.invariants + self.pending,
            self.fired,
            self.auditor,
        )

    def reduced_search(self, current: list[Any]) -> None:
        """Breadth- or depth-first search firing what the expander chooses."""
        assert self.expander is not None
        parent, new, successors = self.parent, self.new, self.expander.successors
        key_of = self.key_of
        types = self.model.state_types
        max_states, max_depth = self.bounds()
        terminal = self.model.terminal_property
        bfs = self.opts.order == "bfs"
        # C3. Breadth-first: the closed-set proviso (a state in parent is closed unless
        # it is still unexpanded). Depth-first: the stack proviso of SPIN (Holzmann and
        # Peled, 1994), weaker in what it forbids and so reducing more: only a
        # successor on the search stack closes a cycle. Both sets hold keys.
        unexpanded = {key_of(s) for s in self.model.init}
        on_stack: set[Hashable] = set()

        def closed(ns: Hashable) -> bool:
            kn = key_of(ns)
            if bfs:
                return kn in parent and kn not in unexpanded
            return kn in on_stack

        # BFS: a FIFO of (state, key, depth); DFS: a stack of
        # [state, key, successors, next, depth].
        fifo = collections.deque((s, key_of(s), 0) for s in self.model.init)
        stack: list[list[Any]] = []
        self.queue_size = lambda: len(fifo) + len(stack)

        def expand(s: Hashable, ks: Hashable) -> list[tuple[int, Hashable]]:
            current[0] = s
            if self.symmetry_audit is not None:
                self.symmetry_audit.state(s)
            unexpanded.discard(ks)
            succs = successors(s, closed)
            if (
                not succs
                and self.opts.deadlock
                and (terminal is None or not terminal.predicate(s))
            ):
                self.violate(None, s)
            if not self.expander.expanded % _CLOCK_EVERY:  # type: ignore[union-attr]
                self.tick(len(stack))
            return succs

        while fifo or stack:
            if stack:
                frame = stack[-1]
                s, ks, succs, pos, depth = frame
                if pos == len(succs):
                    stack.pop()
                    on_stack.discard(ks)
                    continue
                frame[3] = pos + 1
                todo = [succs[pos]]
            else:
                s, ks, depth = fifo.popleft()
                if bfs:
                    todo = expand(s, ks)
                else:
                    stack.append([s, ks, expand(s, ks), 0, depth])
                    on_stack.add(ks)
                    continue
            for k, ns in todo:
                if type(ns) not in types:
                    raise self.wrong_type(k, s, ns)
                kn = key_of(ns)
                if kn in parent:
                    continue
                if depth >= max_depth:
                    self.bound_hit(f"depth bound of {max_depth} reached")
                    continue
                if len(parent) >= max_states:
                    self.bound_hit(f"state bound of {max_states} reached")
                    raise _Stop
                parent[kn] = ks
                new[k] += 1
                self.max_depth = max(self.max_depth, depth + 1)
                self.on_new(ns)
                if bfs:
                    unexpanded.add(kn)
                    fifo.append((ns, kn, depth + 1))
                else:
                    stack.append([ns, kn, expand(ns, kn), 0, depth + 1])
                    on_stack.add(kn)

    def reduction(self) -> Reduction:
        exp = self.expander
        if exp is None or exp.reducer is None:
            return Reduction(False, self.por_reason)
        return Reduction(
            True,
            "",
            exp.expanded,
            exp.reduced,
            exp.proviso,
            exp.enabled,
            sum(self.fired),
        )

    def audit_notes(self) -> tuple[str, ...]:
        audits = [self.auditor, self.symmetry_audit]
        return tuple(a.summary() for a in audits if a is not None)

    # -- results ------------------------------------------------------------------

    def result(self) -> Result:
        violations = []
        for name, (prop, s) in self.violations.items():
            if prop is None:
                doc = "A state that is not terminal has no enabled step."
                violations.append(
                    Violation("deadlock", "deadlock", doc, self.trace_to(s))
                )
            else:
                violations.append(
                    Violation(name, prop.kind, prop.doc, self.trace_to(s))
                )
        if self.exhausted:
            for prop in self.pending:
                violations.append(Violation(prop.name, "reachable", prop.doc, None))
        verdict = verdict_of(violations, self.incomplete)
        stats = step_stats(self.instances, self.fired, self.new)
        return Result(
            model=self.model.name,
            verdict=verdict,
            violations=tuple(violations),
            distinct_states=len(self.parent),
            transitions=sum(self.fired),
            max_depth=self.max_depth,
            elapsed=time.perf_counter() - self.start,
            order=self.opts.order,
            step_stats=stats,
            witnesses={n: self.trace_to(s) for n, s in self.witnesses.items()},
            incomplete_reason=self.incomplete,
            reduction=self.reduction(),
            symmetry=symmetry_use(self.model, self.symmetric, len(self.parent)),
            notes=self.audit_notes() + self.notes(),
        )

    def notes(self) -> tuple[str, ...]:
        if self.opts.storage != "fingerprint":
            return ()
        return (collision_note(len(self.parent), sum(self.fired)),)

    def trace_to(self, target: Hashable) -> Trace:
        """Rebuild the trace from an initial state to ``target`` along parent links."""
        chain = [self.key_of(target)]
        while (p := self.parent[chain[-1]]) is not None:
            chain.append(p)
        chain.reverse()
        return rebuild_trace(self.model, self.key, chain)

    # -- diagnosis ----------------------------------------------------------------

    def wrong_type(self, k: int, s: Hashable, ns: Any) -> ModelError:
        inst = self.instances[k]
        want = " or ".join(sorted(t.__name__ for t in self.model.state_types))
        return ModelError(
            f"step {inst.label()} returned {type(ns).__name__} {ns!r:.80}; steps must return a "
            f"new {want} (did the effect forget to return?)"
        )

    def diagnose(self, s: Any, exc: Exception) -> ModelError:
        """Find which guard, effect or property raised ``exc`` by re-running them on ``s``."""
        what = f"{type(exc).__name__}: {exc}"
        candidates = [s] if s is not None else list(self.model.init)
        for state in candidates:
            for inst in self.instances:
                guard = inst.step.guard
                try:
                    on = guard is None or guard(state, *inst.args)
                except Exception as e:
                    return ModelError(
                        f"guard of step {inst.label()} raised {_exc(e)} in state {state!r}"
                    )
                if not on:
                    continue
                try:
                    ns = inst.step.effect(state, *inst.args)
                except Exception as e:
                    return ModelError(
                        f"step {inst.label()} raised {_exc(e)} in state {state!r}"
                    )
                if type(ns) not in self.model.state_types:  # a key could not read it
                    return self.wrong_type(inst.index, state, ns)
                problem = describe_unhashable(ns)
                if problem is not None:
                    return ModelError(
                        f"step {inst.label()} returned an unhashable state: {problem}"
                    )
                for p in self.model.invariants + self.model.reachables:
                    try:
                        p.predicate(ns)
                    except Exception as e:
                        return ModelError(
                            f"{p.kind} `{p.name}` raised {_exc(e)} in state {ns!r}"
                        )
            for p in self.model.invariants + self.model.reachables:
                try:
                    p.predicate(state)
                except Exception as e:
                    return ModelError(
                        f"{p.kind} `{p.name}` raised {_exc(e)} in state {state!r}"
                    )
            if self.model.terminal_property is not None:
                try:
                    self.model.terminal_property.predicate(state)
                except Exception as e:
                    return ModelError(
                        f"terminal `{self.model.terminal_property.name}` raised {_exc(e)}"
                    )
        return ModelError(
            f"the model raised {what} (it could not be traced to one step)"
        )


@contextlib.contextmanager
def frozen_gc() -> Iterator[Callable[[], None]]:
    """Yield a function that hides every object alive now from the cyclic collector.

    The visited map holds millions of objects that live until the search ends; each full
    collection would walk them all again, which doubled the time of the lock model at
    eight processes. The search calls the function every few thousand expansions
    (``gc.freeze``: the objects stay counted and are freed as usual when unreferenced;
    only cycles among them wait) and everything is unfrozen at the end. When the
    process has frozen objects of its own or disabled the collector, nothing is done.
    """
    if gc.get_freeze_count() or not gc.isenabled():
        yield lambda: None
        return
    try:
        yield gc.freeze
    finally:
        gc.unfreeze()


def _exc(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}"
