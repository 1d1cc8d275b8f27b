"""What a search returns: the verdict, violations with their traces, and counts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

__all__ = [
    "Fairness",
    "Lasso",
    "Reduction",
    "Result",
    "StepStats",
    "SymmetryUse",
    "Trace",
    "TraceStep",
    "Verdict",
    "Violation",
    "ViolationError",
]


class Verdict(Enum):
    """The outcome of a search."""

    HOLDS = "holds"
    VIOLATED = "violated"
    INCOMPLETE = "incomplete"

    @property
    def exit_code(self) -> int:
        """The CLI's exit code: 0 holds, 1 violated, 3 incomplete."""
        return {"holds": 0, "violated": 1, "incomplete": 3}[self.value]


@dataclass(frozen=True, slots=True)
class TraceStep:
    """One fired step of a trace and the state it led to."""

    step: str
    params: dict[str, Any]
    state: Any
    doc: str = ""

    def label(self) -> str:
        """``name(p=v, …)``."""
        inner = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{self.step}({inner})" if inner else self.step


@dataclass(frozen=True, slots=True)
class Trace:
    """An initial state and the steps fired from it; its length counts steps, not states."""

    init: Any
    steps: tuple[TraceStep, ...] = ()

    def __len__(self) -> int:
        return len(self.steps)

    @property
    def states(self) -> list[Any]:
        """Every state of the trace, the initial one first."""
        return [self.init, *(s.state for s in self.steps)]

    @property
    def last(self) -> Any:
        """The final state."""
        return self.steps[-1].state if self.steps else self.init


@dataclass(frozen=True, slots=True)
class Fairness:
    """Why a lasso's cycle is fair to one fair step instance enabled on it.

    ``taken`` is the number of a step of the cycle that takes the instance; otherwise
    ``disabled`` is the index of a state of the cycle where it is disabled (for strong
    fairness it is then disabled in every state of the cycle).
    """

    instance: str
    kind: str
    taken: int | None = None
    disabled: int | None = None


@dataclass(frozen=True, slots=True)
class Lasso:
    """The shape of a liveness counterexample: a stem, then a cycle or a final state.

    ``trigger`` is the index of the state from which the target never holds again (0
    for ``eventually``; for ``leads_to``, a state satisfying p). ``cycle_start`` is the
    index of the state where the cycle starts: the trace's last state is that state
    again, and the steps after it repeat forever. ``None``: the last state has no
    enabled step, and the behaviour stays there forever. ``fairness`` lists each fair
    instance enabled somewhere on the cycle and why the cycle is fair to it;
    ``never_enabled`` counts the fair instances enabled nowhere on it.
    """

    trigger: int
    cycle_start: int | None
    fairness: tuple[Fairness, ...] = ()
    never_enabled: int = 0


@dataclass(frozen=True, slots=True)
class Violation:
    """A broken property and, except for an unreached target, the trace that breaks it.

    ``kind`` is ``"invariant"``, ``"deadlock"``, ``"reachable"`` (a reachable target that a
    complete search never met), or ``"eventually"`` or ``"leads_to"`` (a liveness
    property; ``lasso`` then says where the trace's cycle starts).
    """

    property: str
    kind: str
    doc: str
    trace: Trace | None
    lasso: Lasso | None = None


@dataclass(slots=True)
class StepStats:
    """How often a step fired and how many of its successors were new states."""

    fired: int = 0
    new_states: int = 0


