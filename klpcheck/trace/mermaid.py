"""A counterexample as a Mermaid sequence diagram, for pasting into a review.

One participant per lane (:mod:`klpcheck.trace.lanes`): the admin side, each CPU, each task.
A step is a message on its own lane (a CPU acting on a task is an arrow from the CPU to
the task); what it changes in its own lane is a note beside it, and what it changes in
another lane (the admin clearing a task's flag) is a dashed arrow to that lane.
"""

from __future__ import annotations

from klpcheck.base.result import Violation
from klpcheck.model.state import fields_of
from klpcheck.trace.lanes import (
    ADMIN,
    Lane,
    changes,
    flatten,
    lane_of,
    lane_plan,
    show,
    source_lane,
)

__all__ = ["sequence_diagram"]

# Mermaid reads ";" as a statement end and "#…;" as an entity; "<" and ">" as HTML.
_ESCAPE = str.maketrans({"#": "#35;", ";": "#59;", "<": "#60;", ">": "#62;"})


def _text(s: str) -> str:
    return s.translate(_ESCAPE).replace("\n", "<br/>")


def sequence_diagram(violation: Violation, *, title: str = "") -> str:
    """The Mermaid ``sequenceDiagram`` of a violation's trace.

    Examples
    --------
    >>> from klpcheck.base.result import Trace, TraceStep
    >>> t = Trace((0, 0), (TraceStep("tick", {"t": 1}, (0, 1)),))
    >>> print(sequence_diagram(Violation("small", "invariant", "", t)), end="")
    sequenceDiagram
        participant admin as shared
        participant task1 as task 1
        Note over admin,task1: initial state<br/>[0] = 0<br/>[1] = 0
        task1->>task1: 1. tick
        Note right of task1: [1]: 0 → 1
        Note over admin,task1: invariant small violated after 1 step
    """
    trace = violation.trace
    if trace is None:
        raise ValueError(f"{violation.property} has no trace to draw")
    plan = lane_plan(trace)
    acting = {lane_of(s.params) for s in trace.steps} | {
        source_lane(s.params) for s in trace.steps
    }
    lanes = sorted(
        {ADMIN, *plan.lanes, *acting},
        key=lambda lane: (lane.rank, lane.kind, _num(lane.value), lane.value),
    )
    admin_acts = ADMIN in acting
    lines = ["sequenceDiagram"]
    if title:
        lines.append(f"    title {_text(title)}")
    for lane in lanes:
        shown = lane.title if lane != ADMIN or admin_acts else "shared"
        alias = f" as {_text(shown)}" if shown != lane.ident else ""
        lines.append(f"    participant {lane.ident}{alias}")
    span = f"{lanes[0].ident},{lanes[-1].ident}" if len(lanes) > 1 else lanes[0].ident
    init = []
    for name, value in fields_of(trace.init).items():
        if name in plan.fields:
            init += [f"{k} = {show(v)}" for k, v in flatten(name, value).items()]
        else:
            init.append(f"{name} = {show(value)}")
    lines.append(f"    Note over {span}: " + _text("initial state\n" + "\n".join(init)))
    prev = trace.init
    for i, step in enumerate(trace.steps, 1):
        home, source = lane_of(step.params), source_lane(step.params)
        lines.append(
            f"    {source.ident}->>{home.ident}: {_text(f'{i}. {plan.label(step)}')}"
        )
        own: list[str] = []
        other: dict[Lane, list[str]] = {}
        for key, old, new in changes(prev, step.state):
            owner = plan.owner(key)
            lane, name = owner if owner else (home, key)
            text = f"{name}: {show(old)} → {show(new)}"
            (own if lane == home else other.setdefault(lane, [])).append(text)
        if own:
            lines.append(f"    Note right of {home.ident}: {_text(chr(10).join(own))}")
        for lane, texts in other.items():
            lines.append(
                f"    {home.ident}-->>{lane.ident}: {_text(chr(10).join(texts))}"
            )
        prev = step.state
    n = len(trace)
    what = (
        "deadlock reached"
        if violation.kind == "deadlock"
        else f"{violation.kind} {violation.property} violated"
    )
    lines.append(
        f"    Note over {span}: {_text(f'{what} after {n} step' + ('s' if n != 1 else ''))}"
    )
    return "\n".join(lines) + "\n"


def _num(value: str) -> int:
    return int(value) if value.lstrip("-").isdigit() else 0
