"""The benchmark's smoke test: every installed tool finds the lock model's 1,125 states.

Nothing is timed; a tool that is not installed is skipped (SPIN and gcc from apt, musil
from `python -m bench --setup`, minicheck from the `bench` extra).
"""

from __future__ import annotations

import pytest

from bench.run import Tool, lock_states, measure, tools

PROCS = 4


def test_the_state_count_formula() -> None:
    assert lock_states(PROCS) == 1125
    assert lock_states(7) == 187_500


@pytest.mark.parametrize("tool", tools(), ids=lambda t: t.name)
def test_every_tool_reports_the_same_state_count(tool: Tool) -> None:
    reason = tool.missing()
    if reason is not None:
        pytest.skip(reason)
    tool.prepare(PROCS)
    run = measure(tool.command(PROCS), tool.cwd, timeout=120)
    states, transitions = tool.parse(run.stdout)
    if tool.reduced:
        assert 0 < states < lock_states(PROCS)
    else:
        assert states == lock_states(PROCS)
        assert transitions in (None, 4200, 4201)  # SPIN counts the initial state too
