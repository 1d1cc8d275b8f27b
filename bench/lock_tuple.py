"""The lock model with plain tuple states, written as the musil and minicheck versions are.

Same steps and counts as ``lock.py``; the state is ``(pc_0, …, pc_{n-1}, locked)``. It
shows what klpcheck itself costs once the model's own code (``dataclasses.replace``) is
as cheap as theirs.
"""

from __future__ import annotations

from klpcheck import Model

Lock = tuple[int, ...]


def build(procs: int = 7) -> Model[Lock]:
    """The lock model with ``procs`` processes."""
    model = Model("lock_tuple", init=(0,) * procs + (0,), doc=__doc__)
    every = range(procs)

    @model.step(when=lambda s, p: s[p] == 0 and not s[-1], over=every)
    def acquire(s: Lock, p: int) -> Lock:
        """Process p takes the free lock."""
        return (*s[:p], 1, *s[p + 1 : -1], 1)

    @model.step(when=lambda s, p: s[p] == 1, over=every)
    def release(s: Lock, p: int) -> Lock:
        """Process p releases the lock."""
        return (*s[:p], 2, *s[p + 1 : -1], 0)

    @model.step(when=lambda s, p: s[p] >= 2, over=every)
    def work(s: Lock, p: int) -> Lock:
        """Process p takes one local step: 2 → 3 → 4 → 5 → 0."""
        return (*s[:p], (s[p] + 1) % 6, *s[p + 1 :])

    @model.invariant
    def mutual_exclusion(s: Lock) -> bool:
        """At most one process holds the lock."""
        return s[:-1].count(1) <= 1

    return model
