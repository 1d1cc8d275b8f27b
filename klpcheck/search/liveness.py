"""Liveness under fairness: ``@model.eventually`` and ``@model.leads_to`` on the state graph.

Semantics. The behaviours of a model are the infinite paths of its state graph from an
initial state. A state with no enabled step ends a finite behaviour, which is extended by
staying in that state forever; staying is never taking a step and enables none. In a state
with an enabled step a behaviour always takes one (no implicit stuttering, as in SPIN,
unlike TLA+), so a liveness property can hold without any fairness. A behaviour is fair
to an instance with weak fairness unless, from some point on, the instance is enabled in
every state and never taken; with strong fairness, unless it is enabled infinitely often
and taken finitely often. A self-loop that is taken counts as taking its instance.

``p ~> q`` (``leads_to``) holds when in every fair behaviour each state satisfying p is
followed (that state included) by one satisfying q; ``eventually p`` is ``init ~> p``.

Algorithm. After a complete search, the state graph is built again with integer state
ids and one instance id per edge; which fair instances are enabled in a state is read
from their guards. A violation of ``p ~> q`` lies in the subgraph R of states reachable
from a ``p ∧ ¬q`` state through ``¬q`` states: a state of R with no enabled step, or a
strongly connected component of R that contains a fair cycle. A component C contains
one (Emerson and Lei, "Modalities for model checking", 1987; Lichtenstein and Pnueli,
POPL 1985) when, after removing the states that enable a strong instance enabled in C
but taken on no edge inside C and decomposing again, some component C' has an edge
inside it and every weak instance enabled in all of C' is taken on an edge inside C'.
Components are found with Tarjan's algorithm (SIAM J. Comput. 1972), written with an
explicit stack.

The counterexample is a lasso of real edges: the shortest path from an initial state to
a trigger state, a shortest path through R to the component (the trigger and the
component chosen to keep the stem short), then a cycle from the entry state that takes
each strong instance enabled in the component and, for each weak one, takes it or visits
a state where it is disabled. Its fairness is checked again on the cycle itself, with the
guards, before it is reported (:func:`lasso_problem`, which replay uses too). The lasso
is short but not necessarily the shortest.
"""

from __future__ import annotations

import dataclasses
import time
from array import array
from collections import deque
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from klpcheck.base.errors import ModelError
from klpcheck.base.resources import memory_over
from klpcheck.base.result import (
    Fairness,
    Lasso,
    Result,
    Trace,
    TraceStep,
    Violation,
    verdict_of,
)
from klpcheck.model.definition import (
    Instance,
    Model,
    Property,
    calls_of,
    not_a_bool,
)
from klpcheck.search.storage import exact_key

__all__ = [
    "StateGraph",
    "build_graph",
    "check_liveness",
    "find_violation",
    "lasso_problem",
    "strongly_connected",
]

_CLOCK_EVERY = 1024


class _OutOfMemory(Exception):
    """The memory bound was reached while the state graph was built."""


class _OutOfTime(Exception):
    """The time limit ran out during the liveness analysis."""


@dataclass
class StateGraph:
    """Every reachable state with an integer id (breadth-first order) and its edges.

    The edges of state ``i`` are ``targets[offsets[i]:offsets[i + 1]]``, each taken by
    instance ``labels[...]``. ``parent[i]`` and ``via[i]`` give a shortest path from an
    initial state (``-1`` for initial states); ``enabled[i]`` has bit j set when fair
    instance ``fair[j]`` is enabled in state ``i``, as its guard says.
    """

    states: list[Any]
    offsets: array[int]
    targets: array[int]
    labels: array[int]
    parent: array[int]
    via: array[int]
    depth: array[int]
    enabled: list[int]
    initial: list[int]
    fair: tuple[Instance, ...]

    def __len__(self) -> int:
        return len(self.states)

    def edges(self, i: int) -> range:
        """The edge positions of state ``i``."""
        return range(self.offsets[i], self.offsets[i + 1])

    def mask(self, kind: str) -> int:
        """The bits of the fair instances with fairness ``kind``."""
        return self._masks.get(kind, 0)

    def bit(self, instance: int) -> int:
        """The fairness bit of an instance index (0 when it has no fairness)."""
        return self._bits.get(instance, 0)

    def __post_init__(self) -> None:
        # Read once per component of the analysis: computed once, not per call.
        self._bits = {inst.index: 1 << j for j, inst in enumerate(self.fair)}
        self._masks: dict[str, int] = {}
        for j, inst in enumerate(self.fair):
            kind = inst.step.fair
            assert kind is not None
            self._masks[kind] = self._masks.get(kind, 0) | 1 << j


