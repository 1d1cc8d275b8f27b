"""Run every tool on the lock model several times and print one table of medians.

Each measurement is one whole process: its wall time, and its peak resident memory from
``wait4``. Bytes per state is the peak minus the peak of the same tool on one process (its
interpreter, imports and fixed tables), divided by the distinct states. Absolute times on a
shared machine are noise; the last column, each tool's median time over klpcheck's median
from the same run, is the figure to compare. A tool that is not installed is reported as
skipped. ``python -m bench --help`` lists the options; docs-bench.md explains the rows.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
MUSIL_VENV = BENCH / ".venvs" / "musil"
MUSIL_VERSION = "0.36.7"
MINICHECK_VERSION = "0.4.0"
REFERENCE = "klpcheck"  # the row every ratio is taken against


def lock_states(procs: int) -> int:
    """Distinct states of the lock model: no process at pc 1, or exactly one."""
    return int(5**procs + procs * 5 ** (procs - 1))  # int ** int is Any to mypy


@dataclass
class Run:
    """One process: wall time, CPU time, peak RSS in bytes, and what it printed."""

    seconds: float
    peak: int
    stdout: str
    cpu: float = 0.0


TIME = shutil.which("time", path="/usr/bin:/bin")


def measure(argv: list[str], cwd: Path | None = None, timeout: float = 900) -> Run:
    """Run ``argv`` to completion: its wall time and its own peak RSS.

    A child's peak RSS as ``wait4`` reports it starts from its parent's size at ``fork``,
    so with GNU time installed the child is started from that small process instead.
    """
    with (
        tempfile.NamedTemporaryFile("w+") as err,
        tempfile.NamedTemporaryFile("r") as rss,
    ):
        wrapped = [TIME, "-f", "%M", "-o", rss.name, *argv] if TIME else argv
        # The tree the bench lives in, not an installed klpcheck, on every interpreter.
        path = os.environ.get("PYTHONPATH")
        env = {
            **os.environ,
            "PYTHONPATH": f"{ROOT}{os.pathsep}{path}" if path else str(ROOT),
        }
        start = time.perf_counter()
        proc = subprocess.Popen(
            wrapped, cwd=cwd, stdout=subprocess.PIPE, stderr=err, text=True, env=env
        )
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        assert proc.stdout is not None
        out = proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
        proc.stdout.close()
        if proc.returncode != 0:
            err.seek(0)
            raise RuntimeError(
                f"{' '.join(map(str, argv))} exited {proc.returncode}: {err.read().strip()}"
            )
        kib = int(rss.read().split()[-1]) if TIME else usage.ru_maxrss
    # wait4's usage includes the children the child waited for (GNU time's command,
    # klpcheck's workers).
    return Run(seconds, kib * 1024, out, usage.ru_utime + usage.ru_stime)


# -- the tools --------------------------------------------------------------------------


@dataclass
class Tool:
    """A way to run the lock model: its command for n processes and its output parser."""

    name: str
    command: Callable[[int], list[str]]
    parse: Callable[[str], tuple[int, int | None]]
    missing: Callable[[], str | None] = lambda: None  # why it is skipped, or None
    prepare: Callable[[int], None] = lambda procs: None
    cwd: Path | None = None
    reduced: bool = False  # a reduction: fewer states by design


def _json_counts(out: str) -> tuple[int, int | None]:
    data = json.loads(out.strip().splitlines()[-1])
    return int(data["states"]), data["transitions"]


def _python(
    script: str, *args: str, python: Callable[[], str] = lambda: sys.executable
) -> Callable[[int], list[str]]:
    return lambda procs: [python(), str(BENCH / script), *args, f"{procs}"]


def _klpcheck(
    model: str, *options: str, python: Callable[[], str] = lambda: sys.executable
) -> Callable[[int], list[str]]:
    peer = str(BENCH / "peer_klpcheck.py")
    return lambda procs: [
        python(),
        peer,
        str(BENCH / model),
        f"procs={procs}",
        *options,
    ]


def _importable(module: str) -> Callable[[], str | None]:
    def missing() -> str | None:
        try:
            __import__(module)
        except ImportError:
            return f"{module} is not installed (pip install -e '.[bench]')"
        return None

    return missing


def _on_musil_python(module: str) -> Callable[[], str | None]:
    """Skip reason for a row run on musil's interpreter: no venv, or no ``module`` in it."""

    def missing() -> str | None:
        reason = _musil_missing()
        if reason is not None:
            return reason
        done = subprocess.run(
            [str(_musil_python()), "-c", f"import {module}"], capture_output=True
        )
        if done.returncode != 0:
            return f"{module} is not installed in musil's virtualenv (python -m bench --setup)"
        return None

    return missing


