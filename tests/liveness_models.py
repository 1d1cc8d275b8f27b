"""Small liveness models whose verdicts and lassos can be worked out by hand."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from klpcheck import Model, Record, set_at

# -- Peterson's algorithm ---------------------------------------------------------------

IDLE, FLAGGED, WAITING, CRITICAL = 0, 1, 2, 3


class Peterson(Record):
    pc: tuple[int, int] = (IDLE, IDLE)
    flag: tuple[bool, bool] = (False, False)
    turn: int = 0


def peterson(fair: bool | str | None) -> Model[Peterson]:
    """Peterson's mutual exclusion for two processes (Peterson, IPL 1981).

    A process may think (a self-loop) or ask for the lock in its noncritical section;
    neither is fair: a process may stay out forever. The protocol steps (yield the turn,
    enter, leave) have fairness ``fair``. Process 0, once its flag is up, enters its
    critical section in every behaviour fair to them; without fairness process 1 can
    think forever while process 0 waits.
    """
    model = Model("peterson", init=Peterson())

    @model.step(when=lambda s, i: s.pc[i] == IDLE, over=range(2))
    def think(s: Peterson, i: int) -> Peterson:
        """Process i stays in its noncritical section."""
        return s

    @model.step(when=lambda s, i: s.pc[i] == IDLE, over=range(2))
    def request(s: Peterson, i: int) -> Peterson:
        """Process i raises its flag."""
        return s.replace(pc=set_at(s.pc, i, FLAGGED), flag=set_at(s.flag, i, True))

    @model.step(when=lambda s, i: s.pc[i] == FLAGGED, over=range(2), fair=fair)
    def yield_turn(s: Peterson, i: int) -> Peterson:
        """Process i gives the turn to the other."""
        return s.replace(pc=set_at(s.pc, i, WAITING), turn=1 - i)

    @model.step(
        when=lambda s, i: s.pc[i] == WAITING and (not s.flag[1 - i] or s.turn == i),
        over=range(2),
        fair=fair,
    )
    def enter(s: Peterson, i: int) -> Peterson:
        """Process i enters its critical section."""
        return s.replace(pc=set_at(s.pc, i, CRITICAL))

    @model.step(when=lambda s, i: s.pc[i] == CRITICAL, over=range(2), fair=fair)
    def leave(s: Peterson, i: int) -> Peterson:
        """Process i leaves its critical section and lowers its flag."""
        return s.replace(pc=set_at(s.pc, i, IDLE), flag=set_at(s.flag, i, False))

    @model.invariant
    def mutual_exclusion(s: Peterson) -> bool:
        """At most one process is in its critical section."""
        return s.pc != (CRITICAL, CRITICAL)

    @model.leads_to(lambda s: s.pc[0] == CRITICAL)
    def starvation_free(s: Peterson) -> bool:
        """Process 0, once its flag is up, enters its critical section."""
        return s.pc[0] == FLAGGED

    return model


# -- a lock: weak fairness starves a waiter, strong fairness does not ----------------------


class Lock(Record):
    pc: tuple[str, str] = ("idle", "idle")
    holder: int = -1


def lock(fair: str) -> Model[Lock]:
    """Two processes and a lock; every step has fairness ``fair``.

    Process 1 can take and release the lock forever while process 0 waits: acquire(0)
    is enabled whenever the lock is free, so only intermittently. Weak fairness allows
    that; strong fairness does not.
    """
    model = Model(f"lock_{fair}", init=Lock())

    @model.step(when=lambda s, i: s.pc[i] == "idle", over=range(2), fair=fair)
    def request(s: Lock, i: int) -> Lock:
        """Process i wants the lock."""
        return s.replace(pc=set_at(s.pc, i, "wait"))

    @model.step(
        when=lambda s, i: s.pc[i] == "wait" and s.holder == -1, over=range(2), fair=fair
    )
    def acquire(s: Lock, i: int) -> Lock:
        """Process i takes the free lock."""
        return s.replace(pc=set_at(s.pc, i, "crit"), holder=i)

    @model.step(when=lambda s, i: s.pc[i] == "crit", over=range(2), fair=fair)
    def release(s: Lock, i: int) -> Lock:
        """Process i releases the lock."""
        return s.replace(pc=set_at(s.pc, i, "idle"), holder=-1)

    @model.leads_to(lambda s: s.pc[0] == "crit")
    def waiter_gets_lock(s: Lock) -> bool:
        """Process 0, once waiting, gets the lock."""
        return s.pc[0] == "wait"

    return model


# -- dining philosophers -------------------------------------------------------------------

THINKING, HAS_FIRST, EATING = 0, 1, 2


class Table(Record):
    pc: tuple[int, ...] = ()
    fork: tuple[int, ...] = ()  # who holds each fork, -1 for nobody


def philosophers(n: int, *, asymmetric: bool, fair: str | None) -> Model[Table]:
    """n philosophers, fork i on the left of philosopher i and fork i+1 on the right.

    Each takes its first fork, then its second, eats and puts both down. All take the
    left one first, or (``asymmetric``) the last one takes the right one first
    (Dijkstra's fix): then there is no deadlock.
    """
    model = Model(f"philosophers_{n}", init=Table(pc=(THINKING,) * n, fork=(-1,) * n))

    def forks(i: int) -> tuple[int, int]:
        left, right = i, (i + 1) % n
        return (right, left) if asymmetric and i == n - 1 else (left, right)

    @model.step(
        when=lambda s, i: s.pc[i] == THINKING and s.fork[forks(i)[0]] == -1,
        over=range(n),
        fair=fair,
    )
    def take_first(s: Table, i: int) -> Table:
        """Philosopher i takes its first fork."""
        return s.replace(
            pc=set_at(s.pc, i, HAS_FIRST), fork=set_at(s.fork, forks(i)[0], i)
        )

    @model.step(
        when=lambda s, i: s.pc[i] == HAS_FIRST and s.fork[forks(i)[1]] == -1,
        over=range(n),
        fair=fair,
    )
    def take_second(s: Table, i: int) -> Table:
        """Philosopher i takes its second fork and eats."""
        return s.replace(
            pc=set_at(s.pc, i, EATING), fork=set_at(s.fork, forks(i)[1], i)
        )

    @model.step(when=lambda s, i: s.pc[i] == EATING, over=range(n), fair=fair)
    def put_down(s: Table, i: int) -> Table:
        """Philosopher i puts both forks down."""
        a, b = forks(i)
        return s.replace(
            pc=set_at(s.pc, i, THINKING), fork=set_at(set_at(s.fork, a, -1), b, -1)
        )

    @model.leads_to(lambda s: s.pc[0] == EATING)
    def zero_eats(s: Table) -> bool:
        """Philosopher 0, holding a fork, eventually eats."""
        return s.pc[0] == HAS_FIRST

    return model


# -- small graphs ------------------------------------------------------------------------


def graph_model(
    name: str,
    init: int | list[int],
    edges: dict[str, list[tuple[int, int]]],
    fairness: dict[str, Any] | None = None,
) -> Model[int]:
    """A model whose states are integers: step ``name`` goes from a to b for each
    ``(a, b)`` in ``edges[name]`` (one instance per edge, parameter ``e``)."""
    fairness = fairness or {}
    model = Model(name, init=init)
    for step, pairs in edges.items():
        guard, effect = _table_step(step, tuple(pairs))
        model.step(when=guard, over=range(len(pairs)), fair=fairness.get(step))(effect)
    return model


def _table_step(
    name: str, table: tuple[tuple[int, int], ...]
) -> tuple[Callable[[int, int], bool], Callable[[int, int], int]]:
    def guard(s: int, e: int) -> bool:
        return s == table[e][0]

    def effect(s: int, e: int) -> int:
        return table[e][1]

    effect.__name__ = name
    return guard, effect


def unfair_loop_only(fair: bool) -> Model[int]:
    """0 → 1 → 2 (``go``, weak fairness when ``fair``); ``spin`` loops on 1.

    The only cycle avoiding 2 is spin's self-loop at 1, where go is enabled forever and
    never taken: unfair with fairness, so ``reaches_two`` holds; violated without.
    """
    model = graph_model(
        "unfair_loop",
        0,
        {"go": [(0, 1), (1, 2)], "spin": [(1, 1)], "rest": [(2, 2)]},
        {"go": True} if fair else {},
    )

    @model.eventually
    def reaches_two(s: int) -> bool:
        """State 2 is reached."""
        return s == 2

    return model


def fair_self_loop() -> Model[int]:
    """``spin`` loops on 1 with weak fairness; ``go`` from 1 to 2 has none. Taking the
    self-loop counts as taking spin, so spinning forever is fair: violated."""
    model = graph_model(
        "fair_self_loop",
        0,
        {"go": [(0, 1), (1, 2)], "spin": [(1, 1)], "rest": [(2, 2)]},
        {"spin": "weak"},
    )

    @model.eventually
    def reaches_two(s: int) -> bool:
        """State 2 is reached."""
        return s == 2

    return model


def dead_end() -> Model[int]:
    """From 0, ``fail`` goes to 1, where no step is enabled, or ``go`` to 2 then 3.
    ``eventually 3`` is violated by the finite behaviour ending in 1, fair or not."""
    model = graph_model(
        "dead_end",
        0,
        {"fail": [(0, 1)], "go": [(0, 2), (2, 3)], "rest": [(3, 3)]},
        {"go": "strong", "fail": "strong"},
    )

    @model.terminal
    def stopped(s: int) -> bool:
        """States without steps are ends, not deadlocks."""
        return True

    @model.eventually
    def reaches_three(s: int) -> bool:
        """State 3 is reached."""
        return s == 3

    return model


def two_starts(second: int) -> Model[int]:
    """Initial states 0 and ``second``. 0 goes to 3 and stays there (``rest``); 5 loops
    on itself (``loop``); 3 is the goal, which initial state 3 meets at once."""
    model = graph_model(
        "two_starts",
        [0, second],
        {"go": [(0, 3)], "rest": [(3, 3)], "loop": [(5, 5)]},
        {"go": True, "rest": True, "loop": True},
    )

    @model.eventually
    def goal(s: int) -> bool:
        """State 3 is reached."""
        return s == 3

    return model
