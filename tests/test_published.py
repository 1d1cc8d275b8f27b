"""Cross-checks against figures published by other checkers."""

from __future__ import annotations

import subprocess
import sys

import pytest

from klpcheck import Verdict, check, load_model
from tests.conftest import MODELS, ROOT


def test_two_phase_commit_with_three_rms_has_288_states() -> None:
    """TLC's examples manifest (TwoPhase, 3 RMs) and stateright's 2pc example: 288."""
    r = check(load_model(MODELS / "two_phase_commit.py", {"rms": 3}), por=False)
    assert (r.verdict, r.distinct_states) == (Verdict.HOLDS, 288)
    # 3 prepares, 3 receipts by the TM, the commit, 3 receipts by the RMs
    assert len(r.witnesses["all_committed"]) == 10


def test_two_phase_commit_with_five_rms() -> None:
    """stateright asserts 8,832 states for 5 RMs without symmetry reduction."""
    r = check(load_model(MODELS / "two_phase_commit.py", {"rms": 5}), por=False)
    assert (r.verdict, r.distinct_states) == (Verdict.HOLDS, 8832)


def test_water_jug_shortest_solution_is_six_steps() -> None:
    r = check(load_model(MODELS / "water_jug.py"), por=False)
    (v,) = r.violations
    assert v.trace is not None
    assert len(v.trace) == 6
    assert v.trace.last.big == 4


SCRIPT = """
import klpcheck
m = klpcheck.load_model("models/{file}", {{}})
r = klpcheck.check(m, keep_going=True, por=False)
print(r.distinct_states, r.transitions, r.max_depth)
for v in r.violations:
    print(v.property, [s.label() for s in v.trace.steps] if v.trace else None)
print(sorted((k, s.fired, s.new_states) for k, s in r.step_stats.items()))
"""


@pytest.mark.parametrize("file", ["two_phase_commit.py", "water_jug.py"])
def test_results_do_not_depend_on_the_hash_seed(file: str) -> None:
    outputs = set()
    for seed in ("0", "1", "12345"):
        proc = subprocess.run(
            [sys.executable, "-c", SCRIPT.format(file=file)],
            cwd=ROOT,
            env={"PYTHONHASHSEED": seed, "PATH": ""},
            capture_output=True,
            text=True,
            check=True,
        )
        outputs.add(proc.stdout)
    assert len(outputs) == 1
