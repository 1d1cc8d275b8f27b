"""The ``klpcheck`` command line: a thin layer over :func:`klpcheck.check` and friends."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.text import Text

from klpcheck.api import check
from klpcheck.base.errors import KlpcheckError, UsageError
from klpcheck.base.fileio import write_atomically
from klpcheck.base.options import Progress
from klpcheck.base.resources import default_max_memory, describe_size, parse_size
from klpcheck.base.result import Result, Trace, Violation
from klpcheck.base.version import __version__
from klpcheck.model.definition import Model
from klpcheck.model.loader import load_model
from klpcheck.report.coverage import exhaustive, warnings
from klpcheck.report.render import (
    LAYOUTS,
    live_progress,
    plain_progress,
    print_coverage,
    print_result,
    render_trace_text,
    step_view,
    violation_view,
)

__all__ = ["main"]

EXIT_HELP = """Exit codes: 0 every property holds, 1 a violation, 2 a usage or model error,
3 incomplete (a bound was hit or the run was interrupted)."""

PLAIN_PROGRESS_EVERY = 10.0  # seconds between progress lines when stderr is no terminal
LIVE_PROGRESS_EVERY = 0.25


def parse_defines(defines: tuple[str, ...]) -> dict[str, str]:
    """``("tasks=3", "sync=false")`` → ``{"tasks": "3", "sync": "false"}``."""
    out: dict[str, str] = {}
    for item in defines:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"-D takes name=value, not {item!r} (e.g. -D tasks=3)")
        out[name.strip()] = value
    return out


def _fail(err: KlpcheckError) -> None:
    click.echo(f"error: {err}", err=True)
    sys.exit(err.exit_code)


def _console(*, stderr: bool = False) -> Console:
    return Console(highlight=False, stderr=stderr)


_FILE = click.Path(dir_okay=False, path_type=Path)


def memory_bound(text: str) -> int | None:
    """The ``--max-memory`` value in bytes (None: no bound); UsageError if malformed."""
    if text.strip().lower() == "auto":
        return default_max_memory()
    try:
        return parse_size(text)
    except ValueError as err:
        raise UsageError(f"--max-memory: {err}") from None


def _available_now() -> str:
    bound = default_max_memory()
    return "" if bound is None else f" ({describe_size(bound)} now)"


_AVAILABLE_NOW = _available_now()


@click.group(context_settings={"help_option_names": ["-h", "--help"]}, epilog=EXIT_HELP)
@click.version_option(__version__, prog_name="klpcheck")
def main() -> None:
    """An explicit-state model checker for the Linux livepatch consistency model."""


# -- run ----------------------------------------------------------------------------------


@main.command(epilog=EXIT_HELP)
@click.argument("model_spec", metavar="MODEL")
@click.option(
    "-D",
    "defines",
    multiple=True,
    metavar="NAME=VALUE",
    help="Pass a parameter to the model's build().",
)
@click.option(
    "--dfs",
    is_flag=True,
    help="Depth-first instead of breadth-first (traces are then not shortest).",
)
@click.option(
    "--max-depth",
    type=click.IntRange(min=0),
    metavar="N",
    help="Explore at most N steps deep.",
)
@click.option(
    "--max-states",
    type=click.IntRange(min=1),
    metavar="N",
    help="Stop after N distinct states.",
)
@click.option(
    "--time-limit",
    type=click.FloatRange(min=0, min_open=True),
    metavar="S",
    help="Stop after S seconds.",
)
@click.option(
    "--max-memory",
    "max_memory",
    metavar="SIZE",
    default="auto",
    show_default=True,
    help="Stop as incomplete when the resident size reaches SIZE (4G, 512M, or 'none'); "
    "auto: 80% of the memory available at the start"
    + _AVAILABLE_NOW
    + ", plus what the process holds.",
)
@click.option(
    "--no-deadlock", is_flag=True, help="Do not report states without an enabled step."
)
@click.option(
    "--continue",
    "keep_going",
    is_flag=True,
    help="Keep going after a violation; one trace per property.",
)
@click.option(
    "--full",
    is_flag=True,
    help="Show every field of each state in traces, not only changes.",
)
@click.option(
    "--no-por",
    is_flag=True,
    help="No partial-order reduction (it is on when steps declare reads=/writes=). "
    "With reduction a breadth-first trace is shortest in the reduced state graph "
    "only, not necessarily among all traces.",
)
@click.option(
    "--no-symmetry",
    is_flag=True,
    help="No symmetry reduction (it is on when the model declares @model.symmetry, "
    "and then partial-order reduction is off).",
)
@click.option(
    "--shortest",
    is_flag=True,
    help="After a reduced search finds violations, search again without reduction "
    "(breadth-first) so that each trace is a shortest one.",
)
@click.option(
    "--audit",
    is_flag=True,
    help="Check every fired step against its declared writes, and declared reads by "
    "perturbation; a wrong footprint is a model error (exit 2).",
)
@click.option(
    "-q",
    "--quiet",
    is_flag=True,
    help="Print only the summary line (and notes that qualify it).",
)
@click.option(
    "--layout",
    type=click.Choice(LAYOUTS),
    default="auto",
    show_default=True,
    help="Traces as rows (flat), with a column per task (lanes), or lanes when wide enough.",
)
@click.option(
    "--save-dir",
    type=click.Path(file_okay=False, path_type=Path),
    metavar="DIR",
    default=Path("counterexamples"),
    show_default=True,
    help="Where every counterexample is saved as JSON (for klpcheck replay).",
)
@click.option("--no-save", is_flag=True, help="Do not save counterexamples.")
@click.option(
    "--json",
    "json_file",
    type=_FILE,
    metavar="FILE",
    help="Write verdict, counts, properties, traces and coverage as JSON.",
)
@click.option(
    "--junit",
    "junit_file",
    type=_FILE,
    metavar="FILE",
    help="Write JUnit XML: one test case per property, failures carry the trace.",
)
@click.option(
    "--coverage",
    "show_coverage",
    is_flag=True,
    help="Print per step how often it fired and how many new states it found.",
)
@click.option(
    "--dot",
    "dot_file",
    type=_FILE,
    metavar="FILE",
    help="Write the state graph as Graphviz DOT (models of up to 2,000 states).",
)
@click.option(
    "--mermaid",
    "mermaid_file",
    type=_FILE,
    metavar="FILE",
    help="Write each counterexample as a Mermaid sequence diagram.",
)
@click.option("--progress-interval", type=float, default=None, hidden=True)
@click.option(
    "--fingerprint",
    is_flag=True,
    help="Keep 64-bit fingerprints instead of states (far less memory; "
    "prints the estimated collision probability).",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=1,
    metavar="N",
    help="Explore with N workers (breadth-first only; they keep 64-bit state hashes).",
)
@click.option(
    "--backend",
    type=click.Choice(["local", "ray"]),
    default="local",
    show_default=True,
    help="Where workers run: forked local processes, or Ray actors "
    "(pip install 'klpcheck[ray]').",
)
@click.option(
    "--address",
    metavar="ADDR",
    default=None,
    help="With --backend ray: the Ray cluster to join ('auto', or ray://HEAD:10001); "
    "default: a private local Ray.",
)
def run(
    model_spec: str,
    defines: tuple[str, ...],
    dfs: bool,
    max_depth: int | None,
    max_states: int | None,
    time_limit: float | None,
    max_memory: str,
    no_deadlock: bool,
    keep_going: bool,
    full: bool,
    no_por: bool,
    no_symmetry: bool,
    shortest: bool,
    audit: bool,
    quiet: bool,
    layout: str,
    save_dir: Path,
    no_save: bool,
    json_file: Path | None,
    junit_file: Path | None,
    show_coverage: bool,
    dot_file: Path | None,
    mermaid_file: Path | None,
    progress_interval: float | None,
    fingerprint: bool,
    workers: int,
    backend: str,
    address: str | None,
) -> None:
    """Check MODEL (a .py file, or FILE:attr) and print the verdict.

    Breadth-first search (the default) reports a shortest counterexample (with
    partial-order reduction, shortest in the reduced state graph: see --shortest), and
    every counterexample is saved under --save-dir for `klpcheck replay`.
    A search cut short by a bound or Ctrl-C reports "incomplete", never "holds".
    """
    try:
        model = load_model(model_spec, parse_defines(defines))
        options: dict[str, Any] = {
            "order": "dfs" if dfs else "bfs",
            "max_depth": max_depth,
            "max_states": max_states,
            "time_limit": time_limit,
            "max_memory": memory_bound(max_memory),
            "deadlock": not no_deadlock,
            "keep_going": keep_going,
            "por": False if no_por else None,
            "symmetry": False if no_symmetry else None,
            "shortest": shortest,
            "audit": audit,
            "storage": "fingerprint" if fingerprint else "exact",
            "workers": workers,
            "backend": backend,
            "address": address,
        }
        if dot_file is not None:
            _write_dot(model, dot_file)
        with _progress(quiet, progress_interval) as (report, every):
            result = check(model, **options, progress=report, progress_interval=every)
    except KlpcheckError as err:
        _fail(err)
        return
    console = _console()
    print_result(console, result, full=full, quiet=quiet, layout=layout)
    complete = exhaustive(result, keep_going=keep_going)
    if show_coverage:
        print_coverage(console, result, complete=complete)
    elif not quiet and complete:
        for line in warnings(result, complete=True):
            click.echo(f"warning: {line}", err=True)
    try:
        saved = {} if no_save else _save(model, result, save_dir)
        _outputs(model, result, options, complete, saved, json_file, junit_file)
        if mermaid_file is not None:
            _write_mermaid(result, model, mermaid_file, quiet)
    except KlpcheckError as err:
        _fail(err)
        return
    except KeyboardInterrupt:
        # Every file is written whole or not at all (write_atomically).
        click.echo(
            "interrupted while writing files; those written are complete", err=True
        )
        sys.exit(3)
    if not quiet:
        for path in saved.values():
            console.print(f"counterexample saved: {path}", soft_wrap=True)
    sys.exit(result.verdict.exit_code)


@contextmanager
def _progress(
    quiet: bool, interval: float | None
) -> Iterator[tuple[Callable[[Progress], None] | None, float]]:
    """A live display at a terminal, periodic plain lines otherwise, nothing if quiet."""
    if quiet:
        yield None, 1.0
    elif sys.stderr.isatty():
        with live_progress(_console(stderr=True)) as report:
            yield report, LIVE_PROGRESS_EVERY if interval is None else interval
    else:
        every = PLAIN_PROGRESS_EVERY if interval is None else interval
        yield plain_progress(sys.stderr), every


def _save(model: Model[Any], result: Result, directory: Path) -> dict[str, Path]:
    from klpcheck.trace.files import save_counterexample

    return {
        v.property: save_counterexample(model, v, directory, order=result.order)
        for v in result.violations
        if v.trace is not None
    }


def _outputs(
    model: Model[Any],
    result: Result,
    options: dict[str, Any],
    complete: bool,
    saved: dict[str, Path],
    json_file: Path | None,
    junit_file: Path | None,
) -> None:
    from klpcheck.report.formats import dumps, json_report, junit_cases, junit_xml

    if json_file is not None:
        data = json_report(
            model, result, options=options, complete=complete, counterexamples=saved
        )
        write_atomically(json_file, dumps(data))
    if junit_file is not None:
        cases = junit_cases(
            model,
            result,
            complete=complete,
            deadlock=options["deadlock"],
            render=render_trace_text,
        )
        suite = f"klpcheck {model.name}"
        write_atomically(junit_file, junit_xml(suite, cases, seconds=result.elapsed))


def _write_dot(model: Model[Any], path: Path) -> None:
    from klpcheck.trace.graph import state_graph, to_dot

    write_atomically(path, to_dot(state_graph(model)))


def _write_mermaid(result: Result, model: Model[Any], path: Path, quiet: bool) -> None:
    from klpcheck.trace.mermaid import sequence_diagram

    traced = [v for v in result.violations if v.trace is not None]
    if not traced and not quiet:
        click.echo(f"no counterexample to draw; {path} not written", err=True)
    for v in traced:
        target = path
        if len(traced) > 1:
            target = path.with_name(f"{path.stem}-{v.property}{path.suffix}")
        write_atomically(target, sequence_diagram(v, title=_title(v, model.name)))
        if not quiet:
            click.echo(f"mermaid diagram written: {target}", err=True)


def _what(v: Violation) -> str:
    """``invariant mutual_exclusion`` or ``deadlock``."""
    return "deadlock" if v.kind == "deadlock" else f"{v.kind} {v.property}"


def _title(v: Violation, model: str) -> str:
    return f"{model}: {_what(v)}"


# -- replay -------------------------------------------------------------------------------

_KEYS = "[n]ext  [p]revious  [j N] jump  [f]ull state  [q]uit"


@main.command(
    short_help="Replay a saved counterexample.",
    epilog="""Exit codes: 1 the counterexample replays (its violation is still there),