def build_graph(
    model: Model[Any], deadline: float | None = None, max_memory: int | None = None
) -> StateGraph:
    """Explore every reachable state of ``model`` breadth-first and keep its edges.

    Every enabled instance gives one edge (self-loops and parallel edges included).
    """
    instances = model.instances()
    fair = tuple(inst for inst in instances if inst.step.fair is not None)
    bits = {inst.index: 1 << j for j, inst in enumerate(fair)}
    calls = [(*c, bits.get(c[0], 0)) for c in calls_of(instances)]
    key = exact_key(model) or (lambda s: s)
    ids: dict[Hashable, int] = {}
    states: list[Any] = []
    parent, via, depth = array("q"), array("q"), array("q")
    for s in model.init:
        k = key(s)
        if k not in ids:
            ids[k] = len(states)
            states.append(s)
            parent.append(-1)
            via.append(-1)
            depth.append(0)
    initial = list(range(len(states)))
    offsets, targets, labels = array("q", [0]), array("q"), array("q")
    enabled: list[int] = []
    i = 0
    while i < len(states):
        if not i % _CLOCK_EVERY:
            if deadline is not None and time.perf_counter() > deadline:
                raise _OutOfTime
            over = memory_over(max_memory)
            if over is not None:
                raise _OutOfMemory(over)
        s = states[i]
        mask = 0
        for index, guard, effect, a, bit in calls:
            if guard is not None and not guard(s, a):
                continue
            mask |= bit
            ns = effect(s, a)
            k = key(ns)
            j = ids.get(k)
            if j is None:
                j = ids[k] = len(states)
                states.append(ns)
                parent.append(i)
                via.append(index)
                depth.append(depth[i] + 1)
            targets.append(j)
            labels.append(index)
        offsets.append(len(targets))
        enabled.append(mask)
        i += 1
    return StateGraph(
        states, offsets, targets, labels, parent, via, depth, enabled, initial, fair
    )


# -- strongly connected components -----------------------------------------------------


def strongly_connected(
    nodes: Iterable[int],
    member: Callable[[int], bool],
    succ: Callable[[int], Iterable[int]],
) -> list[list[int]]:
    """Tarjan's strongly connected components of the subgraph induced by ``member``.

    Iterative: each frame holds a node and the iterator over its successors, so the
    depth of the graph never meets Python's recursion limit. ``nodes`` must all be
    members. Components come out in reverse topological order.
    """
    index: dict[int, int] = {}
    low: dict[int, int] = {}
    on_stack: set[int] = set()
    stack: list[int] = []
    out: list[list[int]] = []
    for root in nodes:
        if root in index:
            continue
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        frames = [(root, iter(succ(root)))]
        while frames:
            v, it = frames[-1]
            for w in it:
                if not member(w):
                    continue
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on_stack.add(w)
                    frames.append((w, iter(succ(w))))
                    break
                if w in on_stack and index[w] < low[v]:
                    low[v] = index[w]
            else:
                frames.pop()
                if frames:
                    u = frames[-1][0]
                    if low[v] < low[u]:
                        low[u] = low[v]
                if low[v] == index[v]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        comp.append(w)
                        if w == v:
                            break
                    out.append(comp)
    return out


# -- fair components ---------------------------------------------------------------------


