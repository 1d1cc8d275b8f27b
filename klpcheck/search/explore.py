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

import functools
import os
import sys
import time
from collections.abc import Callable, Hashable
from typing import Any

from klpcheck.base.errors import ModelError
from klpcheck.base.options import Progress
from klpcheck.base.resources import memory_over
from klpcheck.base.result import (
    Reduction,
    Result,
    Trace,
    Violation,
    verdict_of,
)
from klpcheck.model.definition import (
    Property,
    check_answers,
    not_a_bool,
    successors_of,
)
from klpcheck.model.enabled import Incremental
from klpcheck.model.fingerprint import collision_note
from klpcheck.reduce.por import Auditing, Expander
from klpcheck.reduce.symmetry import SymmetryAudit, symmetry_use
from klpcheck.search.common import (
    CLOCK_EVERY,
    diagnose,
    frozen_gc,
    step_stats,
    wrong_type,
)
from klpcheck.search.frontier import levels, mask_levels
from klpcheck.search.fused import Level, Masked, fused_level, retire
from klpcheck.search.plan import Plan
from klpcheck.search.storage import (
    Visited,
    rebuild_trace,
)

__all__ = ["search"]


def bits(mask: int) -> list[int]:
    """The positions of the bits set in ``mask``, in increasing order.

    >>> bits(0b101001)
    [0, 3, 5]
    """
    out = []
    while mask:
        low = mask & -mask
        out.append(low.bit_length() - 1)
        mask ^= low
    return out


class _Stop(Exception):
    """Ends the search early (first violation, or a bound)."""


def search(plan: Plan) -> Result:
    """Run the search ``plan`` describes in this process (see :func:`klpcheck.check`)."""
    return _Search(plan).run()