2 it no longer replays, or the file or model cannot be read.""",
)
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--model",
    "model_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Replay against this model file instead of the recorded one.",
)
@click.option("--full", is_flag=True, help="Show every field of each state.")
@click.option(
    "--layout",
    type=click.Choice(LAYOUTS),
    default="auto",
    show_default=True,
    help="Trace layout when the whole trace is printed.",
)
@click.option(
    "--interactive/--no-interactive",
    default=None,
    help="Step through the trace (default: when stdin and stdout are a terminal).",
)
@click.option(
    "--mermaid",
    "mermaid_file",
    type=_FILE,
    metavar="FILE",
    help="Write the trace as a Mermaid sequence diagram.",
)
def replay(
    file: Path,
    model_file: Path | None,
    full: bool,
    layout: str,
    interactive: bool | None,
    mermaid_file: Path | None,
) -> None:
    """Re-execute a saved counterexample FILE against its model and show it.

    Every step must still be enabled and lead to the saved state, and the property must
    still be broken at the end; otherwise one line names the first step that diverged
    (exit 2). Exit 1 when the counterexample replays (the violation is still there).
    """
    from klpcheck.trace.files import load_counterexample
    from klpcheck.trace.files import replay as replay_trace

    try:
        cx = load_counterexample(file)
        model = None
        if model_file is not None:
            model = load_model(model_file, dict(cx.params))
        rp = replay_trace(cx, model)
        if mermaid_file is not None:
            from klpcheck.trace.mermaid import sequence_diagram

            title = _title(rp.violation, rp.model.name)
            write_atomically(mermaid_file, sequence_diagram(rp.violation, title=title))
    except KlpcheckError as err:
        _fail(err)
        return
    console = _console()
    params = ", ".join(
        f"{k}={str(v).lower() if isinstance(v, bool) else v}"
        for k, v in cx.params.items()
    )
    console.print(
        Text.assemble(
            (f"{file}", "bold"),
            f": {rp.model.name}" + (f" ({params})" if params else ""),
            f", saved by klpcheck {cx.version}",
        ),
        soft_wrap=True,
    )
    if interactive is None:
        interactive = sys.stdin.isatty() and sys.stdout.isatty()
    if interactive:
        _browse(console, rp.trace, rp.violation, full)
    else:
        view = violation_view(
            rp.violation, full=full, layout=layout, width=console.width
        )
        console.print(view)
    still = "reached" if rp.violation.kind == "deadlock" else "violated"
    console.print(
        f"replayed {len(rp.trace)} steps: each enabled and leading to the saved state; "
        f"{_what(rp.violation)} still {still}",
        soft_wrap=True,
    )
    sys.exit(1)


def command(text: str, at: int, last: int) -> tuple[str, int]:
    """Parse one interactive replay command: ``(action, position)``.

    Examples
    --------
    >>> command("", 0, 5), command("p", 0, 5), command("j 3", 0, 5), command("9", 1, 5)
    (('show', 1), ('show', 0), ('show', 3), ('show', 5))
    >>> command("f", 2, 5), command("q", 2, 5), command("x", 2, 5)
    (('full', 2), ('quit', 2), ('help', 2))
    """
    word = text.strip().lower()
    if word in ("", "n", "next"):
        return "show", min(at + 1, last)
    if word in ("p", "prev", "previous", "b"):
        return "show", max(at - 1, 0)
    if word in ("f", "full"):
        return "full", at
    if word in ("q", "quit", "exit"):
        return "quit", at
    target = word.removeprefix("jump").removeprefix("j").strip()
    if target.isdigit():
        return "show", max(0, min(int(target), last))
    return "help", at


def _browse(console: Console, trace: Trace, violation: Violation, full: bool) -> None:
    """Step through a trace at a terminal until quit, end of input or Ctrl-C."""
    console.print(Text(_KEYS, style="dim"))
    at, last = 0, len(trace)
    show_full = full
    console.print(step_view(trace, at, full=show_full))
    while True:
        try:
            text = console.input(Text(f"[{at}/{last}] > ", style="bold"))
        except (EOFError, KeyboardInterrupt):
            console.print()
            break
        action, where = command(text, at, last)
        if action == "quit":
            break
        if action == "help":
            console.print(
                Text(f"unknown command {text.strip()!r}; {_KEYS}", style="dim")
            )
            continue
        if action == "full":
            show_full = not show_full
        elif where == at and at == last:
            console.print(Text("end of the trace", style="dim"))
            continue
        at = where
        console.print(step_view(trace, at, full=show_full))
        if at == last:
            still = "reached" if violation.kind == "deadlock" else "violated here"
            console.print(Text(f"{_what(violation)} {still}", style="bold red"))


# -- check --------------------------------------------------------------------------------


@main.command(
    name="check",
    short_help="Compare every manifest entry with its pinned outcome.",
    epilog="""Exit codes: 0 every entry matches its pin, 1 a
