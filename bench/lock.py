"""The benchmark's lock model, written the way the README teaches (a ``Record`` state).

``procs`` processes each cycle through pc 0..5 and share one lock: 0 → 1 takes the lock if
it is free, 1 → 2 releases it, and 2 → 3 → 4 → 5 → 0 are local steps. At most one process
is ever at pc 1. With 7 processes there are exactly 187,500 distinct states and 1,181,250
transitions: 5**n + n * 5**(n - 1) states, since every process is at one of the five pcs
other than 1, or exactly one of them holds the lock at pc 1.

Expected: `mutual_exclusion` holds.
"""

from __future__ import annotations

from klpcheck import Model, Record, set_at


class State(Record):
    pc: tuple[int, ...]
    locked: bool = False


def build(procs: int = 7) -> Model[State]:
    """The lock model with ``procs`` processes."""
    model = Model("lock", init=State(pc=(0,) * procs), doc=__doc__)
    every = range(procs)

    @model.step(when=lambda s, p: s.pc[p] == 0 and not s.locked, over=every)
    def acquire(s: State, p: int) -> State:
        """Process p takes the free lock."""
        return s.replace(pc=set_at(s.pc, p, 1), locked=True)

    @model.step(when=lambda s, p: s.pc[p] == 1, over=every)
    def release(s: State, p: int) -> State:
        """Process p releases the lock."""
        return s.replace(pc=set_at(s.pc, p, 2), locked=False)

    @model.step(when=lambda s, p: s.pc[p] >= 2, over=every)
    def work(s: State, p: int) -> State:
        """Process p takes one local step: 2 → 3 → 4 → 5 → 0."""
        return s.replace(pc=set_at(s.pc, p, (s.pc[p] + 1) % 6))

    @model.invariant
    def mutual_exclusion(s: State) -> bool:
        """At most one process holds the lock."""
        return s.pc.count(1) <= 1

    return model
