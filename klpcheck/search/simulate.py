"""Random simulation: walks through the state graph for models too large to exhaust.

Each walk starts in an initial state chosen at random and fires, at each state, one of
the enabled step instances chosen at random, for at most ``depth`` steps. Every state on
a walk is checked against every invariant, and a state without an enabled step that is
not terminal is a deadlock. A violation is reported with the walk that led to it, like
any other counterexample (saved, replayed, and shortened with ``shortest=True`` when the
model is small enough for a breadth-first search up to the walk's length).

A simulation that finds nothing proves nothing: its verdict is INCOMPLETE, never HOLDS,
with the number of walks, steps and distinct states seen. Reachable targets are
recorded when met (their witnesses) but never reported as unreached.

The same seed gives the same walks: the generator is :class:`random.Random` seeded
once, and the enabled instances are listed in instance order. TLC's ``-simulate`` mode
(Lamport, "Specifying Systems", 2002, §14.3.2) works the same way.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Hashable
from typing import Any

from klpcheck.base.errors import ModelError, UsageError
from klpcheck.base.options import Progress
from klpcheck.base.result import Result, Trace, TraceStep, Violation, verdict_of
from klpcheck.model.definition import Model, Property, successors_of
from klpcheck.search.common import diagnose, step_stats, wrong_type

__all__ = ["new_seed", "simulate"]

DEFAULT_DEPTH = 100
_CLOCK_EVERY = 1024  # steps between clock reads (time limit, progress)


def new_seed() -> int:
    """A fresh seed, printed by the caller so that the run can be repeated."""
    return random.SystemRandom().randrange(1 << 32)


def simulate(
    model: Model[Any],
    walks: int,
    *,
    depth: int = DEFAULT_DEPTH,
    seed: int = 0,
    deadlock: bool = True,
    keep_going: bool = False,
    time_limit: float | None = None,
    progress: Callable[[Any], None] | None = None,
    progress_interval: float = 1.0,
) -> Result:
    """Run ``walks`` random walks of at most ``depth`` steps each; see the module text.

    Returns
    -------
    Result
        VIOLATED with a trace per broken property (the first one only unless
        ``keep_going``), else INCOMPLETE. ``order`` is ``"simulate"``.

    Raises
    ------
    UsageError
        ``walks`` or ``depth`` is not a whole number ≥ 1.
    ModelError
        A guard, effect or property raised, or a step returned something that is not a
        state.

    Examples
    --------
    >>> m = Model("count", init=0)
    >>> @m.step(when=lambda s: s < 5)
    ... def up(s):
    ...     return s + 1
    >>> @m.invariant
    ... def small(s):
    ...     return s < 3
    >>> r = simulate(m, 10, depth=10, seed=1)
    >>> r.verdict.value, [len(v.trace) for v in r.violations]
    ('violated', [3])
    """
    for name, value in (("walks", walks), ("depth", depth)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise UsageError(f"{name} must be a whole number ≥ 1, not {value!r}")
    walker = _Walker(model, walks, depth, seed, deadlock, keep_going)
    walker.time_limit = time_limit
    walker.progress, walker.progress_interval = progress, progress_interval
    walker.next_report = walker.start + progress_interval
    return walker.run()


class _Walker:
    def __init__(
        self,
        model: Model[Any],
        walks: int,
        depth: int,
        seed: int,
        deadlock: bool,
        keep_going: bool,
    ) -> None:
        self.model = model
        self.walks, self.depth, self.seed = walks, depth, seed
        self.deadlock, self.keep_going = deadlock, keep_going
        self.time_limit: float | None = None
        self.progress: Callable[[Any], None] | None = None
        self.progress_interval = 1.0
        self.instances = model.instances()
        self.expand = successors_of(self.instances)
        self.invariants = list(model.invariants)
        self.pending = list(model.reachables)
        self.witnesses: dict[str, Trace] = {}
        self.violations: dict[str, Violation] = {}
        self.seen: set[Hashable] = set()
        self.fired = [0] * len(self.instances)
        self.new = [0] * len(self.instances)
        self.steps = 0
        self.done = 0  # walks started
        self.longest = 0
        self.stopped: str | None = None
        self.start = time.perf_counter()
        self.next_report = self.start + self.progress_interval
        self.walk_init: Any = None
        self.current: Any = None  # the state being expanded (diagnosis)

    def run(self) -> Result:
        rng = random.Random(self.seed)
        init = list(self.model.init)
        try:
            for _ in range(self.walks):
                self.done += 1
                self.walk(rng, rng.choice(init))
        except KeyboardInterrupt:
            self.stopped = "interrupted"
        except _Stop:
            pass
        except ModelError:
            raise
        except Exception as exc:
            raise diagnose(self.model, self.current, exc) from exc
        return self.result()

    def walk(self, rng: random.Random, s: Any) -> None:
        """One walk from ``s`` (raises _Stop when the simulation must end)."""
        self.walk_init = self.current = s
        path: list[TraceStep] = []
        self.visit(s, path)
        types = self.model.state_types
        terminal = self.model.terminal_property
        for _ in range(self.depth):
            succs = self.expand(s)
            if not succs:
                if self.deadlock and (terminal is None or not terminal.predicate(s)):
                    self.violate(None, path)
                return
            k, ns = succs[rng.randrange(len(succs))]
            if type(ns) not in types:
                raise wrong_type(self.instances[k], self.model, ns)
            inst = self.instances[k]
            step = inst.step
            path.append(TraceStep(step.name, step.params(inst.args), ns, step.doc))
            self.fired[k] += 1
            if ns not in self.seen:
                self.new[k] += 1
            self.steps += 1
            self.longest = max(self.longest, len(path))
            self.current = s = ns
            self.visit(ns, path)
            if not self.steps % _CLOCK_EVERY:
                self.tick(len(path))

    def visit(self, s: Any, path: list[TraceStep]) -> None:
        """Check a state of the walk, reached along ``path``."""
        self.seen.add(s)
        for prop in self.invariants:
            if not prop.predicate(s):
                self.violate(prop, path)
        for prop in list(self.pending):
            if prop.predicate(s):
                self.witnesses[prop.name] = self.trace(path)
                self.pending.remove(prop)

    def violate(self, prop: Property | None, path: list[TraceStep]) -> None:
        """Record a violation at the end of ``path``; stop unless keep_going."""
        trace = self.trace(path)
        if prop is None:
            doc = "A state that is not terminal has no enabled step."
            self.violations["deadlock"] = Violation("deadlock", "deadlock", doc, trace)
            self.deadlock = False
        else:
            self.violations[prop.name] = Violation(
                prop.name, prop.kind, prop.doc, trace
            )
            self.invariants = [p for p in self.invariants if p is not prop]
        if not self.keep_going:
            raise _Stop

    def trace(self, path: list[TraceStep]) -> Trace:
        return Trace(self.walk_init, tuple(path))

    def tick(self, depth: int) -> None:
        now = time.perf_counter()
        if self.time_limit is not None and now - self.start >= self.time_limit:
            self.stopped = f"time limit of {self.time_limit:g} s reached"
            raise _Stop
        if self.progress is not None and now >= self.next_report:
            self.next_report = now + self.progress_interval
            self.progress(
                Progress(
                    len(self.seen),
                    self.steps,
                    self.walks - self.done,
                    depth,
                    now - self.start,
                )
            )

    def result(self) -> Result:
        violations = tuple(self.violations.values())
        walks = f"{self.done:,} walk{'s' if self.done != 1 else ''}"
        reason = (
            f"random simulation: {walks} of at most {self.depth:,} steps, "
            f"{self.steps:,} steps, {len(self.seen):,} distinct states; "
            "random walks prove nothing"
        )
        if self.stopped is not None:
            reason = f"{self.stopped}; {reason}"
        return Result(
            model=self.model.name,
            verdict=verdict_of(violations, reason),
            violations=violations,
            distinct_states=len(self.seen),
            transitions=self.steps,
            max_depth=self.longest,
            elapsed=time.perf_counter() - self.start,
            order="simulate",
            step_stats=step_stats(self.instances, self.fired, self.new),
            witnesses=dict(self.witnesses),
            incomplete_reason=reason,
            notes=(
                f"simulation seed {self.seed} (--seed {self.seed} repeats this run)",
                *self.unchecked(),
            ),
        )

    def unchecked(self) -> tuple[str, ...]:
        """A note naming the liveness properties, which random walks cannot check."""
        names = [p.name for p in self.model.livenesses]
        if not names:
            return ()
        return (
            f"liveness properties not checked by simulation: {', '.join(names)} "
            "(they need the full state graph; run without --simulate)",
        )


class _Stop(Exception):
    """Ends the simulation early (a violation without keep_going, or the time limit)."""