def _fair_component(graph: StateGraph, comp: list[int]) -> set[int] | None:
    """A strongly connected subset of ``comp`` that contains a fair cycle, or None."""
    strong, weak = graph.mask("strong"), graph.mask("weak")
    targets, labels, enabled = graph.targets, graph.labels, graph.enabled
    work = [set(comp)]
    while work:
        c = work.pop()
        taken = 0
        internal = False
        any_on, all_on = 0, -1
        for v in c:
            any_on |= enabled[v]
            all_on &= enabled[v]
            for e in graph.edges(v):
                if targets[e] in c:
                    internal = True
                    taken |= graph.bit(labels[e])
        if not internal:
            continue
        unfair_strong = any_on & strong & ~taken
        if unfair_strong:
            rest = {v for v in c if not enabled[v] & unfair_strong}

            def succ(v: int) -> Iterable[int]:
                return (targets[e] for e in graph.edges(v))

            work.extend(
                set(s)
                for s in strongly_connected(sorted(rest), rest.__contains__, succ)
            )
            continue
        if all_on & weak & ~taken:
            continue
        return c
    return None


def _fair_cycle(
    graph: StateGraph, c: set[int], entry: int
) -> list[tuple[int, int, int]]:
    """A closed walk from ``entry`` inside the fair component ``c``, as edges
    ``(from, instance, to)``, that takes every strong instance enabled in ``c`` and, for
    every weak one enabled in ``c``, takes it or visits a state where it is disabled."""
    strong, weak = graph.mask("strong"), graph.mask("weak")
    enabled, targets, labels = graph.enabled, graph.targets, graph.labels
    any_on = 0
    for v in c:
        any_on |= enabled[v]
    must_take = any_on & strong
    weak_left = any_on & weak
    walk: list[tuple[int, int, int]] = []

    def visit(v: int) -> None:
        nonlocal weak_left
        weak_left &= enabled[v]

    def take(inst: int) -> None:
        nonlocal must_take, weak_left
        b = graph.bit(inst)
        must_take &= ~b
        weak_left &= ~b

    def path(
        start: int, goal: Callable[[int], bool], edge_goal: Callable[[int], bool]
    ) -> None:
        """Extend the walk along a shortest path from ``start`` inside ``c`` to the
        first state meeting ``goal`` (not ``start`` itself) or edge meeting ``edge_goal``."""
        back: dict[int, tuple[int, int]] = {start: (-1, -1)}
        queue = deque([start])
        end: tuple[int, int, int] | None = None
        while queue and end is None:
            u = queue.popleft()
            if u != start and goal(u):
                end = (u, -1, -1)
                break
            for e in graph.edges(u):
                w = targets[e]
                if w not in c:
                    continue
                if edge_goal(labels[e]):
                    end = (u, labels[e], w)
                    break
                if w not in back:
                    back[w] = (u, labels[e])
                    queue.append(w)
        assert end is not None, "a strongly connected component reaches all its states"
        u, inst, w = end
        steps: list[tuple[int, int, int]] = []
        v = u
        while v != start:
            p, i = back[v]
            steps.append((p, i, v))
            v = p
        steps.reverse()
        if inst >= 0:
            steps.append((u, inst, w))
        for a, i, b in steps:
            take(i)
            visit(b)
            walk.append((a, i, b))

    visit(entry)
    here = entry
    while must_take or weak_left:
        path(
            here,
            lambda u: bool(weak_left & ~enabled[u]),
            lambda i: bool(graph.bit(i) & (must_take | weak_left)),
        )
        here = walk[-1][2]
    if not walk:  # no obligation: any step inside c, then back
        path(here, lambda u: False, lambda i: True)
        here = walk[-1][2]
    if here != entry:
        path(here, lambda u: u == entry, lambda i: False)
    return walk


# -- one property ------------------------------------------------------------------------


@dataclass(frozen=True)
class Found:
    """A violation of a liveness property in a state graph: the state ids of the stem
    (an initial state first), the instance of each stem step, the trigger's position,
    and the cycle's edges (empty when the stem ends in a state without enabled steps)."""

    stem: list[int]
    stem_steps: list[int]
    trigger: int
    cycle: list[tuple[int, int, int]]


