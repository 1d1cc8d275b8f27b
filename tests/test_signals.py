"""Ctrl-C and SIGTERM end `run` and `check` with reports written, and a closed pipe
does not change an exit code."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.conftest import ROOT

# Ten million states: no test lets it finish. The invariant breaks after one step.
SLOW = """
from pathlib import Path
from klpcheck import Model

Path("started").touch()

def build(broken: bool = True) -> Model:
    model = Model("slow", init=(0,) * 7)

    @model.step(over=range(7))
    def tick(s, i):
        \"\"\"Counter i counts one up, modulo 10.\"\"\"
        return s[:i] + ((s[i] + 1) % 10,) + s[i + 1 :]

    @model.invariant
    def first_stays_zero(s):
        \"\"\"The first counter never moves.\"\"\"
        return s[0] == 0 or not broken

    return model
"""

SMALL = """
from klpcheck import Model

model = Model("small", init=0)

@model.step(when=lambda s: s < 3)
def up(s):
    \"\"\"Count up to 3.\"\"\"
    return s + 1

@model.terminal
def done(s):
    return s == 3
"""

MANIFEST = """
[[entry]]
model = "small.py"
variant = "first"
expect = "holds"
states = 4

[[entry]]
model = "slow.py"
variant = "long"
expect = "violated"
violates = ["first_stays_zero"]
states = 10000000
shortest = {first_stays_zero = 1}

[[entry]]
model = "small.py"
variant = "last"
expect = "holds"
states = 4
"""


def klpcheck(*args: str, cwd: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "klpcheck", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    """Exit code, standard output and error (the rest, after any wait_for)."""
    assert proc.stdout is not None
    assert proc.stderr is not None
    with proc:
        out = "" if proc.stdout.closed else proc.stdout.read()
        err = proc.stderr.read()
        return proc.wait(timeout=60), out, err


def wait_for(stream: object, prefix: str) -> str:
    """Read lines until one starts with ``prefix``; return it."""
    for line in stream:  # type: ignore[attr-defined]
        if line.startswith(prefix):
            return str(line)
    raise AssertionError(f"no line starting with {prefix!r}")


@pytest.mark.parametrize(
    ("sig", "broken"),
    [(signal.SIGINT, True), (signal.SIGTERM, True), (signal.SIGTERM, False)],
    ids=["INT-violated", "TERM-violated", "TERM-holding"],
)
def test_a_signal_ends_run_as_incomplete_with_every_report(
    tmp_path: Path, sig: signal.Signals, broken: bool
) -> None:
    (tmp_path / "slow.py").write_text(SLOW)
    proc = klpcheck(
        "run",
        "slow.py",
        f"-Dbroken={broken}",
        "--continue",
        "--json",
        "r.json",
        "--junit",
        "r.xml",
        "--progress-interval",
        "0",
        cwd=tmp_path,
    )
    wait_for(proc.stderr, "progress: ")
    proc.send_signal(sig)
    code, out, _ = finish(proc)
    data = json.loads((tmp_path / "r.json").read_text())
    ET.parse(tmp_path / "r.xml")
    if not broken:
        assert code == 3, out
        assert out.startswith("incomplete — ")
        assert out.rstrip().endswith("states/s) — interrupted")
        assert (data["verdict"], data["complete"]) == ("incomplete", False)
        assert not (tmp_path / "counterexamples").exists()
        return
    # A violation found before the interrupt is a verdict: exit 1.
    assert code == 1, out
    assert "states/s) — search incomplete: interrupted" in out
    assert (data["verdict"], data["complete"]) == ("violated", False)
    (saved,) = (tmp_path / "counterexamples").iterdir()
    assert saved.name.startswith("slow-first_stays_zero-")
    assert json.loads(saved.read_text())["property"]["name"] == "first_stays_zero"
    assert not [p for p in tmp_path.rglob(".*.tmp")]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["INT", "TERM"])
def test_a_signal_ends_the_whole_check(tmp_path: Path, sig: signal.Signals) -> None:
    for name, text in (("slow.py", SLOW), ("small.py", SMALL), ("m.toml", MANIFEST)):
        (tmp_path / name).write_text(text)
    proc = klpcheck(
        "check", "m.toml", "--json", "r.json", "--junit", "r.xml", cwd=tmp_path
    )
    while not (tmp_path / "started").exists():  # the second entry is loading
        time.sleep(0.01)
    proc.send_signal(sig)
    code, out, err = finish(proc)
    assert code == 3, out + err
    lines = out.splitlines()
    assert lines[0].split()[:2] == ["match", "small.py[first]"], out
    assert lines[1].split()[:2] == ["interrupted", "slow.py[long]"]
    assert lines[2].split()[:3] == ["not", "run", "small.py[last]"]
    assert lines[3] == "3 entries: 1 match, 1 interrupted, 1 not run"
    data = json.loads((tmp_path / "r.json").read_text())
    assert [e["status"] for e in data["entries"]] == ["match", "interrupted", "not run"]
    cases = ET.parse(tmp_path / "r.xml").getroot().iter("testcase")
    kinds = [[child.tag for child in case] for case in cases]
    assert kinds == [[], ["error"], ["skipped"]]


def test_a_time_limit_is_a_junit_error(tmp_path: Path) -> None:
    for name, text in (("slow.py", SLOW), ("small.py", SMALL), ("m.toml", MANIFEST)):
        (tmp_path / name).write_text(text)
    proc = klpcheck(
        "check",
        "m.toml",
        "-k",
        "long",
        "--time-limit",
        "0.2",
        "--junit",
        "r.xml",
        cwd=tmp_path,
    )
    code, out, _ = finish(proc)
    assert code == 3, out
    (case,) = ET.parse(tmp_path / "r.xml").getroot().iter("testcase")
    (error,) = case
    assert error.tag == "error"
    assert "time limit of 0.2 s reached" in error.attrib["message"]


def test_a_closed_pipe_keeps_the_exit_code(tmp_path: Path) -> None:
    (tmp_path / "small.py").write_text(SMALL)
    (tmp_path / "m.toml").write_text("[[entry]]" + MANIFEST.split("[[entry]]")[1])
    for args in (["check", "m.toml"], ["run", "small.py"]):
        proc = klpcheck(*args, cwd=tmp_path)
        assert proc.stdout is not None
        proc.stdout.close()  # `| head -0`: the reader is gone before the first line
        code, _, err = finish(proc)
        assert (code, err) == (0, "")


def test_the_manifest_table_ends_quietly_in_a_closed_pipe() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "klpcheck.gate.manifest"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    proc.stdout.close()
    code, _, err = finish(proc)
    assert (code, err) == (0, "")
