"""Rich renderables for results: the summary line and counterexample traces.

The only module besides the CLI that imports rich. It computes nothing the explorer
could; it only lays out a :class:`~klpcheck.result.Result`.
"""

from __future__ import annotations

import io
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from klpcheck.result import Result, Trace, Verdict, Violation
from klpcheck.state import fields_of

__all__ = [
    "changes",
    "print_result",
    "render_text",
    "render_violations",
    "summary_line",
    "trace_table",
]

_STYLE = {
    Verdict.HOLDS: "bold green",
    Verdict.VIOLATED: "bold red",
    Verdict.INCOMPLETE: "bold yellow",
}


def _count(n: int) -> str:
    return f"{n:,}"


def summary_line(result: Result) -> Text:
    """``holds — 288 distinct states, 1,008 transitions, depth 11, 0.01 s (…)``."""
    rate = result.states_per_second
    text = Text()
    text.append(result.verdict.value, style=_STYLE[result.verdict])
    text.append(
        f" — {_count(result.distinct_states)} distinct states, {_count(result.transitions)} "
        f"transitions, depth {result.max_depth}, {result.elapsed:.2f} s ({_count(round(rate))} states/s)"
    )
    if result.incomplete_reason:
        text.append(f" — incomplete: {result.incomplete_reason}", style="yellow")
    return text


def _flatten(name: str, value: Any) -> dict[str, Any]:
    """Tuples become one entry per element (``pc[0]``, ``pc[1]``) so diffs stay small."""
    if isinstance(value, tuple) and not hasattr(value, "_fields"):
        out: dict[str, Any] = {}
        for i, v in enumerate(value):
            out.update(_flatten(f"{name}[{i}]", v))
        return out
    return {name: value}


def _show(value: Any) -> str:
    name = getattr(value, "name", None)
    if (
        name is not None
        and type(value).__module__ != "builtins"
        and hasattr(type(value), "__members__")
    ):
        return str(name)
    return repr(value)


def changes(before: Any, after: Any) -> list[tuple[str, Any, Any]]:
    """The fields that differ between two states, element-wise inside tuples.

    Examples
    --------
    >>> changes((0, ("a", "b")), (0, ("a", "c")))
    [('[1][1]', 'b', 'c')]
    """
    a: dict[str, Any] = {}
    b: dict[str, Any] = {}
    for k, v in fields_of(before).items():
        a.update(_flatten(k, v))
    for k, v in fields_of(after).items():
        b.update(_flatten(k, v))
    keys = list(a) + [k for k in b if k not in a]
    return [
        (k, a.get(k), b.get(k))
        for k in keys
        if a.get(k, _MISSING) != b.get(k, _MISSING)
    ]


_MISSING = object()


def trace_table(trace: Trace, *, full: bool = False) -> Table:
    """One row per step: its number, the step with parameters, and what it changed."""
    table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    table.add_column("#", justify="right", style="dim")
    table.add_column("step")
    table.add_column("changes" if not full else "state")
    init = "\n".join(f"{k} = {_show(v)}" for k, v in fields_of(trace.init).items())
    table.add_row("0", Text("initial state", style="italic"), init)
    prev = trace.init
    for i, step in enumerate(trace.steps, 1):
        if full:
            body = "\n".join(
                f"{k} = {_show(v)}" for k, v in fields_of(step.state).items()
            )
        else:
            diff = changes(prev, step.state)
            body = (
                "\n".join(f"{k}: {_show(old)} → {_show(new)}" for k, old, new in diff)
                or "(no change)"
            )
        table.add_row(str(i), Text(step.label(), style="cyan"), body)
        prev = step.state
    return table


def _violation(v: Violation, full: bool) -> list[RenderableType]:
    title = Text()
    if v.kind == "deadlock":
        title.append("deadlock", style="bold red")
        title.append(" reached")
    else:
        title.append(f"{v.kind} ", style="bold red")
        title.append(v.property, style="bold")
    if v.kind == "reachable":
        title.append(" was never reached by a complete search (is the model vacuous?)")
    elif v.trace is not None:
        title.append(
            f" {'' if v.kind == 'deadlock' else 'violated '}after {len(v.trace)} steps"
        )
    parts: list[RenderableType] = [title]
    if v.doc:
        parts.append(Text(v.doc, style="italic"))
    if v.trace is not None:
        parts.append(trace_table(v.trace, full=full))
    return parts


def render_violations(result: Result, *, full: bool = False) -> Group:
    """Every violation with its trace (empty when there is none)."""
    parts: list[RenderableType] = []
    for v in result.violations:
        parts.extend(_violation(v, full))
        parts.append(Text(""))
    if result.verdict is Verdict.VIOLATED and result.order == "bfs":
        if result.reduction.used and not any("--shortest" in n for n in result.notes):
            note = (
                "(breadth-first with partial-order reduction: each trace is shortest in "
                "the reduced state graph; --shortest finds shortest ones)"
            )
        else:
            note = "(breadth-first: each trace is a shortest one)"
        parts.append(Text(note, style="dim"))
    return Group(*parts)


def print_result(
    console: Console, result: Result, *, full: bool = False, quiet: bool = False
) -> None:
    """Print the violations (unless ``quiet``), then the summary on one unwrapped line."""
    if not quiet and result.violations:
        console.print(render_violations(result, full=full))
    console.print(summary_line(result), soft_wrap=True)
    lines = [result.reduction.summary()] if result.reduction.used else []
    for line in [*lines, *result.notes]:
        console.print(Text(line, style="dim"), soft_wrap=True)


def render_text(result: Result, *, width: int = 100, full: bool = False) -> str:
    """The rendered result as plain text without colour."""
    buf = io.StringIO()
    console = Console(file=buf, width=width, color_system=None, force_terminal=False)
    print_result(console, result, full=full)
    return buf.getvalue()
