"""Partial-order reduction: stubborn sets over declared footprints, closed-set proviso.

In a state ``s`` the search fires only the enabled instances of a *stubborn set* T(s)
instead of every enabled instance. Invariant violations, reachable targets and deadlocks
found by the full search are all found by the reduced one; only the number of states and
the traces differ. Each condition has one helper below.

C0 (emptiness)
    T(s) contains an enabled instance whenever one exists: the closure starts from one
    (:meth:`Reducer._c0_seeds`). A state without enabled instances stays a deadlock.
C1 (dependency, D1 and D2 of Valmari's stubborn sets)
    For an enabled ``a`` in T, every instance that may be dependent on ``a`` is in T: ``a``
    writes a part that the other reads or writes, or the other way round (declared
    footprints, an item written counting as read). For a disabled ``a`` in T, a
    *necessary enabling set* is in T: every instance that writes a part that ``a``'s guard
    read when it was evaluated in ``s`` (:meth:`Reducer._c1_closure`,
    :meth:`Reducer._nes`). The guard is deterministic, so it stays false until one of
    those parts changes. What it read is observed only where the guard's bytecode
    proves the observation complete (:func:`klpcheck.model.footprint.complete_reads`: the
    state reached only as ``s.field`` or ``s.field[i]``); anywhere else the step's
    declared reads stand in for it. Among the seeds, the smallest resulting set wins
    (Godefroid's heuristic). Footprints must over-approximate what guards and effects
    do; ``--audit`` checks that they do.
C2 (visibility, Valmari's V)
    An instance is visible when it writes a part read by a property still being looked
    for (an invariant not yet violated, a reachable target not yet met). If T contains an
    enabled visible instance, T contains every visible instance
    (:meth:`Reducer._c2_visible`). A property without ``reads=`` makes every instance
    visible.
C3 (cycles: the closed-set proviso of Bošnački, Leue and Lluch-Lafuente)
    A reduced expansion of ``s`` may not have a successor that is already closed
    (expanded, or ``s`` itself) (:func:`c3_proviso`). The next smallest stubborn set is
    tried instead; when none passes, ``s`` is expanded fully. On any cycle the state
    expanded last sees its successor on the cycle closed, so every cycle of the reduced
    graph has a fully expanded state and no step is ignored forever. Breadth-first search
    uses this rule. Depth-first search uses the stack proviso of SPIN (Holzmann and
    Peled, 1994), where "closed" means "on the search stack": every cycle of the reduced
    graph is closed by a back edge to a state on the stack, whose expansion was then
    full. It forbids less, so it keeps fewer states (the caller passes the predicate).

Deadlocks need only C0 and C1. After 512 states in a row without a cut the expander
expands fully for a while (doubling, up to 65,536 states), then tries again for 64 states
(512 again once it cut), and at once when the properties still looked for change: full
expansion is always sound. Notes: breadth-first traces are shortest in the reduced
graph only; ``check(..., shortest=True)`` re-runs the search for each violation without
reduction. A guard that reaches the state in any other way than ``s.field`` or ``s.field[i]``
(``type(s)``, ``helper(s)``, ``"%d" % s.pc``) is not observed: its step's declared reads
are used, which is sound and may cut less.

References: A. Valmari, "Stubborn sets for reduced state space generation", APN 1990,
and "The state explosion problem", LNCS 1491, 1998; P. Godefroid, "Partial-Order Methods
for the Verification of Concurrent Systems", LNCS 1032, 1996; G. J. Holzmann and D. Peled,
"An improvement in formal verification", FORTE 1994; D. Bošnački, S. Leue and
A. Lluch-Lafuente, "Partial-order reduction for general state exploring algorithms",
SPIN 2006 / STTT 11(1), 2009.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Hashable, Sequence
from typing import Any, Protocol

from klpcheck.base.errors import ModelError
from klpcheck.base.result import Result
from klpcheck.model.definition import Instance, Model, Property, calls_of
from klpcheck.model.footprint import (
    ALL,
    Paths,
    all_paths,
    complete_reads,
    covers,
    describe_path,
    effective_reads,
    instance_paths,
    overlaps,
    property_paths,
    provable_fields,
)
from klpcheck.model.state import field_names

__all__ = [
    "Auditing",
    "Expander",
    "Reducer",
    "c3_proviso",
    "nothing_cut",
    "plan",
    "shortest_traces",
]


def plan(
    model: Model[Any], por: bool | None, symmetry: bool = False
) -> tuple[Reducer | None, str]:
    """Decide whether to reduce; return the reducer, or None and the reason why not.

    ``por=None`` (the default) reduces when some step declares a footprint, unless the
    search uses ``symmetry`` reduction (:mod:`klpcheck.reduce.symmetry`).

    Examples
    --------
    >>> m = Model("m", init=0)
    >>> plan(m, None)
    (None, 'states have no named fields (use a dataclass or NamedTuple)')
    """
    if por is False:
        return None, "turned off (--no-por)"
    if symmetry:
        return None, SYMMETRY_REASON
    if any(field_names(t) is None for t in model.state_types):
        return None, "states have no named fields (use a dataclass or NamedTuple)"
    declared = any(s.reads is not None or s.writes is not None for s in model.steps)
    if not declared and por is None:
        return None, "no step declares reads= or writes="
    types = list(model.state_types)
    fields = provable_fields(types[0]) if len(types) == 1 else None
    reducer = Reducer(model.instances(), fields)
    if not reducer.independent_pairs():
        return None, "every pair of steps may be dependent; declare narrower footprints"
    return reducer, ""


SYMMETRY_REASON = (
    "symmetry reduction is in use, and the two need extra conditions to combine "
    "soundly (Emerson, Jha and Peled, 1997); --no-symmetry to reduce by partial order"
)


def nothing_cut(reducer: Reducer, properties: Sequence[Property]) -> str:
    """Why a reduced search cut nothing, in a few words naming a property or a step.

    Usually C2: the property whose reads= make the most step instances visible (an
    enabled visible instance brings every visible one into the set). Otherwise C1:
    the step whose instances may depend on the most others. Counts are of step
    instances (one per ``over=`` value).
    """
    n = len(reducer.instances)
    best: tuple[int, str] = (0, "")
    for p in properties:
        seen = property_paths(p.reads)
        count = sum(
            (w is None or bool(w)) and overlaps(w, seen) for w in reducer.writes
        )
        if count > best[0]:
            best = (count, f"{p.kind} {p.name}")
    if best[0] > 1:
        return f"{best[0]:,} of {n:,} steps write what {best[1]} reads"
    a = max(range(n), key=lambda i: len(reducer.dependent[i]))
    deps = len(reducer.dependent[a]) - 1
    return f"step {reducer.instances[a].step.name} may depend on {deps:,} of {n - 1:,} others"


class Reducer:
    """Stubborn sets for the instances of one model (see the module docstring).

    Parameters
    ----------
    instances
        Every step instance of the model, in order.

    Examples
    --------
    Two processes, each stepping its own element of ``pc``: either alone is a stubborn
    set, so the smallest sets hold one instance each.

    >>> from typing import NamedTuple
    >>> class S(NamedTuple):
    ...     pc: tuple[int, ...]
    >>> m = Model("two", init=S((0, 0)))
    >>> @m.step(over=range(2), when=lambda s, t: s.pc[t] < 2,
    ...         reads={"pc[t]"}, writes={"pc[t]"})
    ... def step(s, t):
    ...     return S(s.pc[:t] + (s.pc[t] + 1,) + s.pc[t + 1 :])
    >>> r = Reducer(m.instances())
    >>> r.watch([])
    True
    >>> r.candidates(S((0, 0)), [0, 1])
    [(0,), (1,)]
    """

    def __init__(
        self, instances: Sequence[Instance], fields: tuple[str, ...] | None = None
    ) -> None:
        self.instances = instances
        paths = [instance_paths(i) for i in instances]
        # what each guard reads: declared, widened by what its code shows (``fields``:
        # of the one state type whose reads can be proven, see provable_fields)
        self.reads: list[Paths] = [
            effective_reads(r, i.step.guard, i.args, fields)
            for i, (r, _) in zip(instances, paths, strict=True)
        ]
        self.writes: list[Paths] = [w for _, w in paths]
        n = len(instances)
        self.dependent: list[tuple[int, ...]] = [
            tuple(
                b
                for b in range(n)
                if b == a
                or overlaps(self.writes[a], self.reads[b])
                or overlaps(self.writes[b], self.reads[a])
            )
            for a in range(n)
        ]
        self._writers: dict[tuple[Any, ...], tuple[int, ...]] = {}
        self._declared_nes: dict[int, tuple[int, ...]] = {}
        self.visible: list[bool] = [True] * n
        self.visible_list: tuple[int, ...] = tuple(range(n))
        self._watching: tuple[str, ...] | None = None

    def independent_pairs(self) -> bool:
        """True when at least two instances are independent (else nothing can be cut)."""
        n = len(self.instances)
        return any(len(d) < n for d in self.dependent)

    # -- C0 ---------------------------------------------------------------------------

    @staticmethod
    def _c0_seeds(enabled: Sequence[int]) -> Sequence[int]:
        """C0: every stubborn set grows from an enabled instance; none means a deadlock."""
        return enabled

    # -- C1 ---------------------------------------------------------------------------

    def _writers_of(self, path: tuple[Any, ...]) -> tuple[int, ...]:
        """Instances whose declared writes may touch ``path`` (``()``: anything)."""
        hit = self._writers.get(path)
        if hit is None:
            target: Paths = frozenset({path}) if path else ALL
            hit = tuple(
                b
                for b, w in enumerate(self.writes)
                if (w is None or w) and overlaps(w, target)
            )
            self._writers[path] = hit
        return hit

    def _nes(self, a: int, state: Hashable) -> tuple[int, ...]:
        """C1 for a disabled instance: the writers of what its guard reads in ``state``.

        What the guard reads is taken from :func:`~klpcheck.model.footprint.complete_reads`
        only where the guard's code proves the log complete (the state reached only as
        ``s.field`` or ``s.field[i]``); otherwise from the step's declared reads. An
        observation that cannot be proven complete is never trusted: a missed read
        would leave out the step that enables the guard.
        """
        inst = self.instances[a]
        guard = inst.step.guard
        assert guard is not None  # an instance without a guard is never disabled
        seen = complete_reads(guard, state, inst.args)
        if seen is None or seen[0]:
            hit = self._declared_nes.get(a)
            if hit is None:
                declared = self.reads[a]
                paths = [()] if declared is None else sorted(declared, key=repr)
                hit = self._declared_nes[a] = self._writers_of_all(paths)
            return hit
        paths = sorted(seen[1], key=repr)
        for p in paths:
            if not covers(self.reads[a], p):
                raise undeclared_read(inst, p, state)
        return self._writers_of_all(paths)

    def _writers_of_all(self, paths: Sequence[tuple[Any, ...]]) -> tuple[int, ...]:
        out: set[int] = set()
        for p in paths:
            out.update(self._writers_of(p))
        return tuple(sorted(out))

    def _c1_closure(
        self,
        seed: int,
        state: Hashable,
        enabled: set[int],
        bound: int,
        nes: dict[int, tuple[int, ...]],
    ) -> list[int] | None:
        """C1 (with C2 folded in): the stubborn set grown from ``seed``, as its enabled
        instances; None as soon as it has ``bound`` enabled instances or more."""
        members = {seed}
        work = [seed]
        count = 1
        saw_visible = False
        while work:
            a = work.pop()
            if a in enabled:
                more: Sequence[int] = self.dependent[a]
                if self.visible[a] and not saw_visible:
                    saw_visible = True
                    more = (*more, *self._c2_visible(members))
            else:
                if a not in nes:
                    nes[a] = self._nes(a, state)
                more = nes[a]
            for b in more:
                if b not in members:
                    members.add(b)
                    work.append(b)
                    if b in enabled:
                        count += 1
                        if count >= bound:
                            return None
        return sorted(m for m in members if m in enabled)

    # -- C2 ---------------------------------------------------------------------------

    def watch(self, properties: Sequence[Property]) -> bool:
        """C2 bookkeeping: recompute visibility for the properties still looked for.

        Returns True when the set of properties changed since the last call.
        """
        key = tuple(p.name for p in properties)
        if key == self._watching:
            return False
        self._watching = key
        seen = all_paths(property_paths(p.reads) for p in properties)
        self.visible = [
            (w is None or bool(w)) and overlaps(w, seen) for w in self.writes
        ]
        self.visible_list = tuple(i for i, v in enumerate(self.visible) if v)
        return True

    def _c2_visible(self, members: set[int]) -> tuple[int, ...]:
        """C2: an enabled visible instance brings in every visible instance."""
        return tuple(v for v in self.visible_list if v not in members)

    # -- the set ----------------------------------------------------------------------

    def candidates(
        self, state: Hashable, enabled: Sequence[int]
    ) -> list[tuple[int, ...]]:
        """Stubborn sets of ``state`` smaller than ``enabled``, as their enabled instances.

        One per seed, duplicates removed, smallest first (Godefroid's heuristic); the
        expander fires the first that passes C3. Empty when no proper subset qualifies.
        """
        seeds = self._c0_seeds(enabled)
        if len(seeds) <= 1 or len(self.visible_list) == len(self.instances):
            return []  # one choice, or C2 puts every instance in every set
        on = set(enabled)
        found: set[tuple[int, ...]] = set()
        nes: dict[int, tuple[int, ...]] = {}
        for seed in seeds:
            if (seed,) in found:
                continue
            members = self._c1_closure(seed, state, on, len(enabled), nes)
            if members is not None:
                found.add(tuple(members))
        return sorted(found, key=lambda c: (len(c), c))


def c3_proviso(
    state: Hashable,
    successors: Sequence[tuple[int, Hashable]],
    is_closed: Callable[[Hashable], bool],
) -> bool:
    """C3, the closed-set proviso: True when ``state`` must be expanded fully.

    That is when a successor of the reduced expansion is ``state`` itself or a state that
    has already been expanded.

    Examples
    --------
    >>> c3_proviso(0, [(0, 1)], lambda s: s in {0})
    False
    >>> c3_proviso(0, [(0, 1), (1, 0)], lambda s: s in {0})
    True
    """
    return any(ns == state or is_closed(ns) for _, ns in successors)


class Auditing(Protocol):
    """What the expander tells a footprint audit (:class:`klpcheck.reduce.audit.Auditor`)."""

    def state(self, s: Hashable, enabled: Sequence[int]) -> None: ...

    def fired(self, k: int, s: Hashable, ns: Hashable) -> None: ...

    def summary(self) -> str: ...


class Expander:
    """Computes the successors of one state: a stubborn set's, or all when C3 asks.

    Parameters
    ----------
    instances
        Every step instance of the model.
    reducer
        The stubborn-set reducer, or None to expand every state fully (audit only).
    watching
        Returns the properties still looked for (C2 depends on them).
    fired
        Per-instance counters of fired steps, incremented here.
    auditor
        Told about every expanded state and fired step, when given.
    """

    def __init__(
        self,
        instances: Sequence[Instance],
        reducer: Reducer | None,
        watching: Callable[[], Sequence[Property]],
        fired: list[int],
        auditor: Auditing | None = None,
    ) -> None:
        self.instances = instances
        self.table = calls_of(instances)  # (index, guard, effect, a): f(state, a)
        self.reducer = reducer
        self.watching = watching
        self.fired = fired
        self.auditor = auditor
        self.expanded = 0
        self.reduced = 0
        self.proviso = 0
        self.enabled = 0
        # Trying for stubborn sets costs time (on livepatch.py, where they cut nothing,
        # a tried state costs three times a full expansion); after _PATIENCE states in
        # a row without a cut, expand fully for a while (doubling), then try again for
        # _RETRY states, and at once when visibility changes. A cut restores the
        # patience. Full expansion is always sound, so this only trades reduction.
        self._misses = 0
        self._patience = _PATIENCE
        self._rest_until = 0
        self._rest = _PATIENCE

    def rewatch(self) -> None:
        """Tell the expander that the properties still looked for may have changed.

        C2 depends on them; when they change, reduction may cut again, so the expander
        stops resting and tries at once. The search calls this whenever its set of
        properties changes (and once before it starts).
        """
        reducer = self.reducer
        if reducer is not None and reducer.watch(self.watching()):
            self._misses, self._rest_until = 0, 0

    def rests(self) -> bool:
        """Count one more expanded state; True when it is to be expanded fully, unaudited.

        The caller then fires every enabled instance itself, as the plain search does,
        and counts them in :attr:`fired` and :attr:`enabled`; otherwise it calls
        :meth:`tried`.
        """
        self.expanded += 1
        return self.auditor is None and (
            self.reducer is None or self.expanded < self._rest_until
        )

    def tried(
        self,
        s: Hashable,
        is_closed: Callable[[Hashable], bool],
        expected: list[int] | None = None,
    ) -> list[tuple[int, Hashable]]:
        """The successors of ``s`` when :meth:`rests` said no: a stubborn set's if one passes.

        ``expected``: the instances incremental enabledness found enabled in ``s``, in
        increasing order. Every guard is evaluated here all the same (next to the
        stubborn sets' cost, little), and a difference is a guard reading a part its
        step does not declare: a ModelError, before any reduction relies on it.
        """
        reducer = self.reducer
        enabled = [k for k, guard, _, a in self.table if guard is None or guard(s, a)]
        if expected is not None and expected != enabled:
            raise _mask_error(self.instances, s, expected, enabled)
        self.enabled += len(enabled)
        if self.auditor is not None:
            self.auditor.state(s, enabled)
        cache: dict[int, Hashable] = {}
        if (
            reducer is not None
            and len(enabled) > 1
            and self.expanded >= self._rest_until
        ):
            candidates = reducer.candidates(s, enabled)
            for ample in candidates:
                out = self._fire(s, ample, cache)
                if not c3_proviso(s, out, is_closed):
                    self.reduced += 1
                    self._misses = 0
                    self._patience = _PATIENCE
                    return self._count(out)
            if candidates:
                self.proviso += 1
            self._give_up_for_a_while()
        return self._count(self._fire(s, enabled, cache))

    def _give_up_for_a_while(self) -> None:
        self._misses += 1
        if self._misses >= self._patience:
            self._misses = 0
            self._patience = _RETRY
            self._rest_until = self.expanded + self._rest
            self._rest = min(2 * self._rest, _MAX_REST)

    def _fire(
        self, s: Hashable, which: Sequence[int], cache: dict[int, Hashable]
    ) -> list[tuple[int, Hashable]]:
        out = []
        for k in which:
            ns = cache.get(k, _UNFIRED)
            if ns is _UNFIRED:
                _, _, effect, a = self.table[k]
                ns = cache[k] = effect(s, a)
                if self.auditor is not None:
                    self.auditor.fired(k, s, ns)
            out.append((k, ns))
        return out

    def _count(self, out: list[tuple[int, Hashable]]) -> list[tuple[int, Hashable]]:
        for k, _ in out:
            self.fired[k] += 1
        return out


def _mask_error(
    instances: Sequence[Instance],
    s: Hashable,
    expected: list[int],
    enabled: list[int],
) -> ModelError:
    """The error for a guard whose value incremental enabledness got wrong in ``s``."""
    k = min(set(expected) ^ set(enabled))
    return ModelError(
        f"the guard of step {instances[k].label()} is {k in enabled} in state {s!r:.300}, but "
        f"incremental enabledness kept {k not in enabled} from the state before: no "
        "step on the way declares writes that meet its reads=, so the guard reads a "
        "part it does not declare. Partial-order reduction and incremental enabledness "
        "trust reads=: run with --audit to have the part named, and add it to reads="
    )


_UNFIRED: Hashable = object()
_PATIENCE = 512  # states in a row without a cut before resting
_RETRY = 64  # the same, after a rest without a cut since
_MAX_REST = 1 << 16  # longest rest, in expanded states


def undeclared_read(inst: Instance, path: tuple[Any, ...], state: Any) -> ModelError:
    """The error for a guard that read a part outside its step's declared reads."""
    declared = inst.step.reads
    shown = ", ".join(sorted(declared)) if declared else "nothing"
    return ModelError(
        f"the guard of step {inst.label()} read {describe_path(path)}, but the step "
        f"declares reads={{{shown}}} (writes count as reads too); in state {state!r:.300}. "
        f"Partial-order reduction trusts footprints, so an undeclared read can hide a "
        f"violation: add {describe_path(path)!r} (or its field) to reads=, or run with "
        f"--no-por"
    )


def shortest_traces(
    model: Model[Any], result: Result, search: Callable[..., Result]
) -> Result:
    """Replace each violation's trace by a shortest one, found without reduction.

    One breadth-first search per violation, on the model narrowed to that property and
    bounded by the length of the trace already found (so it cannot come back empty
    unless another bound stops it; then the reduced trace is kept).

    Parameters
    ----------
    model
        The model that was checked.
    result
        The reduced search's result.
    search
        Runs a search: ``search(model, **options)`` returns a Result; the options given
        override the original ones.
    """
    violations = []
    kept = 0
    for v in result.violations:
        if v.trace is None:
            violations.append(v)
            continue
        narrowed = copy.copy(model)
        narrowed.invariants = [p for p in model.invariants if p.name == v.property]
        narrowed.reachables = []
        again = search(
            narrowed,
            order="bfs",
            por=False,
            audit=False,
            shortest=False,
            keep_going=False,
            deadlock=v.kind == "deadlock",
            max_depth=len(v.trace),
            progress=None,
        ).violation(v.property)
        if again is None or again.trace is None:
            kept += 1
            violations.append(v)
        else:
            violations.append(dataclasses.replace(v, trace=again.trace))
    note = "--shortest: each trace re-found by breadth-first search without reduction"
    if kept:
        note += f" ({kept} kept from the reduced search: a bound stopped the re-run)"
    return dataclasses.replace(
        result, violations=tuple(violations), notes=(*result.notes, note)
    )