def _answers(
    predicate: Callable[[Any], bool], states: list[Any], ids: Sequence[int], what: str
) -> bytearray:
    """``predicate`` on the states ``ids``, 1 for True and 0 for False; any other answer
    is a ModelError (a predicate that forgot to return would read as false everywhere:
    a trigger never met, and ``leads_to`` holding for no reason)."""
    out = bytearray(len(ids))
    for k, i in enumerate(ids):
        answer = predicate(states[i])
        if answer is True:
            out[k] = 1
        elif answer is not False:
            raise not_a_bool(what, answer, states[i])
    return out


def find_violation(graph: StateGraph, prop: Property) -> Found | None:
    """A lasso violating ``prop`` in ``graph``, or None when it holds."""
    states = graph.states
    n = len(states)
    if prop.kind == "eventually":
        notq = _answers(prop.predicate, states, range(n), f"eventually {prop.name}")
        notq = bytearray(1 - a for a in notq)
        triggers = [i for i in graph.initial if notq[i]]
    else:
        assert prop.target is not None
        what = f"leads_to {prop.name}"
        notq = _answers(prop.target, states, range(n), f"the target of {what}")
        notq = bytearray(1 - a for a in notq)
        candidates = [i for i in range(n) if notq[i]]
        p = _answers(prop.predicate, states, candidates, what)
        triggers = [i for i, a in zip(candidates, p, strict=True) if a]
    if not triggers:
        return None
    # R: reachable from a trigger through ¬q states. dist = depth of the trigger plus
    # the steps from it, levels injected in order of depth (ids are breadth-first, so
    # triggers come sorted by depth).
    dist = array("q", [-1]) * n
    back = array("q", [-1]) * n
    back_via = array("q", [-1]) * n
    frontier: list[int] = []
    d, t = 0, 0
    depth, targets, labels = graph.depth, graph.targets, graph.labels
    while frontier or t < len(triggers):
        if not frontier:
            d = max(d, depth[triggers[t]])
        while t < len(triggers) and depth[triggers[t]] <= d:
            if dist[triggers[t]] < 0:
                dist[triggers[t]] = d
                frontier.append(triggers[t])
            t += 1
        nxt = []
        for v in frontier:
            for e in graph.edges(v):
                w = targets[e]
                if notq[w] and dist[w] < 0:
                    dist[w] = d + 1
                    back[w] = v
                    back_via[w] = labels[e]
                    nxt.append(w)
        frontier = nxt
        d += 1
    region = [i for i in range(n) if dist[i] >= 0]
    best: tuple[int, int, list[tuple[int, int, int]]] | None = None  # cost, end, cycle
    for v in region:
        if graph.offsets[v] == graph.offsets[v + 1] and (
            best is None or dist[v] < best[0]
        ):
            best = (dist[v], v, [])

    def succ(v: int) -> Iterable[int]:
        return (targets[e] for e in graph.edges(v))

    fair: list[tuple[int, int, set[int]]] = []  # dist of entry, entry, component
    for comp in strongly_connected(region, lambda w: dist[w] >= 0, succ):
        c = _fair_component(graph, comp)
        if c is not None:
            entry = min(c, key=lambda v: (dist[v], v))
            fair.append((dist[entry], entry, c))
    if fair:
        nearest = min(f[0] for f in fair)
        for cost, entry, c in sorted(f for f in fair if f[0] == nearest):
            cycle = _fair_cycle(graph, c, entry)
            if best is None or cost + len(cycle) < best[0] + len(best[2]):
                best = (cost, entry, cycle)
    if best is None:
        return None
    _, end, cycle = best
    chain, chain_steps = [end], []
    while back[chain[-1]] >= 0:
        chain_steps.append(back_via[chain[-1]])
        chain.append(back[chain[-1]])
    root = chain[-1]
    while graph.parent[chain[-1]] >= 0:
        chain_steps.append(graph.via[chain[-1]])
        chain.append(graph.parent[chain[-1]])
    chain.reverse()
    chain_steps.reverse()
    return Found(chain, chain_steps, chain.index(root), cycle)


