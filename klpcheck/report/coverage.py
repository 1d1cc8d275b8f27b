"""Step coverage of a search: how often each step fired and how many new states it found."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from klpcheck.base.result import Result, Verdict

__all__ = ["CoverageRow", "coverage", "exhaustive", "warnings"]


@dataclass(frozen=True, slots=True)
class CoverageRow:
    """One step's counts; ``fired == 0`` means its guard never held in a visited state."""

    step: str
    fired: int
    new_states: int

    @property
    def never_enabled(self) -> bool:
        """The step never fired: usually a modelling mistake (a guard that cannot hold)."""
        return self.fired == 0


def coverage(result: Result) -> list[CoverageRow]:
    """Every step of the model in registration order with its counts."""
    return [
        CoverageRow(name, st.fired, st.new_states)
        for name, st in result.step_stats.items()
    ]


def exhaustive(result: Result, *, keep_going: bool) -> bool:
    """Whether every reachable state was visited (no bound, no stop at a violation)."""
    if result.incomplete_reason is not None:
        return False
    return result.verdict is Verdict.HOLDS or keep_going


def warnings(
    result: Result, *, complete: bool, expected: Collection[str] = ()
) -> list[str]:
    """One sentence per step that was never enabled, but for the ``expected`` ones
    (``Model.never_enabled_is_expected``).

    A search that stopped early (``complete=False``: at a violation or a bound) may
    simply not have reached the states where the step is enabled; the sentence says so.
    """
    partial = not complete
    out = []
    for row in coverage(result):
        if row.never_enabled and row.step not in expected:
            why = (
                " in the part of the state space searched"
                if partial
                else "; its guard may never hold (a modelling mistake?)"
            )
            out.append(f"step {row.step} was never enabled{why}")
    return out
