"""Models for the partial-order reduction tests and bench/por.py, with exact footprints."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from klpcheck import Model, Record, set_at


@dataclass(frozen=True, slots=True)
class Procs:
    pc: tuple[int, ...]


def independent(n: int, k: int, *, cyclic: bool = False) -> Model[Procs]:
    """n processes, each stepping its own pc through 0..k-1 (and back to 0 if cyclic).

    Full search: k**n states. Nothing is shared, so a stubborn set is one process's step.
    """
    model = Model(f"independent_{n}_{k}", init=Procs((0,) * n))

    @model.step(
        when=lambda s, t: cyclic or s.pc[t] < k - 1,
        over=range(n),
        reads={"pc[t]"},
        writes={"pc[t]"},
    )
    def advance(s: Procs, t: int) -> Procs:
        """Process t takes its next local step."""
        return replace(s, pc=set_at(s.pc, t, (s.pc[t] + 1) % k))

    @model.terminal
    def finished(s: Procs) -> bool:
        """Every process is at its last pc."""
        return all(p == k - 1 for p in s.pc)

    return model


@dataclass(frozen=True, slots=True)
class Lock:
    lock: int  # the owner, or -1 when free
    pc: tuple[int, ...]


def lock(n: int, *, invariant: bool = False) -> Model[Lock]:
    """n processes cycling pc 0..5 around one lock: 0→1 takes it, 1→2 releases it.

    The benchmark of checkers.md §3 (SPIN, Rumur and Python agree: 187,500 states and
    1,181,250 transitions for n = 7). With ``invariant`` the mutual-exclusion invariant
    reads every pc, which makes every step visible.
    """
    model = Model(f"lock_{n}", init=Lock(-1, (0,) * n))

    @model.step(
        when=lambda s, t: s.pc[t] == 0 and s.lock == -1,
        over=range(n),
        reads={"pc[t]", "lock"},
        writes={"pc[t]", "lock"},
    )
    def take(s: Lock, t: int) -> Lock:
        """Process t takes the free lock."""
        return replace(s, lock=t, pc=set_at(s.pc, t, 1))

    @model.step(
        when=lambda s, t: s.pc[t] == 1,
        over=range(n),
        reads={"pc[t]"},
        writes={"pc[t]", "lock"},
    )
    def release(s: Lock, t: int) -> Lock:
        """Process t releases the lock."""
        return replace(s, lock=-1, pc=set_at(s.pc, t, 2))

    @model.step(
        when=lambda s, t: s.pc[t] >= 2,
        over=range(n),
        reads={"pc[t]"},
        writes={"pc[t]"},
    )
    def local(s: Lock, t: int) -> Lock:
        """Process t takes a local step: 2→3→4→5→0."""
        return replace(s, pc=set_at(s.pc, t, (s.pc[t] + 1) % 6))

    if invariant:

        @model.invariant(reads={"pc"})
        def mutual_exclusion(s: Lock) -> bool:
            """At most one process holds the lock."""
            return sum(p == 1 for p in s.pc) <= 1

    return model


@dataclass(frozen=True, slots=True)
class XY:
    x: int = 0
    y: int = 0
    z: int = 0


def visibility() -> Model[XY]:
    """x and y count to 1 independently; the invariant breaks only when y moves first.

    Reduction without C2 fires only the first step, never reaching x == 0 and y == 1.
    """
    model = Model("visibility", init=XY())

    @model.step(when=lambda s: s.x == 0, reads={"x"}, writes={"x"})
    def set_x(s: XY) -> XY:
        """x becomes 1."""
        return replace(s, x=1)

    @model.step(when=lambda s: s.y == 0, reads={"y"}, writes={"y"})
    def set_y(s: XY) -> XY:
        """y becomes 1."""
        return replace(s, y=1)

    @model.invariant(reads={"x", "y"})
    def x_not_behind(s: XY) -> bool:
        """y is never ahead of x."""
        return not (s.x == 0 and s.y == 1)

    @model.terminal
    def done(s: XY) -> bool:
        """Both have counted."""
        return True

    return model


def ignoring() -> Model[XY]:
    """x flips forever; y, which the invariant watches, can be set once.

    Reduction without C3 follows x's cycle and ignores set_y for ever.
    """
    model = Model("ignoring", init=XY())

    @model.step(reads={"x"}, writes={"x"})
    def flip_x(s: XY) -> XY:
        """x flips between 0 and 1."""
        return replace(s, x=1 - s.x)

    @model.step(when=lambda s: s.y == 0, reads={"y"}, writes={"y"})
    def set_y(s: XY) -> XY:
        """y becomes 1."""
        return replace(s, y=1)

    @model.invariant(reads={"y"})
    def y_is_zero(s: XY) -> bool:
        """y stays 0."""
        return s.y == 0

    return model


def enabling() -> Model[XY]:
    """The target x == 2 needs set_y, then jump_x, before set_x.

    set_x and jump_x are dependent (both write x); jump_x is disabled at first and only
    set_y, independent of set_x, enables it. Reduction without necessary enabling sets
    fires set_x alone and never reaches the target.
    """
    model = Model("enabling", init=XY())

    @model.step(when=lambda s: s.x == 0, reads={"x"}, writes={"x"})
    def set_x(s: XY) -> XY:
        """x becomes 1."""
        return replace(s, x=1)

    @model.step(when=lambda s: s.y == 1 and s.x == 0, reads={"x", "y"}, writes={"x"})
    def jump_x(s: XY) -> XY:
        """x jumps to 2 once y is set."""
        return replace(s, x=2)

    @model.step(when=lambda s: s.y == 0, reads={"y"}, writes={"y"})
    def set_y(s: XY) -> XY:
        """y becomes 1."""
        return replace(s, y=1)

    @model.reachable(reads={"x"})
    def x_is_two(s: XY) -> bool:
        """x reaches 2."""
        return s.x == 2

    @model.terminal
    def done(s: XY) -> bool:
        """Nothing left to do."""
        return True

    return model


def conflict() -> Model[XY]:
    """set_x disables mark_z, which alone breaks the invariant.

    Reduction without the dependency rule fires set_x alone from the initial state.
    """
    model = Model("conflict", init=XY())

    @model.step(when=lambda s: s.x == 0, reads={"x"}, writes={"x"})
    def set_x(s: XY) -> XY:
        """x becomes 1."""
        return replace(s, x=1)

    @model.step(when=lambda s: s.x == 0 and s.z == 0, reads={"x", "z"}, writes={"z"})
    def mark_z(s: XY) -> XY:
        """z becomes 1 while x is still 0."""
        return replace(s, z=1)

    @model.invariant(reads={"z"})
    def z_is_zero(s: XY) -> bool:
        """z stays 0."""
        return s.z == 0

    @model.terminal
    def done(s: XY) -> bool:
        """Nothing left to do."""
        return True

    return model


def detour(length: int = 3) -> Model[XY]:
    """x counts to ``length`` on its own; y can be set at once, breaking the invariant.

    Shortest violation: 1 step. Reduction fires x's steps first (they are invisible), so
    its breadth-first trace has ``length + 1`` steps.
    """
    model = Model("detour", init=XY())

    @model.step(when=lambda s: s.x < length, reads={"x"}, writes={"x"})
    def count_x(s: XY) -> XY:
        """x counts up."""
        return replace(s, x=s.x + 1)

    @model.step(when=lambda s: s.y == 0, reads={"y"}, writes={"y"})
    def set_y(s: XY) -> XY:
        """y becomes 1."""
        return replace(s, y=1)

    @model.invariant(reads={"y"})
    def y_is_zero(s: XY) -> bool:
        """y stays 0."""
        return s.y == 0

    @model.terminal
    def done(s: XY) -> bool:
        """Nothing left to do."""
        return True

    return model


@dataclass(frozen=True, slots=True)
class Table:
    fork: tuple[int, ...]  # the philosopher holding each fork, or -1
    pc: tuple[int, ...]  # 0 thinking, 1 holds the left fork, 2 eating


def philosophers(n: int) -> Model[Table]:
    """Dining philosophers taking the left fork first: they deadlock when all hold one."""
    model = Model(f"philosophers_{n}", init=Table((-1,) * n, (0,) * n))

    @model.step(
        when=lambda s, p: s.pc[p] == 0 and s.fork[p] == -1,
        over=range(n),
        reads={"pc[p]", "fork[p]"},
        writes={"pc[p]", "fork[p]"},
    )
    def take_left(s: Table, p: int) -> Table:
        """Philosopher p takes the fork on the left."""
        return Table(set_at(s.fork, p, p), set_at(s.pc, p, 1))

    @model.step(
        when=lambda s, p, q: s.pc[p] == 1 and s.fork[q] == -1,
        over=[(p, (p + 1) % n) for p in range(n)],
        reads={"pc[p]", "fork[q]"},
        writes={"pc[p]", "fork[q]"},
    )
    def take_right(s: Table, p: int, q: int) -> Table:
        """Philosopher p takes the fork on the right (fork q)."""
        return Table(set_at(s.fork, q, p), set_at(s.pc, p, 2))

    @model.step(
        when=lambda s, p, q: s.pc[p] == 2,
        over=[(p, (p + 1) % n) for p in range(n)],
        reads={"pc[p]"},
        writes={"pc[p]", "fork[p]", "fork[q]"},
    )
    def put_down(s: Table, p: int, q: int) -> Table:
        """Philosopher p eats, then puts both forks down."""
        return Table(set_at(set_at(s.fork, p, -1), q, -1), set_at(s.pc, p, 0))

    return model


class Nested(Record):
    stack: tuple[tuple[int, ...], ...] = ((0, 1), (0, 1))
    done: tuple[int, ...] = (0, 0)


def nested_stacks(guard: Callable[[Nested, int], bool], popped: str) -> Model[Nested]:
    """Two tasks with two-item stacks: ``finish(t)`` (guarded by ``guard``) declares it
    reads ``stack[t][0]`` only and marks task t done; ``pop(t)`` clears ``stack[t][1]``
    and declares ``popped`` (``"stack[t]"`` or ``"stack[t][1]"``) as what it reads and
    writes.
    A guard of ``finish`` that reads ``stack[t][1]`` reads outside its declaration;
    ``none_done`` is violated once a task finishes."""
    m = Model("nested", init=Nested())

    @m.step(when=guard, over=[0, 1], reads={"stack[t][0]"}, writes={"done[t]"})
    def finish(s: Nested, t: int) -> Nested:
        return s.replace(done=set_at(s.done, t, 1))

    @m.step(
        when=lambda s, t: s.stack[t][1] == 1,
        over=[0, 1],
        reads={popped},
        writes={popped},
    )
    def pop(s: Nested, t: int) -> Nested:
        return s.replace(stack=set_at(s.stack, t, (s.stack[t][0], 0)))

    @m.invariant(reads={"done"})
    def none_done(s: Nested) -> bool:
        return s.done == (0, 0)

    return m