mismatch, 2 a bad manifest or an entry that cannot run, 3 an entry's search was
incomplete.""",
)
@click.argument("manifest", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--slow", is_flag=True, help="Also run the entries marked slow.")
@click.option(
    "-k",
    "--only",
    "only",
    multiple=True,
    metavar="TEXT",
    help="Run only entries whose id (file.py[variant]) contains TEXT.",
)
@click.option(
    "--time-limit",
    type=click.FloatRange(min=0, min_open=True),
    metavar="S",
    help="Stop each entry after S seconds (it then counts as incomplete).",
)
@click.option(
    "--save-dir",
    type=click.Path(file_okay=False, path_type=Path),
    metavar="DIR",
    default=None,
    help="Save every counterexample found in DIR (not saved by default).",
)
@click.option(
    "--json",
    "json_file",
    type=_FILE,
    metavar="FILE",
    help="Write the outcomes as JSON.",
)
@click.option(
    "--junit",
    "junit_file",
    type=_FILE,
    metavar="FILE",
    help="Write JUnit XML: one test case per entry.",
)
@click.option(
    "-q", "--quiet", is_flag=True, help="Print only mismatches and the summary."
)
def check_manifest(
    manifest: Path,
    slow: bool,
    only: tuple[str, ...],
    time_limit: float | None,
    save_dir: Path | None,
    json_file: Path | None,
    junit_file: Path | None,
    quiet: bool,
) -> None:
    """Run every entry of a MANIFEST and compare it with its pinned outcome.

    An entry matches when its verdict, violated properties, distinct states and shortest
    trace lengths equal the pin; a pinned violation that no longer appears is a mismatch
    too (the model stopped reproducing the race). Slow entries run only with --slow.
    """
    from klpcheck.gate.runner import EntryOutcome, run_manifest

    console = _console()
    styles = {"match": "green", "skipped": "dim", "incomplete": "yellow"}

    def tell(o: EntryOutcome) -> None:
        if quiet and o.status in ("match", "skipped"):
            return
        line = Text(f"{o.status:<10} ", style=styles.get(o.status, "bold red"))
        line.append(o.entry.id, style="bold")
        line.append(f"  {o.summary()}")
        if o.result is not None:
            line.append(f" ({o.seconds:.2f} s)", style="dim")
        console.print(line, soft_wrap=True)
        if o.status == "mismatch":
            for v in o.unexpected():
                console.print(violation_view(v, width=console.width))

    try:
        outcome = run_manifest(
            manifest,
            slow=slow,
            only=only,
            time_limit=time_limit,
            save_dir=save_dir,
            on_outcome=tell,
        )
        if json_file is not None:
            write_atomically(json_file, json.dumps(outcome.json(), indent=1) + "\n")
        if junit_file is not None:
            write_atomically(
                junit_file, outcome.junit(str(manifest), render_trace_text)
            )
    except KlpcheckError as err:
        _fail(err)
        return
    console.print(outcome.line(), soft_wrap=True)
    sys.exit(outcome.exit_code)
