"""The ``klpcheck`` command line: a thin layer over :func:`klpcheck.check` and friends."""

from __future__ import annotations

import functools
import json
import os
import signal
import sys
import threading
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
from klpcheck.base.native import speedups_status
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
    trace_table,
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
        name = name.strip()
        if name in out:
            raise UsageError(
                f"-D {name} is given twice ({name}={out[name]} and {name}={value}); "
                "give each parameter once"
            )
        out[name] = value
    return out


@contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """SIGTERM (what CI runners and ``timeout`` send) interrupts like Ctrl-C meanwhile.

    A search interrupted either way ends as incomplete with its reports written. Each
    signal is noted in ``_SIGNALLED``, so that the command ends with its own exit code.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = {
        sig: signal.signal(sig, _interrupt) for sig in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        yield
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)


_SIGNALLED: list[int] = []


def _interrupt(signum: int, frame: object) -> None:
    _SIGNALLED.append(signum)
    raise KeyboardInterrupt


class _PipeSafe:
    """Standard output that outlives its reader: once ``klpcheck … | head`` has read
    enough, later writes go to the null device and the command ends with its own exit
    code instead of a BrokenPipeError."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def _closed(self) -> None:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, self._stream.fileno())
        os.close(null)

    def write(self, text: str) -> int:
        try:
            return int(self._stream.write(text))
        except BrokenPipeError:
            self._closed()
            return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            self._closed()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _interruptible(command: Callable[..., None]) -> Callable[..., None]:
    """Run ``command`` with SIGTERM acting as Ctrl-C; an interrupt outside the search
    (which handles its own) ends with one line and exit 3."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        try:
            with _sigterm_interrupts():
                try:
                    command(*args, **kwargs)
                except KeyboardInterrupt:
                    click.echo("interrupted; every file written is complete", err=True)
                    sys.exit(3)
        except SystemExit as done:
            if not _SIGNALLED:
                raise
            # An interrupt that landed in an import can leave the interpreter set to
            # end by SIGINT whatever the exit code; the reports are written, so end
            # here with the command's own code.
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(done.code if isinstance(done.code, int) else 1)

    return wrapper


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
@click.version_option(
    __version__,
    prog_name="klpcheck",
    message=f"%(prog)s, version %(version)s ({speedups_status()})",
)
def main() -> None:
    """An explicit-state model checker for the Linux livepatch consistency model."""
    if not isinstance(sys.stdout, _PipeSafe):
        try:
            sys.stdout.fileno()
        except (AttributeError, OSError, ValueError):
            return  # not a real file (a test runner's buffer): no pipe to lose
        sys.stdout = _PipeSafe(sys.stdout)


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
    help="No partial-order reduction (it is on when steps declare reads=/writes=), "
    "and no trust in declared footprints anywhere. With reduction a breadth-first "
    "trace is shortest in the reduced state graph only, not necessarily among all "
    "traces.",
)
@click.option(
    "--por",
    is_flag=True,
    help="Partial-order reduction even where it is off by default (no footprints "
    "declared); an error with symmetry, fingerprints or workers.",
)
@click.option(
    "--incremental/--no-incremental",
    default=None,
    help="Evaluate again after each step only the guards and properties that read "
    "what it declares it writes (default: on; their declared reads are trusted, "
    "except with --no-por, which goes by the reads proven from the code; "
    "--incremental trusts them even then); --audit checks the declarations.",
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
    "--witness",
    is_flag=True,
    help="Print the trace that reaches each @model.reachable target (with --mermaid, "
    "draw it too).",
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
@click.option(
    "--simulate",
    type=click.IntRange(min=1),
    metavar="N",
    help="Instead of a complete search, N random walks checking invariants and "
    "deadlock on every state; finding nothing is incomplete (exit 3), never holds.",
)
@click.option(
    "--depth",
    type=click.IntRange(min=1),
    metavar="D",
    help="With --simulate: at most D steps per walk (default 100).",
)
@click.option(
    "--seed",
    type=int,
    metavar="S",
    help="With --simulate: the random seed (printed; the same seed repeats a run).",
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
@_interruptible
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
    por: bool,
    incremental: bool | None,
    no_symmetry: bool,
    shortest: bool,
    audit: bool,
    quiet: bool,
    layout: str,
    save_dir: Path,
    no_save: bool,
    json_file: Path | None,
    junit_file: Path | None,
    witness: bool,
    show_coverage: bool,
    dot_file: Path | None,
    mermaid_file: Path | None,
    simulate: int | None,
    depth: int | None,
    seed: int | None,
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
    A search cut short by a bound, Ctrl-C or SIGTERM reports "incomplete", never
    "holds".
    """
    try:
        if por and no_por:
            raise UsageError("--por and --no-por contradict each other; give one")
        model = load_model(model_spec, parse_defines(defines))
        options: dict[str, Any] = {
            "order": "dfs" if dfs else "bfs",
            "max_depth": max_depth,
            "max_states": max_states,
            "time_limit": time_limit,
            "max_memory": memory_bound(max_memory),
            "deadlock": not no_deadlock,
            "keep_going": keep_going,
            "por": True if por else False if no_por else None,
            "incremental": incremental,
            "symmetry": False if no_symmetry else None,
            "shortest": shortest,
            "audit": audit,
            "storage": "fingerprint" if fingerprint else "exact",
            "workers": workers,
            "backend": backend,
            "address": address,
        }
        if simulate is None and (depth is not None or seed is not None):
            raise UsageError("--depth and --seed go with --simulate N")
        if simulate is not None:
            _simulation_fits(options, dot_file)
            options["order"] = "simulate"
        if dot_file is not None:
            _write_dot(model, dot_file)
        with _progress(quiet, progress_interval) as (report, every):
            if simulate is not None:
                result = _simulate(model, simulate, depth, seed, options, report, every)
            else:
                result = check(
                    model, **options, progress=report, progress_interval=every
                )
    except KlpcheckError as err:
        _fail(err)
        return
    console = _console()
    print_result(console, result, full=full, quiet=quiet, layout=layout)
    if witness:
        _print_witnesses(console, model, result, full=full, layout=layout)
    complete = exhaustive(result, keep_going=keep_going)
    expected = model.may_stay_disabled
    if show_coverage:
        print_coverage(console, result, complete=complete, expected=expected)
    elif not quiet and complete:
        for line in warnings(result, complete=True, expected=expected):
            click.echo(f"warning: {line}", err=True)
    try:
        saved, kept = _save(model, result, save_dir) if not no_save else ({}, {})
        _outputs(model, result, options, complete, saved, json_file, junit_file)
        if mermaid_file is not None:
            _write_mermaid(result, model, mermaid_file, quiet, witness)
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
        for prop, path in saved.items():
            if prop not in kept:
                console.print(f"counterexample saved: {path}", soft_wrap=True)
    for line in kept.values():
        click.echo(line, err=True)
    sys.exit(result.verdict.exit_code)