class _Search:
    """One run of the explorer; holds the visited map and the counters."""

    def __init__(self, plan: Plan) -> None:
        model = self.model = plan.model
        opts = self.opts = plan.opts
        self.plan = plan
        self.instances = model.instances()
        self.symmetric = plan.symmetric
        self.key = plan.key
        self.parent: Visited = plan.visited()
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
        # Breadth-first: the sizes of the level being expanded and of the next one.
        self.levels: Callable[[int], tuple[int | None, int | None]] = lambda d: (
            None,
            None,
        )
        self.freeze: Callable[[], None] = lambda: None
        self.expander = self.reduced_expander()
        self.watched: list[tuple[list[Property], list[Property]]] = []
        # Tells a fused level that an invariant is violated (keep_going only).
        self.retire: Callable[[Property], None] | None = None
        self.regroup()
        # One initial state per key: with symmetry, initial states in one orbit share a
        # key, and each would otherwise be expanded (its transitions counted) again.
        self.roots: dict[Hashable, Any] = {}
        for s in model.init:
            self.roots.setdefault(self.key_of(s), s)

    @functools.cached_property
    def expand(self) -> Callable[[Any], list[tuple[int, Any]]]:
        """The successor function: ``(instance index, successor)`` pairs of a state
        (made when first needed: a plain breadth-first search fuses it into
        :meth:`fused`)."""
        if self.plan.incremental is not None:
            return self.plan.incremental.successors
        return successors_of(self.instances)

    def fused(self, keyed: bool, bounded: bool, inc: Incremental | None) -> Level:
        """The generated function expanding one level of a breadth-first search that
        is not reduced (:mod:`klpcheck.search.fused`)."""
        masked = None
        if inc is not None:
            masked = Masked(inc.refresh, inc.spill, [w for w, _ in self.watched])
        # The invariants still checked: one violated already is never evaluated again
        # (with keep_going, a later one is retired from the level as it is violated).
        invariants = list(self.invariants)
        level = fused_level(
            self.instances,
            invariants,
            {
                "key": self.key,
                "types": self.model.state_types,
                "pending": self.pending,
                "on_new": self.on_new,
                "on_new_after": self.on_new_after,
                "wrong_type": self.wrong_type,
                "full": self.full,
                "dead": self.dead,
                "tick": self.tick,
            },
            keyed=keyed,
            bounded=bounded,
            deadlock=self.opts.deadlock,
            clock_every=CLOCK_EVERY,
            masked=masked,
            retiring=self.opts.keep_going,
            reports=self.opts.progress is not None,
        )
        if self.opts.keep_going:
            self.retire = functools.partial(retire, level, invariants)
        return level

    # -- driver ---------------------------------------------------------------------

    def run(self) -> Result:
        current: list[Any] = [
            None,
            None,
        ]  # state being expanded, its successor (diagnosis)
        with frozen_gc() as self.freeze:
            try:
                for s in self.roots.values():
                    check_answers(self.model, s)
                for k, s in self.roots.items():
                    self.parent[k] = None
                    self.on_new(s)
                if self.opts.order == "bfs":
                    self.bfs(current, self.plan.incremental, self.expander)
                elif self.expander is not None:
                    self.reduced_dfs(current, self.plan.incremental)
                else:
                    self.dfs(current, self.plan.incremental)
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
                answer = prop.predicate(s)
                if answer:
                    if answer is not True:
                        raise not_a_bool(f"{prop.kind} {prop.name}", answer, s)
                    self.witnesses[prop.name] = s
                    self.pending.remove(prop)
                    self.regroup()

    def regroup(self) -> None:
        """The properties still looked for changed (or are set for the first time).

        The expander of a reduced search is told (C2 depends on them); an incremental
        search regroups the properties each instance's firing may change.
        """
        if self.expander is not None:
            self.expander.rewatch()
        if self.plan.incremental is None:
            return
        self.watched = self.plan.incremental.watched(self.invariants, self.pending)

    def refreshed(self, inc: Incremental, k: int, ns: Hashable, ms: int, s: Any) -> int:
        """The mask of ``ns``, reached by instance ``k`` from ``s`` (mask ``ms``), once
        ``ns`` is checked: every property where ``k`` changed more than it declares (a
        search that trusts no footprint), else those ``k`` may change."""
        mask = inc.refresh[k](ns, ms, s)
        if mask >= inc.spill:
            self.on_new(ns)
            return mask ^ inc.spill
        self.on_new_after(ns, k)
        return mask

    def on_new_after(self, s: Hashable, k: int) -> None:
        """:meth:`on_new` for a state reached by instance ``k`` from one checked before.

        Only the properties that read what ``k`` declares it writes can have changed:
        the parent held every invariant still checked and met no pending target.
        """
        invariants, targets = self.watched[k]
        for prop in invariants:
            if not prop.predicate(s):
                self.violate(prop, s)
        for prop in targets:
            if prop in self.pending:
                answer = prop.predicate(s)
                if answer:
                    if answer is not True:
                        raise not_a_bool(f"{prop.kind} {prop.name}", answer, s)
                    self.witnesses[prop.name] = s
                    self.pending.remove(prop)
                    self.regroup()

    def violate(self, prop: Property | None, s: Hashable) -> None:
        name = prop.name if prop is not None else "deadlock"
        if name in self.violations:
            return
        judge = prop if prop is not None else self.model.terminal_property
        if judge is not None:
            answer = judge.predicate(s)
            if type(answer) is not bool:
                raise not_a_bool(f"{judge.kind} {judge.name}", answer, s)
        self.violations[name] = (prop, s)
        if prop is not None:
            # A new list: on_new may be iterating over the old one, and another
            # invariant violated in the same state must still be seen there.
            self.invariants = [p for p in self.invariants if p is not prop]
            if self.retire is not None:
                self.retire(prop)
            self.regroup()
        if not self.opts.keep_going:
            raise _Stop

    def tick(self, depth: int) -> None:
        """Called every CLOCK_EVERY expansions: time limit and progress."""
        self.freeze()
        now = time.perf_counter()
        limit = self.opts.time_limit
        if limit is not None and now - self.start >= limit:
            self.incomplete = f"time limit of {limit:g} s reached"
            raise _Stop
        over = memory_over(self.opts.max_memory)
        if over is not None:
            self.incomplete = over
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
                    *self.levels(depth),
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

    def full(self) -> None:
        """The visited map holds ``max_states`` states and another was found."""
        self.bound_hit(f"state bound of {self.opts.max_states} reached")
        raise _Stop

    def dead(self, s: Hashable) -> None:
        """No instance is enabled in ``s``: a deadlock unless ``s`` is terminal."""
        terminal = self.model.terminal_property
        if terminal is None or not terminal.predicate(s):
            self.violate(None, s)

    # -- breadth-first ------------------------------------------------------------

    def bfs(
        self,
        current: list[Any],
        inc: Incremental | None = None,
        exp: Expander | None = None,
    ) -> None:
        """Breadth-first search, level by level.

        With ``inc`` (incremental enabledness, see model.enabled) each frontier state
        carries its enabled mask: a new state's comes from its parent's and the instance
        fired, and only the properties that instance may change are checked on it.

        With ``exp`` (partial-order reduction, or the audit) the expander chooses what
        to fire: C3 is the closed-set proviso, a state in the visited map being closed
        unless it is still unexpanded. A state it rests on (:meth:`Expander.rests`) is
        expanded fully here, as without it; one it tries gets the enabled instances
        from the mask when there is one.
        """
        parent = self.parent
        fired, new = self.fired, self.new
        types = self.model.state_types
        max_states, max_depth = self.bounds()
        deadlock = self.opts.deadlock
        on_new, on_new_after = self.on_new, self.on_new_after
        key = self.key
        new_level, new_keys = levels(self.plan)  # lists, or compact (search.frontier)
        frontier = new_level(self.roots.values())
        keys = frontier if key is None else new_keys(self.roots)
        new_masks = mask_levels(self.plan, len(self.instances))
        masks = (
            None if inc is None else new_masks(inc.full(s) for s in self.roots.values())
        )
        refresh, spill = (inc.refresh, inc.spill) if inc is not None else ((), 0)
        reduced = exp is not None
        unexpanded = set(self.roots)  # reduced: found, not yet expanded

        def closed(ns: Hashable) -> bool:
            kn = ns if key is None else key(ns)
            return kn in parent and kn not in unexpanded

        depth = 0
        clock = CLOCK_EVERY  # expansions until the next tick
        ms = 0
        # A plain level runs as one generated function (klpcheck.search.fused) unless
        # the environment sets KLPCHECK_NO_FUSE=1.
        fused: Level | None = None
        fuse = os.environ.get("KLPCHECK_NO_FUSE", "") in ("", "0")
        bounded = max_states != sys.maxsize
        while frontier:
            nxt = new_level(())
            nxt_keys = nxt if key is None else new_keys(())
            nxt_masks = None if inc is None else new_masks(())
            self.queue_size = lambda: len(frontier) + len(nxt)  # noqa: B023
            size = len(frontier)
            self.levels = lambda d: (size, len(nxt))  # noqa: B023
            at_bound = depth >= max_depth
            # Taken from the end of the reversed level, so that an expanded state is
            # let go at once (with fingerprints nothing else holds it): the two levels
            # in memory shrink and grow in step instead of adding up.
            frontier.reverse()
            if keys is not frontier:
                keys.reverse()
            if masks is not None:
                masks.reverse()
            if not reduced and not at_bound and fuse:
                if fused is None:
                    fused = self.fused(key is not None, bounded, inc)
                # The initial states alone may exceed the bound: no room, never less.
                room = max(0, max_states - len(parent)) if bounded else 0
                try:
                    clock = fused(
                        frontier,
                        keys,
                        masks,
                        nxt,
                        nxt_keys,
                        nxt_masks,
                        parent,
                        fired,
                        new,
                        room,
                        clock,
                        depth,
                        current,
                    )
                finally:
                    if len(nxt):
                        self.max_depth = depth + 1
                frontier, keys, masks = nxt, nxt_keys, nxt_masks
                depth += 1
                continue
            expand = self.expand
            while frontier:
                s = frontier.pop()
                ks = s if keys is frontier else keys.pop()
                current[0] = s
                if masks is not None:
                    ms = masks.pop()
                count = True  # this loop counts the firings (the expander does when it tries)
                if reduced:
                    assert exp is not None
                    if self.symmetry_audit is not None:
                        self.symmetry_audit.state(s)
                    unexpanded.discard(ks)
                    if not exp.rests():
                        count = False
                        succs = exp.tried(
                            s, closed, None if masks is None else bits(ms)
                        )
                    else:
                        succs = expand(s) if masks is None else inc.fire(s, ms)  # type: ignore[union-attr]
                        exp.enabled += len(succs)
                else:
                    succs = expand(s) if masks is None else inc.fire(s, ms)  # type: ignore[union-attr]
                for k, ns in succs:
                    if count:
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
                        self.full()
                    parent[kn] = ks
                    new[k] += 1
                    nxt.append(ns)
                    if key is not None:
                        nxt_keys.append(kn)
                    if reduced:
                        unexpanded.add(kn)
                    self.max_depth = depth + 1
                    if nxt_masks is None:
                        on_new(ns)
                    else:
                        current[0] = ns  # a guard or property raising here raised on ns
                        m = refresh[k](ns, ms, s)
                        if m >= spill:  # k changed more than it declares
                            m ^= spill
                            on_new(ns)
                        else:
                            on_new_after(ns, k)
                        nxt_masks.append(m)
                        current[0] = s
                if not succs and deadlock:
                    self.dead(s)
                clock -= 1
                if not clock:
                    clock = CLOCK_EVERY
                    self.tick(depth)
            frontier, keys, masks = nxt, nxt_keys, nxt_masks
            depth += 1

    # -- depth-first --------------------------------------------------------------

    def successors(
        self, s: Hashable, mask: int | None = None
    ) -> list[tuple[int, Any, Hashable]]:
        """Fire every enabled instance in ``s``: ``(index, successor, its key)``.

        With ``mask`` (incremental enabledness) the instances in it, else every guard is
        evaluated. Reports a deadlock if no instance is enabled.
        """
        key, fired = self.key, self.fired
        out = []
        inc = self.plan.incremental
        pairs = self.expand(s) if mask is None or inc is None else inc.fire(s, mask)
        for k, ns in pairs:
            fired[k] += 1
            out.append((k, ns, ns if key is None else key(ns)))
        if not out and self.opts.deadlock:
            self.dead(s)
        return out

    def dfs(self, current: list[Any], inc: Incremental | None = None) -> None:
        """Depth-first search; with ``inc``, each frame carries its state's enabled mask."""
        parent, new = self.parent, self.new
        types = self.model.state_types
        max_states, max_depth = self.bounds()
        successors = self.successors
        expanded = 0
        # Each frame: the state, its key, its successors, the next one to try, its
        # depth, its enabled mask (None without incremental enabledness).
        stack: list[list[Any]] = []
        self.queue_size = lambda: len(stack)
        for root in self.roots.values():
            current[0] = root
            mask = None if inc is None else inc.full(root)
            stack.append([root, self.key_of(root), successors(root, mask), 0, 0, mask])
            while stack:
                frame = stack[-1]
                s, ks, succs, pos, depth, ms = frame
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
                    self.full()
                parent[kn] = ks
                new[k] += 1
                if depth + 1 > self.max_depth:
                    self.max_depth = depth + 1
                if inc is None:
                    mask = None
                    self.on_new(ns)
                    current[0] = ns
                else:
                    current[0] = ns  # a guard or property raising here raised on ns
                    mask = self.refreshed(inc, k, ns, ms, s)
                stack.append([ns, kn, successors(ns, mask), 0, depth + 1, mask])
                expanded += 1
                if not expanded % CLOCK_EVERY:
                    self.tick(depth)

    # -- reduced search (partial-order reduction, or the footprint audit) -------------

    def reduced_expander(self) -> Expander | None:
        """The expander of the reduced search; None for the plain loops above."""
        reducer, self.por_reason = self.plan.reducer, self.plan.reduction_reason
        self.auditor: Auditing | None = None
        self.symmetry_audit: SymmetryAudit | None = None
        if self.opts.audit:
            from klpcheck.reduce.audit import Auditor

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

    def reduced_dfs(self, current: list[Any], inc: Incremental | None) -> None:
        """Depth-first search firing what the expander chooses.

        C3 is the stack proviso of SPIN (Holzmann and Peled, 1994), weaker in what it
        forbids than the closed-set proviso of breadth-first search and so reducing more:
        only a successor on the search stack closes a cycle. Incremental enabledness
        (``inc``) as in :meth:`bfs`.
        """
        exp = self.expander
        assert exp is not None
        rests, tried = exp.rests, exp.tried
        parent, new, fired = self.parent, self.new, self.fired
        key_of = self.key_of
        types = self.model.state_types
        max_states, max_depth = self.bounds()
        on_stack: set[Hashable] = set()

        def closed(ns: Hashable) -> bool:
            return key_of(ns) in on_stack

        # Each frame: [state, key, successors, next, depth, enabled mask]; the mask is
        # None without incremental enabledness.
        stack: list[list[Any]] = []
        self.queue_size = lambda: len(stack)

        def push(s: Hashable, ks: Hashable, depth: int, mask: int | None) -> None:
            current[0] = s
            if self.symmetry_audit is not None:
                self.symmetry_audit.state(s)
            if inc is not None and mask is None:
                mask = inc.full(s)
            if not rests():
                succs = tried(s, closed, None if mask is None else bits(mask))
            else:
                succs = self.expand(s) if mask is None else inc.fire(s, mask)  # type: ignore[union-attr]
                for k, _ in succs:
                    fired[k] += 1
                exp.enabled += len(succs)
            if not succs and self.opts.deadlock:
                self.dead(s)
            if not exp.expanded % CLOCK_EVERY:
                self.tick(depth)
            stack.append([s, ks, succs, 0, depth, mask])
            on_stack.add(ks)

        for ks, root in self.roots.items():
            push(root, ks, 0, None)
            while stack:
                frame = stack[-1]
                s, ks, succs, pos, depth, ms = frame
                if pos == len(succs):
                    stack.pop()
                    on_stack.discard(ks)
                    continue
                frame[3] = pos + 1
                k, ns = succs[pos]
                if type(ns) not in types:
                    raise self.wrong_type(k, s, ns)
                kn = key_of(ns)
                if kn in parent:
                    continue
                if depth >= max_depth:
                    self.bound_hit(f"depth bound of {max_depth} reached")
                    continue
                if len(parent) >= max_states:
                    self.full()
                parent[kn] = ks
                new[k] += 1
                self.max_depth = max(self.max_depth, depth + 1)
                mask = None
                if inc is not None and ms is not None:
                    current[0] = ns  # a guard or property raising here raised on ns
                    mask = self.refreshed(inc, k, ns, ms, s)
                else:
                    self.on_new(ns)
                push(ns, kn, depth + 1, mask)

    def reduction(self) -> Reduction:
        exp = self.expander
        if exp is None or exp.reducer is None:
            return Reduction(False, self.por_reason)
        blame = ""
        if not exp.reduced:
            from klpcheck.reduce.por import nothing_cut

            blame = nothing_cut(
                exp.reducer, self.model.invariants + self.model.reachables
            )
        return Reduction(
            True,
            "",
            exp.expanded,
            exp.reduced,
            exp.proviso,
            exp.enabled,
            sum(self.fired),
            blame,
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
        return wrong_type(self.instances[k], self.model, ns)

    def diagnose(self, s: Any, exc: Exception) -> ModelError:
        """Find which guard, effect or property raised ``exc`` by re-running them on ``s``."""
        return diagnose(self.model, s, exc)
