"""Counterexamples as Mermaid sequence diagrams: one lane per task, CPU and admin."""

from __future__ import annotations

from dataclasses import dataclass

from klpcheck.base.result import Trace, TraceStep, Violation
from klpcheck.trace.mermaid import sequence_diagram
from tests.test_render import SEED_V


def test_mermaid_has_one_lane_per_task_and_admin() -> None:
    text = sequence_diagram(SEED_V, title="seed: clear_first")
    lines = text.splitlines()
    assert lines[:5] == [
        "sequenceDiagram",
        "    title seed: clear_first",
        "    participant admin",
        "    participant task0 as task 0",
        "    participant task1 as task 1",
    ]
    assert "    admin->>admin: 1. klp_init_transition" in lines
    assert "    task0->>task0: 4. call_foo" in lines
    assert "    Note right of task0: pc: OUTSIDE → HANDLER_ENTRY" in lines
    assert lines[-1] == (
        "    Note over admin,task1: invariant no_wrong_universe_call violated after 13 steps"
    )


@dataclass(frozen=True)
class Two:
    pc: tuple[int, int]


def test_mermaid_escapes_and_draws_cross_lane_changes() -> None:
    trace = Trace(
        Two((0, 0)),
        (
            TraceStep("go", {"t": 0}, Two((1, 0))),
            TraceStep("reset;all#", {}, Two((0, 5))),
            TraceStep("schedule", {"cpu": 0, "t": 1}, Two((0, 6))),
        ),
    )
    text = sequence_diagram(Violation("x", "invariant", "", trace))
    assert "admin->>admin: 2. reset#59;all#35;" in text
    assert "admin-->>task0: pc: 1 → 0" in text
    assert "cpu0->>task1: 3. schedule(cpu=0)" in text