def _simulation_fits(options: dict[str, Any], dot_file: Path | None) -> None:
    """Refuse the options a random simulation cannot honour."""
    clash = [
        flag
        for flag, on in (
            ("--dfs", options["order"] == "dfs"),
            ("--max-depth (use --depth)", options["max_depth"] is not None),
            ("--max-states", options["max_states"] is not None),
            ("--por", options["por"] is True),
            ("--audit", options["audit"]),
            ("--fingerprint", options["storage"] != "exact"),
            ("--workers", options["workers"] > 1),
            ("--dot", dot_file is not None),
        )
        if on
    ]
    if clash:
        raise UsageError(
            f"--simulate walks at random and does not combine with {', '.join(clash)}"
        )


def _simulate(
    model: Model[Any],
    walks: int,
    depth: int | None,
    seed: int | None,
    options: dict[str, Any],
    report: Callable[[Progress], None] | None,
    every: float,
) -> Result:
    from klpcheck.search.simulate import DEFAULT_DEPTH, new_seed, simulate

    result = simulate(
        model,
        walks,
        depth=DEFAULT_DEPTH if depth is None else depth,
        seed=new_seed() if seed is None else seed,
        deadlock=options["deadlock"],
        keep_going=options["keep_going"],
        time_limit=options["time_limit"],
        progress=report,
        progress_interval=every,
    )
    if options["shortest"] and result.violations:
        from klpcheck.reduce.por import shortest_traces

        result = shortest_traces(model, result, lambda m, **o: check(m, **o))
    return result


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


