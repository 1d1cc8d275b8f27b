"""The state graph of a small model as a networkx ``DiGraph``, and its DOT export.

Built by a plain breadth-first search of its own, independent of the explorer, so it also
serves as a test oracle: its nodes are exactly the states ``check`` visits. It is meant for
models of up to a few thousand states; :func:`state_graph` refuses larger ones.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable, Iterable
from typing import Any

import networkx as nx

from klpcheck.base.errors import UsageError
from klpcheck.model.definition import Model
from klpcheck.model.state import fields_of
from klpcheck.trace.lanes import show

__all__ = ["DOT_LIMIT", "state_graph", "to_dot"]

DOT_LIMIT = 2000  # states: beyond this a drawing is unreadable anyway


def state_graph(model: Model[Any], *, max_states: int = DOT_LIMIT) -> nx.DiGraph:
    """Every reachable state as a node, every enabled step as an edge.

    Nodes are the states themselves, with ``init=True`` on initial states and
    ``violates`` listing the invariants a state breaks; edges carry ``step`` (the
    label, e.g. ``claim(t=1)``). Parallel steps between the same two states are joined
    into one edge whose ``step`` lists them all.

    Raises
    ------
    UsageError
        The model has more than ``max_states`` reachable states.

    Examples
    --------
    >>> m = Model("count", init=0)
    >>> @m.step(when=lambda s: s < 2)
    ... def tick(s):
    ...     return s + 1
    >>> g = state_graph(m)
    >>> sorted(g.nodes), list(g.edges(data="step"))
    ([0, 1, 2], [(0, 1, 'tick'), (1, 2, 'tick')])
    """
    graph = nx.DiGraph(name=model.name)
    queue: deque[Hashable] = deque()
    for s in model.init:
        _add(graph, model, s, init=True)
        queue.append(s)
    instances = model.instances()
    while queue:
        s = queue.popleft()
        for inst in instances:
            guard = inst.step.guard
            if guard is not None and not guard(s, *inst.args):
                continue
            ns = inst.step.effect(s, *inst.args)
            if ns not in graph:
                if graph.number_of_nodes() >= max_states:
                    raise UsageError(
                        f"model `{model.name}` has more than {max_states:,} states; the "
                        "state graph is for small models: shrink it with -D "
                        "(e.g. fewer tasks)"
                    )
                _add(graph, model, ns, init=False)
                queue.append(ns)
            label = inst.label()
            if graph.has_edge(s, ns):
                graph.edges[s, ns]["step"] += f", {label}"
            else:
                graph.add_edge(s, ns, step=label)
    return graph


def _add(graph: nx.DiGraph, model: Model[Any], s: Hashable, *, init: bool) -> None:
    broken = [p.name for p in model.invariants if not p.predicate(s)]
    graph.add_node(s, init=init, violates=broken)


def _quote(text: str) -> str:
    return (
        '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    )


def _state_label(state: Any) -> str:
    return "\n".join(f"{k} = {show(v)}" for k, v in fields_of(state).items())


def to_dot(graph: nx.DiGraph, *, name: str | None = None) -> str:
    """The graph in Graphviz DOT: initial states bold, states breaking an invariant red.

    Nodes are numbered in breadth-first order (``s0``, ``s1``, …) and labelled with their
    fields, so the output is the same from run to run.
    """
    ids = {s: f"s{i}" for i, s in enumerate(graph.nodes)}
    lines = [f"digraph {_quote(name or graph.graph.get('name', 'klpcheck'))} {{"]
    lines.append('  node [shape=box, fontname="monospace", fontsize=10];')
    lines.append('  edge [fontname="monospace", fontsize=9];')
    for s, data in graph.nodes(data=True):
        attrs = [f"label={_quote(_state_label(s))}"]
        if data.get("init"):
            attrs.append("penwidth=2.5")
        if data.get("violates"):
            attrs.append(
                "color=red, fontcolor=red, tooltip="
                + _quote("violates " + ", ".join(data["violates"]))
            )
        lines.append(f"  {ids[s]} [{', '.join(attrs)}];")
    for a, b, step in graph.edges(data="step"):
        lines.append(f"  {ids[a]} -> {ids[b]} [label={_quote(step)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def reachable(graph: nx.DiGraph, roots: Iterable[Hashable]) -> set[Hashable]:
    """The states reachable from ``roots`` (roots included)."""
    out: set[Hashable] = set()
    for r in roots:
        out |= nx.descendants(graph, r) | {r}
    return out
