"""Rich renderables: the summary line, counterexample traces, coverage and progress.

The only module besides the CLI that imports rich. It lays out data that other modules
compute (:mod:`klpcheck.trace.lanes` decides what changed and who acted); a console that is not
a terminal gets no colour.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from typing import Any, TextIO

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from klpcheck.base.options import Progress
from klpcheck.base.result import Lasso, Result, Trace, TraceStep, Verdict, Violation
from klpcheck.model.state import fields_of
from klpcheck.report.coverage import coverage, warnings
from klpcheck.trace.lanes import (
    ADMIN,
    Lane,
    changes,
    flatten,
    kernel_ref,
    lane_of,
    lane_plan,
    short_ref,
    show,
)

__all__ = [
    "LAYOUTS",
    "changes",
    "coverage_table",
    "live_progress",
    "plain_progress",
    "print_coverage",
    "print_result",
    "render_text",
    "render_trace_text",
    "render_violations",
    "step_view",
    "summary_line",
    "trace_table",
    "violation_view",
]

LAYOUTS = ("auto", "flat", "lanes")
_LANE_WIDTH = 36  # narrowest lane column "auto" accepts

_STYLE = {
    Verdict.HOLDS: "bold green",
    Verdict.VIOLATED: "bold red",
    Verdict.INCOMPLETE: "bold yellow",
}


def _count(n: int) -> str:
    return f"{n:,}"


def _counted(n: int, noun: str) -> str:
    """``1 distinct state``, ``2 distinct states``."""
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def summary_line(result: Result) -> Text:
    """``holds — 288 distinct states, 1,008 transitions, depth 11, 0.01 s (…)``."""
    rate = result.states_per_second
    text = Text()
    text.append(result.verdict.value, style=_STYLE[result.verdict])
    text.append(
        f" — {_counted(result.distinct_states, 'distinct state')}, "
        f"{_counted(result.transitions, 'transition')}, depth {result.max_depth}, "
        f"{result.elapsed:.2f} s ({_count(round(rate))} states/s)"
    )
    if result.incomplete_reason and result.verdict is Verdict.INCOMPLETE:
        text.append(f" — {result.incomplete_reason}", style="yellow")
    elif result.incomplete_reason:
        text.append(f" — search incomplete: {result.incomplete_reason}", style="yellow")
    return text


# -- traces -----------------------------------------------------------------------------


def _ref_line(step: TraceStep, label: str) -> str | None:
    """The kernel reference shown under a step: the file alone when the step is named
    after the function it models."""
    ref = kernel_ref(step.doc)
    if ref is None:
        return None
    short = short_ref(ref)
    path, _, func = short.partition(": ")
    if func.removesuffix("()") == label.split("(")[0]:
        return path
    return short


def _step_cell(step: TraceStep, label: str) -> Text:
    text = Text(label, style="cyan")
    ref = _ref_line(step, label)
    if ref is not None:
        text.append("\n")
        text.append(ref, style="dim")
    return text


def _arrow(name: str, old: Any, new: Any) -> str:
    return f"{name}: {show(old)} → {show(new)}"


def _flat_table(trace: Trace, full: bool, notes: dict[int, str] | None = None) -> Table:
    table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    table.add_column("#", justify="right", style="dim")
    table.add_column("step")
    table.add_column("state" if full else "changes")
    init = "\n".join(f"{k} = {show(v)}" for k, v in fields_of(trace.init).items())
    table.add_row("0", Text("initial state", style="italic"), init)
    _note_row(table, notes, 0, 3, at=2)
    prev = trace.init
    for i, step in enumerate(trace.steps, 1):
        if full:
            body = Text()
            changed = {k.split("[")[0] for k, _, _ in changes(prev, step.state)}
            for n, (k, v) in enumerate(fields_of(step.state).items()):
                body.append(("\n" if n else "") + f"{k} = {show(v)}")
                if k in changed:
                    body.append("  ◂", style="bold")
        else:
            body = Text(
                "\n".join(_arrow(*c) for c in changes(prev, step.state))
                or "(no change)"
            )
        table.add_row(str(i), _step_cell(step, step.label()), body)
        _note_row(table, notes, i, 3, at=2)
        prev = step.state
    return table


def _note_row(
    table: Table, notes: dict[int, str] | None, i: int, columns: int, at: int = 1
) -> None:
    """A row under row ``i`` with its note (a lasso's trigger or cycle start) in
    column ``at``."""
    if notes and i in notes:
        cells: list[RenderableType] = [""] * columns
        cells[at] = Text(notes[i], style="bold magenta")
        table.add_row(*cells)


def _lanes_table(trace: Trace, notes: dict[int, str] | None = None) -> Table:
    """One column per lane: a step's label in its lane, each lane's fields in theirs."""
    plan = lane_plan(trace)
    columns = [ADMIN, *(lane for lane in plan.lanes if lane != ADMIN)]
    table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    table.add_column("#", justify="right", style="dim")
    admin_steps = any(lane_of(s.params) == ADMIN for s in trace.steps)
    for lane in columns:
        title = lane.title if lane != ADMIN or admin_steps else "shared"
        table.add_column(title, ratio=1)

    def put(row: list[Text], lane: Lane, line: str | Text) -> None:
        cell = row[columns.index(lane)]
        if cell.plain:
            cell.append("\n")
        cell.append(line)

    row = [Text() for _ in columns]
    for name, value in fields_of(trace.init).items():
        if name not in plan.fields:
            put(row, ADMIN, f"{name} = {show(value)}")
            continue
        for key, element in flatten(name, value).items():
            owner = plan.owner(key)
            lane, shown = owner if owner else (ADMIN, key)
            put(row, lane, f"{shown} = {show(element)}")
    table.add_row("0", *row)
    _note_row(table, notes, 0, len(columns) + 1)
    prev = trace.init
    for i, step in enumerate(trace.steps, 1):
        row = [Text() for _ in columns]
        home = lane_of(step.params)
        put(row, home, _step_cell(step, plan.label(step)))
        for key, old, new in changes(prev, step.state):
            owner = plan.owner(key)
            lane, shown = owner if owner else (home, key)
            put(row, lane, _arrow(shown, old, new))
        table.add_row(str(i), *row)
        _note_row(table, notes, i, len(columns) + 1)
        prev = step.state
    return table


def _lanes_fit(trace: Trace, width: int) -> bool:
    plan = lane_plan(trace)
    actors = [lane for lane in plan.lanes if lane.kind != ""]
    if len(actors) < 2 or not plan.fields:
        return False
    return (width - 4) // (len(actors) + 1) >= _LANE_WIDTH


def trace_table(
    trace: Trace,
    *,
    full: bool = False,
    layout: str = "auto",
    width: int = 100,
    notes: dict[int, str] | None = None,
) -> Table:
    """One row per step: the step with its parameters and kernel function, and what it
    changed (``full``: every field).

    ``layout="lanes"`` gives each task (CPU, admin) a column of its own, with the fields
    indexed by that task in it; ``"auto"`` does so when there are two lanes or more, some
    field is indexed by them, and each column gets at least 36 of ``width`` characters
    (at 80 columns traces stay flat).
    ``full`` always uses the flat layout. ``notes`` puts a line under a row (a lasso's
    trigger and cycle start).
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, not {layout!r}")
    lanes = layout == "lanes" or (layout == "auto" and _lanes_fit(trace, width))
    if full or not lanes or not trace.steps:
        return _flat_table(trace, full, notes)
    return _lanes_table(trace, notes)


def _violation(
    v: Violation, full: bool, layout: str, width: int
) -> list[RenderableType]:
    title = Text()
    if v.kind == "deadlock":
        title.append("deadlock", style="bold red")
        title.append(" reached")
    else:
        title.append(f"{v.kind} ", style="bold red")
        title.append(v.property, style="bold")
    if v.kind == "reachable":
        title.append(" was never reached by a complete search (is the model vacuous?)")
    elif v.lasso is not None and v.trace is not None:
        title.append(f" violated: {_lasso_shape(v.lasso, len(v.trace))}")
    elif v.trace is not None:
        title.append(
            f" {'' if v.kind == 'deadlock' else 'violated '}after {len(v.trace)} steps"
        )
    parts: list[RenderableType] = [title]
    if v.doc:
        parts.append(Text(v.doc, style="italic"))
    if v.trace is not None:
        notes = _lasso_notes(v) if v.lasso is not None else None
        parts.append(
            trace_table(v.trace, full=full, layout=layout, width=width, notes=notes)
        )
    if v.lasso is not None and v.lasso.cycle_start is not None:
        parts.append(_fairness_table(v.lasso))
    return parts


# -- lassos (liveness counterexamples) ---------------------------------------------------


def _lasso_shape(lasso: Lasso, length: int) -> str:
    """``a 3-step stem, then a 4-step cycle repeated forever``."""
    if lasso.cycle_start is None:
        return (
            f"after {length} steps the behaviour stops in a state with no enabled step"
        )
    cycle = length - lasso.cycle_start
    return (
        f"a {lasso.cycle_start}-step stem, then a {cycle}-step cycle repeated forever"
    )


def _lasso_notes(v: Violation) -> dict[int, str]:
    """The lines shown under the trigger's row and the cycle start's row."""
    lasso = v.lasso
    assert lasso is not None
    assert v.trace is not None
    notes: dict[int, str] = {}
    if v.kind == "leads_to":
        notes[lasso.trigger] = (
            f"▶ `{v.property}` holds in state {lasso.trigger}; its target holds in no "
            "state from here on"
        )
    else:
        notes[lasso.trigger] = (
            f"▶ the target `{v.property}` holds in no state from here on"
        )
    end = len(v.trace)
    if lasso.cycle_start is None:
        line = f"■ state {end} has no enabled step: the behaviour stays there forever"
    else:
        first = lasso.cycle_start + 1
        steps = (
            f"step {end} returns to it and repeats"
            if first == end
            else f"steps {first}–{end} return to it and repeat"
        )
        line = f"↻ the cycle starts in state {lasso.cycle_start}: {steps} forever"
    notes[lasso.cycle_start if lasso.cycle_start is not None else end] = (
        notes[lasso.trigger] + "\n" + line
        if lasso.trigger
        == (lasso.cycle_start if lasso.cycle_start is not None else end)
        else line
    )
    return notes


def _fairness_table(lasso: Lasso) -> Group:
    """Why the cycle is fair: per fair instance enabled on it, where it is taken or
    disabled."""
    head = Text("fairness on the cycle", style="bold")
    if not lasso.fairness:
        head.append(
            ": no fair step instance is enabled on it"
            if lasso.never_enabled
            else ": the model declares no fair steps (fair=)"
        )
        return Group(head)
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column("instance", style="cyan")
    table.add_column("fairness")
    table.add_column("why")
    for f in lasso.fairness:
        if f.taken is not None:
            why = f"taken at step {f.taken}"
        elif f.kind == "strong":
            why = "disabled in every state of the cycle"
        else:
            why = f"disabled in state {f.disabled}"
        table.add_row(f"  {f.instance}", f.kind, why)
    parts: list[RenderableType] = [head, table]
    if lasso.never_enabled:
        parts.append(
            Text(
                f"  ({lasso.never_enabled} other fair instance(s) enabled in no state of "
                "the cycle)",
                style="dim",
            )
        )
    return Group(*parts)


def violation_view(
    v: Violation, *, full: bool = False, layout: str = "auto", width: int = 100
) -> Group:
    """One violation: its title, the property's docstring and the trace."""
    return Group(*_violation(v, full, layout, width))


def render_violations(
    result: Result, *, full: bool = False, layout: str = "auto", width: int = 100
) -> Group:
    """Every violation with its trace (empty when there is none)."""
    parts: list[RenderableType] = []
    for v in result.violations:
        parts.extend(_violation(v, full, layout, width))
        parts.append(Text(""))
    if any(v.lasso is not None for v in result.violations):
        parts.append(
            Text(
                "(liveness: a lasso is a real behaviour of the model, short but not "
                "necessarily the shortest)",
                style="dim",
            )
        )
    safety = any(v.lasso is None and v.trace is not None for v in result.violations)
    if safety and result.order == "bfs":
        reduced = result.reduction.used and result.reduction.reduced > 0
        if reduced and not any("--shortest" in n for n in result.notes):
            note = (
                "(breadth-first with partial-order reduction: each trace is shortest in "
                "the reduced state graph; --shortest finds shortest ones)"
            )
        else:
            note = "(breadth-first: each trace is a shortest one)"
        parts.append(Text(note, style="dim"))
    elif result.verdict is Verdict.VIOLATED and result.order == "simulate":
        if any("--shortest" in n for n in result.notes):
            note = "(random walk, then breadth-first: each trace is a shortest one)"
        else:
            note = "(random walk: traces are not shortest; --shortest re-finds shortest ones)"
        parts.append(Text(note, style="dim"))
    return Group(*parts)


def print_result(
    console: Console,
    result: Result,
    *,
    full: bool = False,
    quiet: bool = False,
    layout: str = "auto",
) -> None:
    """Print the violations (unless ``quiet``), then the summary on one unwrapped line.

    The reduction and symmetry lines are left out when ``quiet``; notes (a fingerprint collision
    estimate, worker figures) never are: they qualify the verdict.
    """
    if not quiet and result.violations:
        console.print(
            render_violations(result, full=full, layout=layout, width=console.width)
        )
    console.print(summary_line(result), soft_wrap=True)
    lines = [result.reduction.summary()] if result.reduction.used and not quiet else []
    if result.symmetry is not None and not quiet:
        lines.append(result.symmetry.summary())
    for line in [*lines, *result.notes]:
        console.print(Text(line, style="dim"))


def render_text(
    result: Result, *, width: int = 100, full: bool = False, layout: str = "auto"
) -> str:
    """The rendered result as plain text without colour."""
    buf = io.StringIO()
    console = Console(file=buf, width=width, color_system=None, force_terminal=False)
    print_result(console, result, full=full, layout=layout)
    return _strip(buf.getvalue())


def _strip(text: str) -> str:
    """Drop the spaces rich pads table rows with."""
    return "\n".join(line.rstrip() for line in text.split("\n"))


def render_trace_text(
    violation: Violation, *, width: int = 100, layout: str = "auto"
) -> str:
    """One violation (title, docstring, trace) as plain text: JUnit failure bodies."""
    buf = io.StringIO()
    console = Console(file=buf, width=width, color_system=None, force_terminal=False)
    console.print(violation_view(violation, layout=layout, width=width))
    return _strip(buf.getvalue())


# -- replay -----------------------------------------------------------------------------


def step_view(trace: Trace, index: int, *, full: bool = False) -> Group:
    """One position of a trace for interactive replay: the step, its kernel reference,
    the first paragraph of its docstring, and what it changed (``full``: the state)."""
    n = len(trace)
    parts: list[RenderableType] = []
    head = Text(f"step {index} of {n}  ", style="bold")
    if index == 0:
        head.append("initial state", style="italic")
        parts.append(head)
        state = trace.init
        full = True
    else:
        step = trace.steps[index - 1]
        head.append(step.label(), style="cyan")
        lane = lane_of(step.params)
        head.append(f"  [{lane.title}]", style="dim")
        parts.append(head)
        ref = kernel_ref(step.doc)
        if ref is not None:
            parts.append(Text(ref, style="dim"))
        if step.doc:
            parts.append(Text(step.doc.split("\n\n")[0], style="italic"))
        state = step.state
    before = trace.init if index <= 1 else trace.steps[index - 2].state
    diff = changes(before, state) if index else []
    if full:
        body = Text()
        for n_, (k, v) in enumerate(fields_of(state).items()):
            body.append(("\n" if n_ else "") + f"  {k} = {show(v)}")
            mine = [_arrow(*c) for c in diff if c[0] == k or c[0].startswith(k + "[")]
            if mine:
                body.append("  ◂ " + ", ".join(mine), style="bold")
        parts.append(body)
    else:
        lines = [f"  {_arrow(*c)}" for c in changes(before, state)]
        parts.append(Text("\n".join(lines) or "  (no change)"))
    return Group(*parts)


# -- coverage ---------------------------------------------------------------------------


def coverage_table(result: Result) -> Table:
    """Per step: how often it fired and how many new states it found."""
    table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    table.add_column("step")
    table.add_column("fired", justify="right")
    table.add_column("new states", justify="right")
    for row in coverage(result):
        style = "yellow" if row.never_enabled else None
        table.add_row(row.step, _count(row.fired), _count(row.new_states), style=style)
    return table


def print_coverage(
    console: Console,
    result: Result,
    *,
    complete: bool,
    expected: Collection[str] = (),
) -> None:
    """The coverage table, then a warning line per step that never fired (unless
    ``expected`` to)."""
    console.print(Text("coverage", style="bold"))
    console.print(coverage_table(result))
    for line in warnings(result, complete=complete, expected=expected):
        console.print(Text(f"warning: {line}", style="yellow"), soft_wrap=True)


# -- progress ---------------------------------------------------------------------------


def _progress_text(p: Progress, rate: float) -> str:
    """``12,000 distinct states, 9,800 states/s, queue 2,300, depth 14 (2,981 states;
    next 1,204 so far), 3 s``: the level sizes show whether the search still widens."""
    levels = ""
    if p.level is not None:
        levels = f" ({_count(p.level)} states"
        if p.next_level is not None:
            levels += f"; next {_count(p.next_level)} so far"
        levels += ")"
    return (
        f"{_count(p.distinct_states)} distinct states, {_count(round(rate))} states/s, "
        f"queue {_count(p.queue)}, depth {p.depth}{levels}, {p.elapsed:.0f} s"
    )


class _Rate:
    """States per second over the last report interval."""

    def __init__(self) -> None:
        self.last = (0, 0.0)

    def __call__(self, p: Progress) -> float:
        states, at = self.last
        self.last = (p.distinct_states, p.elapsed)
        dt = p.elapsed - at
        return (p.distinct_states - states) / dt if dt > 0 else 0.0


def plain_progress(stream: TextIO) -> Callable[[Progress], None]:
    """A progress callback writing one line per report, for logs and CI."""
    rate = _Rate()

    def report(p: Progress) -> None:
        stream.write(f"progress: {_progress_text(p, rate(p))}\n")
        stream.flush()

    return report


@contextmanager
def live_progress(console: Console) -> Iterator[Callable[[Progress], None]]:
    """A progress callback driving a live line on a terminal; it disappears at the end."""
    rate = _Rate()
    text = Text("")
    started = time.perf_counter()
    with Live(text, console=console, transient=True, auto_refresh=False) as live:

        def report(p: Progress) -> None:
            if time.perf_counter() - started < 0.5:
                return
            text.plain = ""
            text.append("searching: ", style="bold")
            text.append(_progress_text(p, rate(p)))
            live.update(text, refresh=True)

        yield report