def _musil_python_str() -> str:
    return str(_musil_python())


def interpreter(python: str) -> str:
    """``Python 3.x.y`` of an interpreter, for the output."""
    done = subprocess.run(
        [python, "-c", "import platform; print(platform.python_version())"],
        capture_output=True,
        text=True,
    )
    return f"Python {done.stdout.strip()}" if done.returncode == 0 else python


def _musil_python() -> Path:
    return MUSIL_VENV / "bin" / "python"


def _musil_missing() -> str | None:
    if not _musil_python().exists():
        found = find_python312()
        if found is None:
            return "musil needs Python ≥ 3.12 and none was found"
        return "musil's virtualenv is missing (python -m bench --setup)"
    return None


def find_python312() -> str | None:
    """A Python ≥ 3.12 interpreter on this machine (PATH, then pyenv), or None."""
    names = ["python3.14", "python3.13", "python3.12"]
    candidates = [shutil.which(n) for n in names]
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    if pyenv.is_dir():
        for d in sorted(pyenv.iterdir(), reverse=True):
            if re.fullmatch(r"3\.(1[2-9])\.\d+", d.name):
                candidates.append(str(d / "bin" / "python"))
    for c in candidates:
        # A pyenv shim is on PATH even when its version is not selected: try each one.
        if c and Path(c).exists() and _runs(c):
            return c
    return None


def _runs(python: str) -> bool:
    try:
        done = subprocess.run([python, "-c", "pass"], capture_output=True, timeout=60)
    except OSError:
        return False
    return done.returncode == 0


