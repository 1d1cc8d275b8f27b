"""``klpcheck replay`` at a terminal: stepping driven through a pseudo-terminal."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

from klpcheck import check, load_model
from klpcheck.trace.files import save_counterexample
from tests.conftest import MODELS, ROOT

pexpect = pytest.importorskip("pexpect")

pytestmark = [
    pytest.mark.pty,
    pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pseudo-terminal"),
]


def test_stepping_through_a_counterexample(tmp_path: Path) -> None:
    model = load_model(MODELS / "seed_rfc2015.py", {"clear_first": True})
    result = check(model)
    path = save_counterexample(model, result.violations[0], tmp_path, order="bfs")
    exe = shutil.which("klpcheck", path=str(Path(sys.executable).parent))
    assert exe is not None
    env = {**os.environ, "TERM": "dumb", "NO_COLOR": "1", "PYTHONPATH": str(ROOT)}
    child = pexpect.spawn(
        exe,
        ["replay", str(path)],
        env=env,
        encoding="utf-8",
        dimensions=(50, 100),
        timeout=20,
    )
    try:
        child.expect(r"step 0 of 13  initial state")
        child.expect(r"\[0/13\] > ")
        child.sendline("")  # Enter: next
        child.expect(r"step 1 of 13  klp_init_transition  \[admin\]")
        child.expect("kernel/livepatch/transition.c: klp_init_transition()")
        child.expect(r"\[1/13\] > ")
        child.sendline("j 6")
        child.expect(r"list_first_or_null_rcu\(t=0\)  \[task 0\]")
        child.expect(r"func\[0\]: None → FOO_2")
        child.expect(r"\[6/13\] > ")
        child.sendline("p")
        child.expect(r"step 5 of 13  rcu_read_lock\(t=0\)")
        child.expect(r"\[5/13\] > ")
        child.sendline("f")
        child.expect(
            r"pc = \(RCU_LOCKED, OUTSIDE\)  ◂ pc\[0\]: HANDLER_ENTRY → RCU_LOCKED"
        )
        child.expect(r"\[5/13\] > ")
        child.sendline("13")
        child.expect("invariant no_wrong_universe_call violated here")
        child.expect(r"\[13/13\] > ")
        child.sendline("n")
        child.expect("end of the trace")
        child.sendline("what")
        child.expect("unknown command 'what'")
        child.sendline("q")
        child.expect("replayed 13 steps")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 1
