"""The command line: exit codes, key lines, and one-line errors for bad input."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from klpcheck.cli import main
from tests.conftest import MODELS

FLAG = '''
from dataclasses import dataclass, replace
from klpcheck import Model, set_at

@dataclass(frozen=True)
class State:
    flag: bool = False
    pc: tuple[str, ...] = ("idle", "idle")

def build(tasks: int = 2, guarded: bool = False, name: str = "flag") -> Model:
    m = Model(name, init=State(pc=("idle",) * tasks))

    @m.step(when=lambda s, t: s.pc[t] == "idle" and not s.flag, over=range(tasks))
    def observe(s, t):
        """Task t sees the flag clear."""
        return replace(s, pc=set_at(s.pc, t, "saw"))

    @m.step(when=lambda s, t: s.pc[t] == "saw" and not (guarded and s.flag), over=range(tasks))
    def claim(s, t):
        """Task t sets the flag and enters."""
        return replace(s, pc=set_at(s.pc, t, "crit"), flag=True)

    @m.invariant
    def mutual_exclusion(s):
        """At most one task is in its critical section."""
        return s.pc.count("crit") <= 1

    return m
'''


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        main, list(args), env={"NO_COLOR": "1", "COLUMNS": "100"}
    )
    return result.exit_code, result.output


@pytest.fixture(autouse=True)
def _in_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Counterexamples are saved under ./counterexamples: keep them out of the repo."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def flag_file(tmp_path: Path) -> Path:
    path = tmp_path / "flag.py"
    path.write_text(FLAG)
    return path


def write(tmp_path: Path, text: str, name: str = "m.py") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_holds_exits_0_with_the_summary_line() -> None:
    code, out = run("run", str(MODELS / "two_phase_commit.py"), "--no-por")
    assert code == 0
    assert out.startswith("holds — 288 distinct states, 1,145 transitions, depth 10, ")
    (summary,) = out.splitlines()
    assert summary.endswith("states/s)")


def test_the_summary_says_what_reduction_did() -> None:
    code, out = run("run", str(MODELS / "two_phase_commit.py"))
    assert code == 0
    summary, reduction = out.splitlines()
    assert summary.startswith("holds — 288 distinct states")
    assert reduction == (
        "partial-order reduction cut nothing: 12 of 17 steps write what invariant "
        "consistent reads"
    )
    code, out = run("run", str(MODELS / "two_phase_commit.py"), "--quiet")
    assert len(out.splitlines()) == 1


def test_the_bundled_livepatch_model_warns_about_nothing() -> None:
    """Steps its scenario never uses, and the handler's path after the IDLE WARN, are
    declared as expected never to fire; the reduction note is one line."""
    code, out = run("run", str(MODELS / "livepatch.py"), "-D", "cpus=1", "--no-save")
    assert code == 0
    assert "warning" not in out
    assert " ".join(out.splitlines()[1:]) == (
        "partial-order reduction cut nothing: 44 of 70 steps write what invariant "
        "no_unsafe_switch reads"
    )


def test_a_violation_exits_1_with_the_trace(flag_file: Path) -> None:
    code, out = run("run", str(flag_file), "--no-deadlock")
    assert code == 1
    assert "invariant mutual_exclusion violated after 4 steps" in out
    assert "At most one task is in its critical section." in out
    assert "claim(t=1)" in out
    assert "pc[1]: 'saw' → 'crit'" in out
    assert "violated — " in out


def test_parameters_reach_build(flag_file: Path) -> None:
    code, out = run("run", str(flag_file), "-D", "tasks=3", "--continue", "-q")
    assert code == 1
    assert out.startswith("violated — 27 distinct states")
    code, out = run("run", str(flag_file), "-D", "guarded=TRUE", "--no-deadlock", "-q")
    assert code == 0, out


def test_a_bound_exits_3_and_says_incomplete() -> None:
    code, out = run(
        "run", str(MODELS / "two_phase_commit.py"), "--no-por", "--max-states", "100"
    )
    assert code == 3
    assert out.startswith("incomplete — 100 distinct states")
    assert "states/s) — state bound of 100 reached" in out
    assert "incomplete: " not in out


def test_a_deadlock_is_reported_with_its_trace(flag_file: Path) -> None:
    code, out = run("run", str(flag_file))
    assert code == 1
    assert "deadlock reached after 2 steps" in out
    assert "observe(t=0)" in out


def test_dfs_and_attribute_selection(tmp_path: Path) -> None:
    path = write(
        tmp_path, "from tests.toy_models import counters\nsmall = counters(2, 3)\n"
    )
    code, out = run("run", f"{path}:small", "--dfs")
    assert (code, out.split(" — ")[0]) == (0, "holds")
    assert "9 distinct states" in out


def test_version_and_help() -> None:
    code, out = run("--version")
    from klpcheck.base.native import speedups_status

    assert (code, out.strip()) == (0, f"klpcheck, version 0.1.0 ({speedups_status()})")
    code, out = run("run", "--help")
    assert code == 0
    assert "3 incomplete" in " ".join(out.split())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["run", "nowhere.py"],
            "error: model file nowhere.py does not exist; give the path of a .py model file",
        ),
        (
            ["run", "FLAG", "-D", "tasks"],
            "error: -D takes name=value, not 'tasks' (e.g. -D tasks=3)",
        ),
        (
            ["run", "FLAG", "-D", "tasks=three"],
            "error: parameter tasks takes an int, not 'three' (e.g. -D tasks=2)",
        ),
        (
            ["run", "FLAG", "-D", "guarded=maybe"],
            "error: parameter guarded takes true or false, not 'maybe' (e.g. -D guarded=false)",
        ),
        (
            ["run", "FLAG", "-D", "task=3"],
            "error: unknown parameter task for flag.py; accepted (with defaults): tasks=2, guarded=false, name=flag",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    flag_file: Path, args: list[str], message: str
) -> None:
    code, out = run(*[str(flag_file) if a == "FLAG" else a for a in args])
    assert code == 2
    assert out.strip().splitlines() == [message]


def test_a_negative_bound_is_a_usage_error(flag_file: Path) -> None:
    code, out = run("run", str(flag_file), "--max-depth", "-1")
    assert code == 2
    assert "Invalid value for '--max-depth'" in out


def test_model_file_errors_name_file_and_line(tmp_path: Path) -> None:
    cases = {
        "syntax.py": (
            "x = (\n",
            ":1: syntax error: '(' was never closed; fix the model file",
        ),
        "boom.py": (
            "import os\nraise RuntimeError('no')\n",
            ":2: importing the model raised RuntimeError: no",
        ),
        "empty.py": (
            "x = 1\n",
            " defines no `model`; a model file exposes `model = Model(...)` or `def build(**params) -> Model`",
        ),
        "notmodel.py": (
            "model = 3\n",
            ":model is a int, not a Model or a build() function",
        ),
        "badbuild.py": (
            "def build(n: int = 1):\n    return 1 // 0\n",
            ":2: build() raised ZeroDivisionError: integer division or modulo by zero",
        ),
    }
    for name, (text, tail) in cases.items():
        path = write(tmp_path, text, name)
        code, out = run("run", path)
        assert code == 2, name
        lines = out.strip().splitlines()
        assert len(lines) == 1, out
        assert lines[0].startswith(f"error: {Path(path).resolve()}"), out
        assert lines[0].endswith(tail), out


def test_a_non_python_file_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "hello", "model.txt")
    code, out = run("run", path)
    assert (code, out.strip()) == (
        2,
        f"error: {path} is not a Python file; a model file ends in .py",
    )


def test_a_model_error_during_search_is_one_line(tmp_path: Path) -> None:
    text = FLAG.replace('return replace(s, pc=set_at(s.pc, t, "saw"))', "return None")
    code, out = run("run", write(tmp_path, text))
    assert code == 2
    assert out.strip().splitlines() == [
        "error: step observe(t=0) returned NoneType None; steps must return a new State (did the effect forget to return?)"
    ]


def test_parameters_to_a_plain_model_are_refused(tmp_path: Path) -> None:
    path = write(
        tmp_path, "from tests.toy_models import flag_race\nmodel = flag_race()\n"
    )
    code, out = run("run", path, "-D", "x=1")
    assert code == 2
    assert out.strip().endswith(
        "is a Model, not a build() function, so it takes no parameters; drop -D x"
    )