def setup_musil() -> str:
    """Create bench/.venvs/musil with musil installed; say what happened."""
    python = find_python312()
    if python is None:
        return "skipped: no Python ≥ 3.12 found for musil"
    subprocess.run([python, "-m", "venv", str(MUSIL_VENV)], check=True)
    subprocess.run(
        [
            str(_musil_python()),
            "-m",
            "pip",
            "install",
            "-q",
            f"musil=={MUSIL_VERSION}",
            f"minicheck=={MINICHECK_VERSION}",  # the peers on one interpreter
            "setuptools",
        ],
        check=True,
    )
    # klpcheck runs on that interpreter too, from this checkout: its C speedups must be
    # built for it, or it would run on the pure-Python twins.
    built = subprocess.run(
        [str(_musil_python()), "setup.py", "build_ext", "--inplace"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    speedups = (
        "klpcheck's C speedups built for it"
        if built.returncode == 0
        else "klpcheck's C speedups did not build for it (pure Python)"
    )
    return (
        f"musil {MUSIL_VERSION} and minicheck {MINICHECK_VERSION} installed in "
        f"{MUSIL_VENV} ({python}); {speedups}"
    )


_SPIN_DIR = Path(tempfile.gettempdir()) / f"klpcheck-bench-spin-{os.getuid()}"


def _pan(variant: str, procs: int) -> Path:
    return _SPIN_DIR / f"{variant}-{procs}" / "pan"


def _spin_missing() -> str | None:
    for program in ("spin", "cc"):
        if shutil.which(program) is None:
            return f"`{program}` is not installed (apt-get install spin gcc)"
    return None


def _spin_prepare(variant: str) -> Callable[[int], None]:
    flags = ["-DNOREDUCE"] if variant == "noreduce" else []

    def prepare(procs: int) -> None:
        pan = _pan(variant, procs)
        if pan.exists():
            return
        pan.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["spin", "-o3", f"-DN={procs}", "-a", str(BENCH / "lock.pml")],
            cwd=pan.parent,
            check=True,
            capture_output=True,
        )
        subprocess.run(
            ["cc", "-O2", *flags, "-o", "pan", "pan.c"],
            cwd=pan.parent,
            check=True,
            capture_output=True,
        )

    return prepare


def spin_hash_bits(procs: int) -> int:
    """pan's -w: a hash table of at least twice the state count."""
    return max(10, (2 * lock_states(procs)).bit_length())


def _spin_command(variant: str) -> Callable[[int], list[str]]:
    # -m: DFS depth bound above any depth (its default of 10,000 truncates silently).
    return lambda procs: [
        str(_pan(variant, procs)),
        f"-m{lock_states(procs) + 1000}",
        f"-w{spin_hash_bits(procs)}",
    ]


def _spin_parse(out: str) -> tuple[int, int | None]:
    if "errors: 0" not in out:
        raise RuntimeError(f"pan reported errors:\n{out}")
    states = re.search(r"(\d+) states, stored", out)
    transitions = re.search(r"(\d+) transitions", out)
    if states is None or transitions is None:
        raise RuntimeError(f"cannot read pan's output:\n{out}")
    return int(states.group(1)), int(transitions.group(1))


def tools() -> list[Tool]:
    """Every row of the table, klpcheck's reference row first."""
    return [
        Tool(REFERENCE, _klpcheck("lock.py"), _json_counts),
        Tool(
            "klpcheck --fingerprint",
            _klpcheck("lock.py", "--storage", "fingerprint"),
            _json_counts,
        ),
        Tool(
            "klpcheck --workers 2", _klpcheck("lock.py", "--workers", "2"), _json_counts
        ),
        Tool(
            "klpcheck dataclasses.replace",
            _klpcheck("lock_dataclass.py"),
            _json_counts,
        ),
        Tool("klpcheck tuple model", _klpcheck("lock_tuple.py"), _json_counts),
        Tool("tuple BFS (floor)", _python("tuple_bfs.py"), _json_counts),
        Tool(
            "spin -DNOREDUCE",
            _spin_command("noreduce"),
            _spin_parse,
            _spin_missing,
            _spin_prepare("noreduce"),
        ),
        Tool(
            "spin (default POR)",
            _spin_command("por"),
            _spin_parse,
            _spin_missing,
            _spin_prepare("por"),
            reduced=True,
        ),
        Tool(
            "musil",
            lambda procs: [
                str(_musil_python()),
                str(BENCH / "peer_musil.py"),
                f"{procs}",
            ],
            _json_counts,
            _musil_missing,
        ),
        Tool(
            "minicheck API",
            _python("peer_minicheck.py"),
            _json_counts,
            _importable("minicheck"),
        ),
        # musil needs Python >= 3.12: klpcheck and minicheck again on its interpreter.
        Tool(
            f"klpcheck {ON_MUSIL}",
            _klpcheck("lock.py", python=_musil_python_str),
            _json_counts,
            _on_musil_python("klpcheck"),
        ),
        Tool(
            f"klpcheck tuple model {ON_MUSIL}",
            _klpcheck("lock_tuple.py", python=_musil_python_str),
            _json_counts,
            _on_musil_python("klpcheck"),
        ),
        Tool(
            f"minicheck API {ON_MUSIL}",
            _python("peer_minicheck.py", python=_musil_python_str),
            _json_counts,
            _on_musil_python("minicheck"),
        ),
    ]


ON_MUSIL = "(musil's Python)"


# -- measuring and the table ------------------------------------------------------------


@dataclass
class Row:
    """Every run of one tool at one size."""

    tool: str
    reduced: bool = False
    states: int | None = None
    transitions: int | None = None
    seconds: list[float] = field(default_factory=list)
    cpus: list[float] = field(default_factory=list)
    peaks: list[int] = field(default_factory=list)
    baseline: int = 0
    skipped: str | None = None

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def cpu(self) -> float:
        return statistics.median(self.cpus)

    @property
    def bytes_per_state(self) -> float | None:
        if not self.states or not self.peaks:
            return None
        return max(0, statistics.median(self.peaks) - self.baseline) / self.states


def run_tools(
    selected: list[Tool],
    procs: int,
    runs: int,
    each_round: Callable[[], None] = lambda: None,
) -> list[Row]:
    """Measure each tool ``runs`` times at ``procs``, round-robin so noise hits all alike.

    ``each_round`` runs once per round too (the livepatch rows), for the same reason.
    """
    rows = {t.name: Row(t.name, t.reduced) for t in selected}
    live = []
    for tool in selected:
        reason = tool.missing()
        if reason is None:
            try:
                tool.prepare(procs)
                tool.prepare(1)
                rows[tool.name].baseline = measure(tool.command(1), tool.cwd).peak
            except (RuntimeError, subprocess.CalledProcessError) as e:
                reason = f"failed to start: {e}"
        if reason is None:
            live.append(tool)
        else:
            rows[tool.name].skipped = reason
    for _ in range(runs):
        each_round()
        for tool in list(live):
            row = rows[tool.name]
            try:
                run = measure(tool.command(procs), tool.cwd)
                row.states, row.transitions = tool.parse(run.stdout)
            except (RuntimeError, ValueError, KeyError) as e:
                row.skipped = f"failed: {e}"
                live.remove(tool)
                continue
            row.seconds.append(run.seconds)
            row.cpus.append(run.cpu)
            row.peaks.append(run.peak)
    return list(rows.values())


def _n(value: float | None, fmt: str = ",.0f") -> str:
    return "—" if value is None else format(value, fmt)


def table(rows: list[Row], procs: int) -> str:
    """The rows as an aligned text table; ratios against the reference row."""
    expected = lock_states(procs)
    ref = next((r for r in rows if r.tool == REFERENCE and r.seconds), None)
    head = [
        "tool",
        "states",
        "transitions",
        "median s",
        "CPU s",
        "states/s",
        "peak MiB",
        "B/state",
        "× klpcheck",
    ]
    body = []
    for r in rows:
        if r.skipped is not None:
            body.append([r.tool, f"skipped: {r.skipped}"])
            continue
        mark = "" if r.states == expected or r.reduced else " (!)"
        body.append(
            [
                r.tool,
                f"{r.states:,}{mark}",
                _n(r.transitions),
                f"{r.median:.3f}",
                f"{r.cpu:.3f}",
                _n(r.states / r.median if r.states else None),
                f"{statistics.median(r.peaks) / 2**20:.1f}",
                # a reduced run's fixed tables are sized for the full count
                "—" if r.reduced else _n(r.bytes_per_state),
                f"{r.median / ref.median:.2f}" if ref else "—",
            ]
        )
    widths = [
        max(len(x[i]) for x in [head, *body] if len(x) == len(head))
        for i in range(len(head))
    ]
    lines = [
        f"lock model, {procs} processes: {expected:,} states expected; "
        f"medians of {len(rows[0].seconds) or '?'} runs",
        "  ".join(
            h.ljust(w) if i == 0 else h.rjust(w)
            for i, (h, w) in enumerate(zip(head, widths, strict=False))
        ),
    ]
    for x in body:
        if len(x) == 2:
            lines.append(f"{x[0].ljust(widths[0])}  {x[1]}")
        else:
            lines.append(
                "  ".join(
                    v.ljust(w) if i == 0 else v.rjust(w)
                    for i, (v, w) in enumerate(zip(x, widths, strict=False))
                )
            )
    return "\n".join(lines)


OTHER_MODELS = [
    ("two_phase_commit.py", ["rms=6"]),
    ("seed_rfc2015.py", ["scenario=stacked", "tasks=4"]),
]


def other_models(runs: int) -> str:
    """klpcheck alone on bundled models: exact storage, fingerprints, two workers."""
    lines = ["klpcheck alone on bundled models (medians):"]
    peer = str(BENCH / "peer_klpcheck.py")
    for model, params in OTHER_MODELS:
        for label, options in [
            ("exact", []),
            ("--fingerprint", ["--storage", "fingerprint"]),
            ("--workers 2", ["--workers", "2"]),
        ]:
            argv = [
                sys.executable,
                peer,
                str(ROOT / "models" / model),
                *params,
                *options,
            ]
            times, states = [], 0
            for _ in range(runs):
                run = measure(argv)
                states = _json_counts(run.stdout)[0]
                times.append(run.seconds)
            t = statistics.median(times)
            name = f"{model} {' '.join(params)}".strip()
            lines.append(
                f"  {name:28s} {label:14s} {states:>10,} states  {t:7.3f} s  "
                f"{states / t:>10,.0f} states/s"
            )
    return "\n".join(lines)


def livepatch_rows(tasks: int) -> tuple[list[Row], Callable[[], None]]:
    """klpcheck on ``models/livepatch.py`` without reduction: exact storage, fingerprints.

    The rows, and the function that measures each once (called once per round of the
    lock model's tools, so that its ratio to the tuple BFS is taken under the same load).
    """
    peer = str(BENCH / "peer_klpcheck.py")
    model = str(ROOT / "models" / "livepatch.py")
    variants = [
        ("", []),
        (" --fingerprint", ["--storage", "fingerprint"]),
        (" --incremental", ["--incremental"]),
    ]
    rows = []
    for label, options in variants:
        row = Row(f"livepatch.py tasks={tasks} --no-por{label}")
        one = [sys.executable, peer, model, "tasks=1", "--no-por", *options]
        row.baseline = measure(one).peak
        rows.append(row)

    def one_round() -> None:
        for row, (_, options) in zip(rows, variants, strict=True):
            run = measure(
                [sys.executable, peer, model, f"tasks={tasks}", "--no-por", *options]
            )
            row.states, row.transitions = _json_counts(run.stdout)
            row.seconds.append(run.seconds)
            row.cpus.append(run.cpu)
            row.peaks.append(run.peak)

    return rows, one_round


# The livepatch model's states/s over the tuple BFS's at 7 processes when the targets
# were set (issue 16): 3 tasks, --no-por, about 21,500 states/s in 9.05 s of CPU, 17.5x
# the tuple BFS's time, so the tuple BFS then ran 187,500 / (9.05 / 17.5) states/s.
LIVEPATCH_BEFORE = 21_500 / (187_500 / (9.05 / 17.5))


def exact_states(livepatch: list[Row]) -> bool:
    """Whether the livepatch rows counted states (they ran)."""
    return bool(livepatch and livepatch[0].states and livepatch[0].cpus)


def targets(rows: list[Row], livepatch: list[Row], procs: int) -> str:
    """The ratios the speed targets are stated in, from CPU-time medians of this run."""
    by = {r.tool: r for r in rows if r.cpus}
    lines = ["targets (CPU-time medians of this run):"]

    def add(what: str, value: float, target: str) -> None:
        lines.append(f"  {what:<58} {value:6.2f}   target {target}")

    floor = by.get("tuple BFS (floor)")
    if floor is not None:
        for name, label, target in [
            (REFERENCE, "lock model, Record style ÷ tuple BFS", "≤ 1.5"),
            ("klpcheck tuple model", "lock model, tuple style ÷ tuple BFS", "≤ 1.3"),
        ]:
            if name in by:
                add(label, by[name].cpu / floor.cpu, target)
    this = interpreter(sys.executable)
    theirs = interpreter(str(_musil_python())) if _musil_missing() is None else "?"
    for suffix, python in [("", this), (f" {ON_MUSIL}", theirs)]:
        for peer in ("musil", "minicheck API"):
            peer_row = by.get(peer if peer == "musil" else f"{peer}{suffix}")
            if peer_row is None or (peer == "musil" and not suffix):
                continue  # musil runs on its own interpreter only
            for style in ("klpcheck tuple model", REFERENCE):
                mine = by.get(f"{style}{suffix}")
                if mine is not None:
                    what = "tuple" if style != REFERENCE else "Record"
                    add(
                        f"states/s, klpcheck ({what}) ÷ {peer.split()[0]}, {python}",
                        peer_row.cpu / mine.cpu,
                        "≥ 2",
                    )
    if floor is not None and floor.states and exact_states(livepatch) and procs == 7:
        for row in (livepatch[0], livepatch[2]):
            assert row.states is not None
            ratio = (row.states / row.cpu) / (floor.states / floor.cpu)
            add(
                f"{row.tool.replace('livepatch.py ', '')}: states/s ÷ tuple BFS's ÷ then",
                ratio / LIVEPATCH_BEFORE,
                f"≥ 1.5 (now {ratio:.4f}, then {LIVEPATCH_BEFORE:.4f})",
            )
    if livepatch:
        exact, fp = livepatch[:2]
        add("livepatch.py --fingerprint ÷ exact", fp.cpu / exact.cpu, "≤ 1.2")
        per_state = fp.bytes_per_state
        if per_state is not None:
            add("livepatch.py --fingerprint, bytes per state", per_state, "≤ 100")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """The command line of ``python -m bench``."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--procs", type=int, nargs="+", default=[7], help="sizes (7)")
    parser.add_argument("--runs", type=int, default=3, help="runs per tool (3)")
    parser.add_argument(
        "--tools", help="comma-separated row names to run (default all)"
    )
    parser.add_argument(
        "--models", action="store_true", help="also time bundled models"
    )
    parser.add_argument(
        "--setup", action="store_true", help="create musil's virtualenv"
    )
    parser.add_argument(
        "--livepatch-tasks",
        type=int,
        default=3,
        help="tasks of models/livepatch.py for its rows (3; 0: none)",
    )
    args = parser.parse_args(argv)
    if args.setup:
        print(setup_musil())
    selected = tools()
    if args.tools:
        wanted = {w.strip() for w in args.tools.split(",")}
        selected = [t for t in selected if t.name in wanted]
    failed = False
    for procs in args.procs:
        livepatch: list[Row] = []
        if args.livepatch_tasks:
            livepatch, each_round = livepatch_rows(args.livepatch_tasks)
            rows = run_tools(selected, procs, args.runs, each_round)
        else:
            rows = run_tools(selected, procs, args.runs)
        print(table(rows, procs))
        for r in livepatch:
            print(
                f"{r.tool}: {r.states:,} states, median {r.median:.3f} s, "
                f"CPU {r.cpu:.3f} s, {_n(r.bytes_per_state)} B/state"
            )
        print()
        print(targets(rows, livepatch, procs))
        print()
        failed |= any(
            r.states not in (None, lock_states(procs)) and not r.reduced for r in rows
        )
    if args.models:
        print(other_models(args.runs))
    print(
        f"spin: spin -o3 -a; cc -O2 [-DNOREDUCE]; pan -m<states+1000> -w<bits>; "
        f"-w{spin_hash_bits(args.procs[0])} at {args.procs[0]} processes. "
        "SPIN counts transitions as stored + matched (the initial state included)."
    )
    if failed:
        print()
        sys.exit("some tool reported a different state count (marked (!))")