def lasso_trace(
    model: Model[Any], graph: StateGraph, found: Found
) -> tuple[Trace, int | None]:
    """The trace of a found lasso and the index where its cycle starts."""
    instances = model.instances()
    states = graph.states
    steps = []
    path = list(zip(found.stem_steps, found.stem[1:], strict=True))
    path += [(i, b) for _, i, b in found.cycle]
    for i, b in path:
        inst = instances[i]
        steps.append(
            TraceStep(
                inst.step.name, inst.step.params(inst.args), states[b], inst.step.doc
            )
        )
    start = len(found.stem) - 1 if found.cycle else None
    return Trace(states[found.stem[0]], tuple(steps)), start


# -- checking a lasso on its own ---------------------------------------------------------


def _enabled(inst: Instance, s: Any) -> bool:
    guard = inst.step.guard
    return guard is None or bool(guard(s, *inst.args))


def lasso_problem(
    model: Model[Any],
    prop: Property,
    trace: Trace,
    trigger: int,
    cycle_start: int | None,
    taken: Sequence[Instance],
) -> tuple[str | None, Lasso]:
    """Check that a trace is a lasso violating ``prop``; return the problem (None when
    it is one) and the lasso with its fairness explanation.

    ``taken[k]`` is the instance that fired step k + 1. The target must hold in no state
    from ``trigger`` on; the trigger must be an initial state (``eventually``) or satisfy
    p (``leads_to``). With a cycle, the last state must equal the one at
    ``cycle_start``, the cycle must have a step, and every fair instance must be taken
    on it or disabled in a state of it (weak) or in all of them (strong), as the guards
    say. Without one, the last state must have no enabled step. The trace's steps are
    assumed real (replay and the graph check that).
    """
    states = trace.states
    target = prop.predicate if prop.kind == "eventually" else prop.target
    assert target is not None
    lasso = Lasso(trigger, cycle_start)
    if not 0 <= trigger < len(states):
        return f"its trigger state {trigger} is not in the trace", lasso
    if prop.kind == "leads_to" and not prop.predicate(states[trigger]):
        return f"`{prop.name}` does not hold in state {trigger}, the trigger", lasso
    if prop.kind == "eventually" and trigger != 0:
        return "the trigger of an `eventually` trace is its initial state", lasso
    for i in range(trigger, len(states)):
        if target(states[i]):
            return f"the target holds in state {i}", lasso
    if cycle_start is None:
        last = states[-1]
        live = [inst.label() for inst in model.instances() if _enabled(inst, last)]
        if live:
            return f"the last state has an enabled step ({live[0]}) and no cycle", lasso
        return None, lasso
    if not trigger <= cycle_start < len(states) - 1:
        return f"its cycle start {cycle_start} leaves no cycle after the trigger", lasso
    if states[cycle_start] != states[-1]:
        return (
            f"the last state is not state {cycle_start}: the cycle does not close",
            lasso,
        )
    cycle_states = states[cycle_start:-1]
    steps = range(cycle_start + 1, len(states))  # step k leads to state k
    rows, never = [], 0
    for inst in model.instances():
        kind = inst.step.fair
        if kind is None:
            continue
        on = [
            i
            for i, s in zip(
                range(cycle_start, len(states) - 1), cycle_states, strict=True
            )
            if _enabled(inst, s)
        ]
        if not on:
            never += 1
            continue
        took = next((k for k in steps if taken[k - 1] is inst), None)
        if took is not None:
            rows.append(Fairness(inst.label(), kind, taken=took))
            continue
        on_set = set(on)
        off = [i for i in range(cycle_start, len(states) - 1) if i not in on_set]
        lasso = Lasso(trigger, cycle_start, tuple(rows), never)
        if kind == "strong":
            return (
                f"the cycle is unfair: {inst.label()} (strong) is enabled in state "
                f"{on[0]} and never taken on it"
            ), lasso
        if not off:
            return (
                f"the cycle is unfair: {inst.label()} (weak) is enabled in every state "
                "of it and never taken"
            ), lasso
        rows.append(Fairness(inst.label(), kind, disabled=off[0]))
    return None, Lasso(trigger, cycle_start, tuple(rows), never)


