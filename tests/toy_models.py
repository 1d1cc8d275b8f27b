"""Small models whose state counts and traces can be worked out by hand."""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum
from typing import NamedTuple

from klpcheck import Model, set_at


def counters(n: int, k: int) -> Model[tuple[int, ...]]:
    """n independent counters modulo k: k**n states, n * k**n transitions, depth n*(k-1)."""
    model = Model(f"counters_{n}_{k}", init=(0,) * n)

    @model.step(over=range(n))
    def tick(s: tuple[int, ...], i: int) -> tuple[int, ...]:
        """Counter i counts one up, modulo k."""
        return set_at(s, i, (s[i] + 1) % k)

    return model


class Pc(Enum):
    IDLE = "idle"
    SAW_CLEAR = "saw_clear"
    CRITICAL = "critical"


@dataclass(frozen=True, slots=True)
class Flag:
    flag: bool = False
    pc: tuple[Pc, ...] = (Pc.IDLE, Pc.IDLE)


def flag_race() -> Model[Flag]:
    """Check-then-set split in two steps: 9 states; mutual exclusion breaks in 4 steps."""
    model = Model("flag_race", init=Flag())

    @model.step(when=lambda s, t: s.pc[t] is Pc.IDLE and not s.flag, over=range(2))
    def observe(s: Flag, t: int) -> Flag:
        """Task t reads the flag and sees it clear."""
        return replace(s, pc=set_at(s.pc, t, Pc.SAW_CLEAR))

    @model.step(when=lambda s, t: s.pc[t] is Pc.SAW_CLEAR, over=range(2))
    def claim(s: Flag, t: int) -> Flag:
        """Task t sets the flag and enters its critical section."""
        return replace(s, pc=set_at(s.pc, t, Pc.CRITICAL), flag=True)

    @model.invariant
    def mutual_exclusion(s: Flag) -> bool:
        """At most one task is in its critical section."""
        return sum(pc is Pc.CRITICAL for pc in s.pc) <= 1

    @model.terminal
    def done(s: Flag) -> bool:
        """Both tasks have stopped trying."""
        return True

    return model


def chain(length: int, *, terminal: bool = False) -> Model[int]:
    """0 → 1 → … → length, which deadlocks at the end unless marked terminal."""
    model = Model("chain", init=0)

    @model.step(when=lambda s: s < length)
    def advance(s: int) -> int:
        """One step along the chain."""
        return s + 1

    if terminal:

        @model.terminal
        def at_end(s: int) -> bool:
            """The end of the chain."""
            return s == length

    return model


class Pair(NamedTuple):
    a: int
    b: int


def pair_target(limit: int, target: int) -> Model[Pair]:
    """Two counters up to ``limit``; the target a == b == target is reachable iff ≤ limit."""
    model = Model("pair", init=Pair(0, 0))

    @model.step(when=lambda s: s.a < limit)
    def inc_a(s: Pair) -> Pair:
        """a counts up."""
        return s._replace(a=s.a + 1)

    @model.step(when=lambda s: s.b < limit)
    def inc_b(s: Pair) -> Pair:
        """b counts up."""
        return s._replace(b=s.b + 1)

    @model.reachable
    def both_at_target(s: Pair) -> bool:
        """Both counters reach the target."""
        return s.a == target and s.b == target

    @model.terminal
    def full(s: Pair) -> bool:
        """Both counters are at the limit."""
        return s.a == limit and s.b == limit

    return model