def _save(
    model: Model[Any], result: Result, directory: Path
) -> tuple[dict[str, Path], dict[str, str]]:
    """Save every counterexample; return the paths, and a sentence for each property
    whose saved trace was shorter than this run's and so was kept."""
    from klpcheck.trace.files import file_name, save_counterexample

    saved: dict[str, Path] = {}
    kept: dict[str, str] = {}
    for v in result.violations:
        if v.trace is None:
            continue
        path = directory / file_name(model, v.property)
        old = _saved_length(path, v.property)
        if old is not None and old < len(v.trace):
            saved[v.property] = path
            kept[v.property] = (
                f"counterexample kept: {path} has a {old}-step trace of "
                f"{v.property}; this run's has {len(v.trace)} steps and was not saved "
                "(--save-dir DIR keeps both)"
            )
            continue
        saved[v.property] = save_counterexample(model, v, directory, order=result.order)
    return saved, kept


def _saved_length(path: Path, prop: str) -> int | None:
    """The length of the trace of ``prop`` saved at ``path``; None if there is none."""
    from klpcheck.trace.files import load_counterexample

    if not path.is_file():
        return None
    try:
        cx = load_counterexample(path)
    except KlpcheckError:
        return None  # unreadable: this run's trace replaces it
    return len(cx.steps) if cx.property == prop else None


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


def _witnesses(model: Model[Any], result: Result) -> list[Violation]:
    """Each reached @model.reachable target's witness trace, as a Violation to draw."""
    docs = {p.name: p.doc for p in model.reachables}
    return [
        Violation(name, "reachable", docs.get(name, ""), trace)
        for name, trace in result.witnesses.items()
    ]


def _print_witnesses(
    console: Console, model: Model[Any], result: Result, *, full: bool, layout: str
) -> None:
    found = _witnesses(model, result)
    if not model.reachables:
        click.echo("--witness: the model declares no @model.reachable target", err=True)
    for w in found:
        assert w.trace is not None
        console.print(
            Text.assemble(
                ("witness ", "bold green"),
                (w.property, "bold"),
                f": reachable target reached after {len(w.trace)} steps",
            )
        )
        if w.doc:
            console.print(Text(w.doc, style="italic"))
        console.print(
            trace_table(w.trace, full=full, layout=layout, width=console.width)
        )


def _write_mermaid(
    result: Result, model: Model[Any], path: Path, quiet: bool, witness: bool
) -> None:
    from klpcheck.trace.mermaid import sequence_diagram

    traced = [v for v in result.violations if v.trace is not None]
    if witness:
        traced += _witnesses(model, result)
    if not traced:
        hint = "" if witness else " (--witness draws the reachable targets' traces)"
        click.echo(
            f"{result.verdict.value}: no counterexample to draw; {path} not written{hint}",
            err=True,
        )
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
    if v.kind == "reachable" and v.trace is not None:
        return f"{model}: witness of reachable {v.property}"
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
    if rp.violation.lasso is not None:
        still += (
            " (the target never holds from the trigger on; the cycle closes and is fair)"
            if rp.violation.lasso.cycle_start is not None
            else " (the target never holds from the trigger on; no step is enabled at the end)"
        )
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
    "--max-memory",
    "max_memory",
    metavar="SIZE",
    default="auto",
    show_default=True,
    help="Stop an entry as incomplete when the resident size reaches SIZE (as for run).",
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
@_interruptible
def check_manifest(
    manifest: Path,
    slow: bool,
    only: tuple[str, ...],
    time_limit: float | None,
    max_memory: str,
    save_dir: Path | None,
    json_file: Path | None,
    junit_file: Path | None,
    quiet: bool,
) -> None:
    """Run every entry of a MANIFEST and compare it with its pinned outcome.

    An entry matches when its verdict, violated properties, distinct states and shortest
    trace lengths equal the pin; a pinned violation that no longer appears is a mismatch
    too (the model stopped reproducing the race). Slow entries run only with --slow.
    Ctrl-C or SIGTERM ends the whole command: the running entry is reported as
    interrupted, the rest as not run, and the reports are written (exit 3).
    """
    from klpcheck.gate.runner import EntryOutcome, run_manifest

    console = _console()
    styles = {
        "match": "green",
        "skipped": "dim",
        "not run": "dim",
        "incomplete": "yellow",
        "interrupted": "yellow",
    }

    def tell(o: EntryOutcome) -> None:
        if quiet and o.status in ("match", "skipped", "not run"):
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
            max_memory=memory_bound(max_memory),
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