# -- the whole check ---------------------------------------------------------------------


def check_liveness(
    model: Model[Any],
    result: Result,
    *,
    keep_going: bool,
    time_limit: float | None,
    started: float,
    max_memory: int | None = None,
) -> Result:
    """Add the liveness properties' verdicts to a search's result.

    They are checked only when the search visited every reachable state; otherwise a
    note says why not (an incomplete search stays incomplete, never "holds").
    """
    props = model.livenesses
    names = ", ".join(p.name for p in props)
    if result.incomplete_reason is not None:
        return _noted(
            result, f"liveness ({names}) not checked: the search was incomplete"
        )
    # A reachable target is reported missed only after the search visited every state;
    # any other violation stopped it, unless it kept going.
    stopped = any(v.kind != "reachable" for v in result.violations)
    if stopped and not keep_going:
        return _noted(
            result,
            f"liveness ({names}) not checked: the search stopped at the first violation "
            "(--continue checks it)",
        )
    deadline = None if time_limit is None else started + time_limit
    t0 = time.perf_counter()
    violations = list(result.violations)
    incomplete = None
    graph = None
    try:
        graph = build_graph(model, deadline, max_memory)
        if len(graph) != result.distinct_states:
            raise ModelError(
                f"model `{model.name}` gave {len(graph):,} states to the liveness analysis "
                f"but {result.distinct_states:,} to the search; is a guard or effect "
                "nondeterministic (randomness, a global variable)?"
            )
        for prop in props:
            if deadline is not None and time.perf_counter() > deadline:
                raise _OutOfTime
            try:
                found = find_violation(graph, prop)
            except (KeyboardInterrupt, _OutOfTime, ModelError):
                raise
            except Exception as e:
                raise ModelError(
                    f"{prop.kind} `{prop.name}` raised {type(e).__name__}: {e}"
                ) from e
            if found is None:
                continue
            violations.append(_violation(model, graph, prop, found))
            if not keep_going:
                break
    except _OutOfTime:
        incomplete = (
            f"time limit of {time_limit:g} s reached during the liveness analysis"
        )
    except _OutOfMemory as stop:
        incomplete = f"{stop} (while building the liveness graph)"
    except KeyboardInterrupt:
        incomplete = "interrupted during the liveness analysis"
    spent = time.perf_counter() - t0
    if graph is not None:
        note = (
            f"liveness: full search, no reduction: {len(graph):,} states, "
            f"{len(graph.targets):,} steps, {len(graph.fair):,} fair instances, "
            f"analysed in {spent:.2f} s"
        )
    else:
        note = "liveness: full search; the state graph was not finished"
    return dataclasses.replace(
        result,
        violations=tuple(violations),
        verdict=verdict_of(violations, incomplete),
        incomplete_reason=incomplete,
        elapsed=result.elapsed + spent,
        notes=(*result.notes, note),
    )


def _violation(
    model: Model[Any], graph: StateGraph, prop: Property, found: Found
) -> Violation:
    trace, start = lasso_trace(model, graph, found)
    instances = model.instances()
    taken = [instances[i] for i in found.stem_steps] + [
        instances[i] for _, i, _ in found.cycle
    ]
    problem, lasso = lasso_problem(model, prop, trace, found.trigger, start, taken)
    if (
        problem is not None
    ):  # a bug in the analysis: never print a lasso that is no violation
        raise AssertionError(
            f"liveness `{prop.name}`: the lasso found is wrong: {problem}"
        )
    return Violation(prop.name, prop.kind, prop.doc, trace, lasso)


def _noted(result: Result, note: str) -> Result:
    return dataclasses.replace(result, notes=(*result.notes, note))
