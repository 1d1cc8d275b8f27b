"""The ``klpcheck`` command line: a thin layer over :func:`klpcheck.check`."""

from __future__ import annotations

import sys
from typing import Any

import click
from rich.console import Console

from klpcheck import __version__
from klpcheck.errors import KlpcheckError, UsageError
from klpcheck.explore import check
from klpcheck.loader import load_model
from klpcheck.render import print_result

__all__ = ["main"]

EXIT_HELP = """Exit codes: 0 every property holds, 1 a violation, 2 a usage or model error,
3 incomplete (a bound was hit or the run was interrupted)."""


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


@click.group(context_settings={"help_option_names": ["-h", "--help"]}, epilog=EXIT_HELP)
@click.version_option(__version__, prog_name="klpcheck")
def main() -> None:
    """An explicit-state model checker for the Linux livepatch consistency model."""


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
@click.option("-q", "--quiet", is_flag=True, help="Print only the summary line.")
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
    help="Explore with N processes (breadth-first only).",
)
def run(
    model_spec: str,
    defines: tuple[str, ...],
    dfs: bool,
    max_depth: int | None,
    max_states: int | None,
    time_limit: float | None,
    no_deadlock: bool,
    keep_going: bool,
    full: bool,
    quiet: bool,
    fingerprint: bool,
    workers: int,
) -> None:
    """Check MODEL (a .py file, or FILE:attr) and print the verdict.

    Breadth-first search (the default) reports a shortest counterexample.
    A search cut short by a bound or Ctrl-C reports "incomplete", never "holds".
    """
    try:
        model = load_model(model_spec, parse_defines(defines))
        options: dict[str, Any] = {
            "order": "dfs" if dfs else "bfs",
            "max_depth": max_depth,
            "max_states": max_states,
            "time_limit": time_limit,
            "deadlock": not no_deadlock,
            "keep_going": keep_going,
            "storage": "fingerprint" if fingerprint else "exact",
            "workers": workers,
        }
        result = check(model, **options)
    except KlpcheckError as err:
        _fail(err)
        return
    console = Console(highlight=False)
    print_result(console, result, full=full, quiet=quiet)
    for note in result.notes:
        console.print(note, soft_wrap=True)
    sys.exit(result.verdict.exit_code)