# -- litmus -------------------------------------------------------------------------------


@main.command(
    short_help="Run C litmus tests on the store-buffer memory model.",
    epilog="""Exit codes: 0 every outcome is Never, 1 some outcome is reachable
(Sometimes), 2 a file cannot be read or is outside the subset, 3 incomplete.""",
)
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path)
)
@click.option("--full", is_flag=True, help="Show every field of each state in traces.")
@click.option(
    "--layout",
    type=click.Choice(LAYOUTS),
    default="flat",
    show_default=True,
    help="Traces as rows (flat), with a column per lane (lanes), or lanes when wide enough.",
)
@click.option(
    "--save-dir",
    type=click.Path(file_okay=False, path_type=Path),
    metavar="DIR",
    default=Path("counterexamples"),
    show_default=True,
    help="Where every trace reaching an outcome is saved as JSON (for klpcheck replay).",
)
@click.option("--no-save", is_flag=True, help="Do not save traces.")
@click.option(
    "--json",
    "json_file",
    type=_FILE,
    metavar="FILE",
    help="Write each test's outcome and its run's report (as `run --json`) as JSON.",
)
@click.option("-q", "--quiet", is_flag=True, help="Print one line per test, no traces.")
def litmus(
    files: tuple[Path, ...],
    full: bool,
    layout: str,
    save_dir: Path,
    no_save: bool,
    json_file: Path | None,
    quiet: bool,
) -> None:
    """Run each litmus FILE on klpcheck's store-buffer memory model.

    FILE is a C litmus test in the subset the Linux kernel's
    tools/memory-model/litmus-tests use. Prints herd7's word for its exists clause:
    Never (no execution reaches it) or Sometimes (with the trace that does, saved
    like any counterexample). The model is stronger than LKMM (no load buffering,
    multi-copy atomic), so it may say Never where LKMM says Sometimes, never the
    other way round.
    """
    from klpcheck.model.litmus import build_model, load_litmus
    from klpcheck.report.formats import dumps, json_report

    console = _console()
    worst = 0
    tests: list[dict[str, Any]] = []
    for file in files:
        try:
            test = load_litmus(file)
            model = build_model(test)
            result = check(model)
        except KlpcheckError as err:
            click.echo(f"error: {err}", err=True)
            worst = max(worst, 2)
            continue
        others = [v for v in result.violations if v.property != "exists"]
        if others:
            click.echo(
                f"error: {file}: the model of the test has a {others[0].kind}, which "
                "the memory model should never produce; please report it",
                err=True,
            )
            worst = max(worst, 2)
            continue
        reached = [v for v in result.violations if v.property == "exists"]
        if reached:
            word, code = "Sometimes", 1
        elif result.verdict.exit_code == 0:
            word, code = "Never", 0
        else:
            word, code = "incomplete", 3
        worst = code if worst != 2 and code > worst else worst
        if reached and not quiet:
            console.print(violation_view(reached[0], full=full, layout=layout))
        expected = test.result
        note = f"{result.distinct_states:,} states"
        if expected is not None:
            same = "" if expected == word else ", the store-buffer model is stronger"
            note += f"; the file says Result: {expected}{same}"
        console.print(
            Text.assemble(
                (f"{model.name}", "bold"), f": {word}", (f"  ({note})", "dim")
            ),
            soft_wrap=True,
        )
        saved: dict[str, Path] = {}
        if reached and not no_save:
            try:
                saved, kept = _save(model, result, save_dir)
            except KlpcheckError as err:
                _fail(err)
            if not quiet:
                for prop, path in saved.items():
                    line = kept.get(prop, f"counterexample saved: {path}")
                    console.print(line, soft_wrap=True)
        if json_file is not None:
            options = {"order": "bfs", "deadlock": True}
            report = json_report(
                model,
                result,
                options=options,
                complete=exhaustive(result, keep_going=False),
                counterexamples=saved,
            )
            tests.append(
                {
                    "file": str(file),
                    "name": model.name,
                    "outcome": word,
                    "result_line": expected,
                    "report": report,
                }
            )
    if json_file is not None:
        try:
            write_atomically(
                json_file, dumps({"format": "klpcheck-litmus", "tests": tests})
            )
        except KlpcheckError as err:
            _fail(err)
    sys.exit(worst)