@dataclass(frozen=True, slots=True)
class Reduction:
    """What partial-order reduction did in one search.

    ``used`` is False when the search was not reduced; ``reason`` then says why. Counts:
    states ``expanded``, of which ``reduced`` fired a proper subset of their enabled steps
    and ``proviso`` were expanded fully by the cycle proviso; ``enabled`` and ``fired``
    sum the enabled and the fired step instances over expanded states.
    """

    used: bool
    reason: str = ""
    expanded: int = 0
    reduced: int = 0
    proviso: int = 0
    enabled: int = 0
    fired: int = 0
    blame: str = ""  # when nothing was cut: the property or step that prevented it

    def summary(self) -> str:
        """One line for the CLI, e.g. ``partial-order reduction: … 60% of … not fired``."""
        if not self.used:
            return f"partial-order reduction off: {self.reason}"
        if not self.reduced:
            if self.proviso:
                why = f"the cycle proviso expanded {self.proviso:,} states fully"
            else:
                why = self.blame or "every stubborn set held every enabled step"
            return f"partial-order reduction cut nothing: {why}"
        skipped = self.enabled - self.fired
        share = f" ({skipped / self.enabled:.0%})" if self.enabled else ""
        return (
            f"partial-order reduction: {self.reduced:,} of {self.expanded:,} states "
            f"expanded with a stubborn subset, {skipped:,} of {self.enabled:,} enabled "
            f"steps not fired{share}; cycle proviso expanded {self.proviso:,} fully "
            "(--no-por for the full search)"
        )


@dataclass(frozen=True, slots=True)
class SymmetryUse:
    """What symmetry reduction did: ``renamings`` group elements, ``orbits`` stored."""

    renamings: int
    orbits: int

    def summary(self) -> str:
        """One line for the CLI, e.g. ``symmetry: 12 renamings; 21,542 orbits``."""
        return (
            f"symmetry: {self.renamings:,} renamings; {self.orbits:,} orbits "
            "(--no-symmetry for the full search)"
        )


def verdict_of(violations: object, incomplete: str | None) -> Verdict:
    """VIOLATED when anything was violated, else INCOMPLETE when the search was cut short."""
    if violations:
        return Verdict.VIOLATED
    return Verdict.INCOMPLETE if incomplete is not None else Verdict.HOLDS


@dataclass(frozen=True)
class Result:
    """The outcome of :func:`klpcheck.check`."""

    model: str
    verdict: Verdict
    violations: tuple[Violation, ...]
    distinct_states: int
    transitions: int
    max_depth: int
    elapsed: float
    order: str
    step_stats: dict[str, StepStats] = field(default_factory=dict)
    witnesses: dict[str, Trace] = field(default_factory=dict)
    incomplete_reason: str | None = None
    notes: tuple[str, ...] = ()
    reduction: Reduction = field(default_factory=lambda: Reduction(False, "not asked"))
    symmetry: SymmetryUse | None = None

    @property
    def holds(self) -> bool:
        """True only when a complete search found no violation."""
        return self.verdict is Verdict.HOLDS

    @property
    def states_per_second(self) -> float:
        """Distinct states per second of wall time."""
        return self.distinct_states / self.elapsed if self.elapsed > 0 else 0.0

    def violation(self, name: str) -> Violation | None:
        """The violation of property ``name``, if any."""
        return next((v for v in self.violations if v.property == name), None)

    def raise_for_violation(self, *, allow_incomplete: bool = False) -> None:
        """Raise :class:`ViolationError` (an AssertionError) with the rendered trace.

        An incomplete search raises too unless ``allow_incomplete``: it proved nothing.
        """
        if self.verdict is Verdict.HOLDS:
            return
        if self.verdict is Verdict.INCOMPLETE and allow_incomplete:
            return
        raise ViolationError(
            _TEXT[0](self) if _TEXT else f"{self.model}: {self.verdict.value}"
        )


class ViolationError(AssertionError):
    """Raised by :meth:`Result.raise_for_violation`; its message is the rendered result."""


# How a result reads as text for :meth:`Result.raise_for_violation`: registered by the
# report layer (``klpcheck`` registers its renderer when imported), which this module
# does not import.
_TEXT: list[Callable[[Result], str]] = []


def set_text_renderer(render: Callable[[Result], str]) -> None:
    """Make ``render`` the text of :class:`ViolationError` from now on."""
    _TEXT[:] = [render]
