"""Weak memory for models: per-CPU store buffers, lagging views, and the barriers that order them.

Under sequential consistency every store is seen by every CPU at once, so a model cannot
show why a barrier is there. This module gives a model an operational store-buffer
semantics for the locations it names *weak*; everything else in the state stays
sequentially consistent.

The semantics
-------------
- Each CPU has a **store buffer** of pending stores, grouped in *epochs*: a store joins
  the newest epoch, ``smp_wmb()`` starts a new one. A **drain** step writes to memory
  the oldest pending store to one location, provided it belongs to the oldest epoch.
  Stores to different locations in one epoch therefore reach memory in any order;
  stores to one location stay in program order (coherence).
- Each CPU has a **view** of each location, which may lag memory. A **refresh** step
  sets one view to the value in memory. A load returns the CPU's newest buffered store
  to the location, else its view. When a CPU's own store drains, its view takes the
  value, so a CPU never reads something older than its own store (LKMM's ``coWR``).
  Views only ever move to what memory holds now, so a CPU's loads of one location never
  go backwards in coherence order.
- ``smp_rmb()`` refreshes every view of the CPU. An acquire load (``smp_load_acquire``)
  reads, then does the same. A load whose address came from an earlier load (an
  *address dependency*: ``rcu_dereference``, ``list_first_or_null_rcu``) refreshes the
  location it reads first: LKMM orders it after the load it depends on.
- ``smp_mb()`` and value-returning atomic read-modify-writes (``xchg``,
  ``test_and_clear_bit``, ...; fully ordered per ``Documentation/atomic_t.txt``) wait
  for an empty buffer and refresh every view; an RMW reads and writes memory itself, in
  one step.
- A release store (``smp_store_release``, ``rcu_assign_pointer``) starts a new epoch
  before it: every earlier store of the CPU reaches memory first.

Drains and refreshes are steps of their own (:meth:`WeakMemory.register`), so a trace
shows ``drain(cpu=0, loc='x')`` with the value it published, and a stale read is a load
that happened before the ``refresh``. Neither step is enabled when it would change
nothing, so they add no stuttering self-loops. Both declare footprints (a drain touches
one location's cell and one CPU's buffer, a refresh one cell), so partial-order
reduction can still cut independent drains and refreshes.

What it does not produce
------------------------
The model is meant to be *stronger* than the Linux-kernel memory model (LKMM): to allow
only outcomes LKMM allows, not all of them. No proof backs this; the evidence is the
kernel's litmus tests (``tests/litmus/``: no outcome LKMM forbids is reached) and random
programs (``tests/test_memory_sc.py``: with ``smp_mb()`` everywhere, exactly the
sequentially consistent outcomes). By hand, against herd7 7.58 with the LKMM files, on
560 random programs of two or three processes of up to four statements (plain, acquire
and release accesses, ``xchg``, ``cmpxchg``, ``smp_wmb``/``rmb``/``mb``), every final
state it reached was one LKMM allows, and it reached all of LKMM's in all but 5 (load
buffering). In particular it never produces

- **load buffering**: loads take their value when they execute, in program order, and
  a store enters the buffer after every earlier load has its value (``LB+poonceonces``
  is ``Sometimes`` in LKMM, never here);
- **non-multi-copy-atomic outcomes**: a store leaves the buffer into one shared memory,
  so once one other CPU can see it, all can (``IRIW+poonceonces+OnceOnce`` is
  ``Sometimes`` in LKMM; here only lagging views give it). A store a CPU has read is in
  memory, which makes ``smp_wmb()`` and plain stores behave as if cumulative;
- relaxed atomics: every RMW that succeeds is fully ordered, and a void RMW
  (``atomic_inc``) too.

So a verdict "holds" under this model means "holds on every store-buffer machine of this
kind", not "holds under LKMM"; a counterexample, on the other hand, should be one LKMM
allows too.

The idea of hand-written store buffers in a model checker is old: the userspace-RCU
formal model in Promela has ``NO_WMB``/``NO_RMB``/``NO_MB`` builds. The ordering rules
here are LKMM's (``tools/memory-model/Documentation/explanation.txt``).

Using it
--------
>>> from klpcheck import Model, Record, check
>>> wm = WeakMemory(cpus=2, locations={"x": 0, "y": 0})
>>> class S(Record):
...     pc: tuple[int, int] = (0, 0)
...     r: int = -1
...     mem: tuple[Cell, ...] = wm.cells
...     sb: tuple[Buffer, ...] = wm.buffers
>>> m = Model("mp", init=S())
>>> @m.step(when=lambda s: s.pc[0] == 0)
... def write_x(s: S) -> S:
...     return s.replace(pc=(1, s.pc[1]), **wm.store(s, 0, "x", 1))
>>> @m.step(when=lambda s: s.pc[1] == 0)
... def read_x(s: S) -> S:
...     return s.replace(pc=(s.pc[0], 1), r=wm.load(s, 1, "x"))
>>> wm.register(m)
>>> check(m, deadlock=False).distinct_states
9
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping
from typing import Any

from klpcheck.base.errors import ModelError
from klpcheck.model.definition import Model

__all__ = ["Buffer", "Cell", "Loc", "WeakMemory"]

Value = Hashable
Updates = dict[str, Any]


class Loc(int):
    """A location's index that shows its name: footprints index by it, traces show ``'x'``.

    >>> x = Loc(0, "x")
    >>> x == 0, repr(x), [10, 20][x]
    (True, "'x'", 10)
    """

    name: str

    def __new__(cls, index: int, name: str) -> Loc:
        obj = int.__new__(cls, index)
        obj.name = name
        return obj

    def __repr__(self) -> str:
        return repr(self.name)

    def __reduce__(self) -> tuple[Any, ...]:
        return (Loc, (int(self), self.name))


def _show(value: Value) -> str:
    return repr(value) if not isinstance(value, str) else value


class Cell(tuple):  # type: ignore[type-arg]
    """One weak location: its name, the value in memory, and each CPU's view of it.

    A tuple that traces show as one value (``_fields`` keeps it whole):

    >>> Cell("x", 1, (1, 0))
    x=1 (views 1 0)
    """

    __slots__ = ()
    _fields = ("name", "value", "views")

    def __new__(cls, name: str, value: Value, views: tuple[Value, ...]) -> Cell:
        return tuple.__new__(cls, (name, value, views))

    @property
    def name(self) -> str:
        """The location's name."""
        n: str = tuple.__getitem__(self, 0)
        return n

    @property
    def value(self) -> Value:
        """The value in memory."""
        return tuple.__getitem__(self, 1)  # type: ignore[no-any-return]

    @property
    def views(self) -> tuple[Value, ...]:
        """Each CPU's view of the location."""
        v: tuple[Value, ...] = tuple.__getitem__(self, 2)
        return v

    def __repr__(self) -> str:
        views = " ".join(_show(v) for v in self.views)
        return f"{self.name}={_show(self.value)} (views {views})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (Cell, (self.name, self.value, self.views))


Entry = tuple[Loc, Value]
Epoch = tuple[Entry, ...]


class Buffer(tuple):  # type: ignore[type-arg]
    """One CPU's store buffer: epochs, oldest first, each a tuple of ``(loc, value)``.

    ``|`` separates epochs (an ``smp_wmb()`` or a release store between them); a
    trailing ``|`` is a barrier after the newest store:

    >>> Buffer((((Loc(0, "x"), 1), (Loc(1, "y"), 2)), ((Loc(0, "x"), 3),)))
    [x=1 y=2 | x=3]
    >>> Buffer(()), Buffer((((Loc(0, "x"), 1),), ()))
    ([], [x=1 |])
    """

    __slots__ = ()
    _fields = ("epochs",)

    def __new__(cls, epochs: Iterable[Epoch]) -> Buffer:
        return tuple.__new__(cls, tuple(epochs))

    def __repr__(self) -> str:
        groups = [" ".join(f"{loc.name}={_show(v)}" for loc, v in g) for g in self]
        return "[" + " | ".join(groups).strip() + "]"

    def __reduce__(self) -> tuple[Any, ...]:
        return (Buffer, (tuple(self),))


_EMPTY = Buffer(())


class WeakMemory:
    """Weak locations shared by ``cpus`` CPUs, kept in two fields of a model's state.

    Parameters
    ----------
    cpus
        Number of CPUs; each has a store buffer and a view of every weak location.
    locations
        The weak locations and their initial values, e.g. ``{"x": 0, "y": 0}``.
    cells
        Name of the state field holding one :class:`Cell` per location (default ``mem``),
        initialised with :attr:`cells`.
    buffers
        Name of the state field holding one :class:`Buffer` per CPU (default ``sb``),
        initialised with :attr:`buffers`.

    Operations take the state and return either a value or a dict of updated fields for
    ``s.replace(**...)``. Their footprints, for steps that declare ``reads=``/``writes=``:
    :meth:`load` reads ``mem[l]`` and ``sb[c]``; :meth:`store`, :meth:`store_release`
    and :meth:`wmb` read and write ``sb[c]``; :meth:`load_dep` reads and writes ``mem[l]``
    and reads ``sb[c]``; :meth:`rmb`, :meth:`load_acquire`, :meth:`mb` and :meth:`rmw`
    read and write ``mem`` (every cell) and ``sb[c]``.
    """

    def __init__(
        self,
        cpus: int,
        locations: Mapping[str, Value],
        *,
        cells: str = "mem",
        buffers: str = "sb",
    ) -> None:
        if not isinstance(cpus, int) or cpus < 1:
            raise ModelError(f"WeakMemory needs at least one CPU, not cpus={cpus!r}")
        if not locations:
            raise ModelError("WeakMemory needs at least one location, e.g. {'x': 0}")
        self.cpus = cpus
        self.locs: dict[str, Loc] = {
            name: Loc(i, name) for i, name in enumerate(locations)
        }
        self.cells_field = cells
        self.buffers_field = buffers
        self.cells: tuple[Cell, ...] = tuple(
            Cell(name, v, (v,) * cpus) for name, v in locations.items()
        )
        self.buffers: tuple[Buffer, ...] = (_EMPTY,) * cpus

    def loc(self, name: str | int) -> Loc:
        """The :class:`Loc` of a location name (or index)."""
        if isinstance(name, Loc):
            return name
        if isinstance(name, int):
            return list(self.locs.values())[name]
        try:
            return self.locs[name]
        except KeyError:
            raise ModelError(
                f"`{name}` is not a weak location; the weak locations are "
                f"{', '.join(self.locs)}"
            ) from None

    # -- reading ---------------------------------------------------------------------

    def _cells(self, s: Any) -> tuple[Cell, ...]:
        c: tuple[Cell, ...] = getattr(s, self.cells_field)
        return c

    def _buffer(self, s: Any, cpu: int) -> Buffer:
        b: Buffer = getattr(s, self.buffers_field)[cpu]
        return b

    def value(self, s: Any, loc: str | int) -> Value:
        """The value in memory (what a CPU with a fresh view and an empty buffer reads)."""
        return self._cells(s)[self.loc(loc)].value

    def load(self, s: Any, cpu: int, loc: str | int) -> Value:
        """``READ_ONCE``: the CPU's newest buffered store to ``loc``, else its view."""
        i = self.loc(loc)
        for epoch in reversed(self._buffer(s, cpu)):
            for entry_loc, v in reversed(epoch):
                if entry_loc == i:
                    found: Value = v
                    return found
        return self._cells(s)[i].views[cpu]

    def empty(self, s: Any, cpu: int) -> bool:
        """The CPU's store buffer is empty (``smp_mb()`` and RMWs wait for this)."""
        return not self._buffer(s, cpu)

    def quiet(self, s: Any) -> bool:
        """Every store buffer is empty."""
        return not any(getattr(s, self.buffers_field))

    def fresh(self, s: Any, cpu: int) -> bool:
        """Every view of the CPU equals memory."""
        return all(c.views[cpu] == c.value for c in self._cells(s))

    # -- stores and barriers -----------------------------------------------------------

    def store(self, s: Any, cpu: int, loc: str | int, value: Value) -> Updates:
        """``WRITE_ONCE``: append the store to the newest epoch of the CPU's buffer."""
        entry = (self.loc(loc), value)
        b = self._buffer(s, cpu)
        nb = Buffer((*b[:-1], (*b[-1], entry))) if b else Buffer(((entry,),))
        return self._set_buffer(s, cpu, nb)

    def wmb(self, s: Any, cpu: int) -> Updates:
        """``smp_wmb()``: later stores start a new epoch (nothing to do when empty)."""
        b = self._buffer(s, cpu)
        if not b or not b[-1]:
            return {}
        return self._set_buffer(s, cpu, Buffer((*b, ())))

    def store_release(self, s: Any, cpu: int, loc: str | int, value: Value) -> Updates:
        """``smp_store_release``/``rcu_assign_pointer``: every earlier store drains first."""
        entry = (self.loc(loc), value)
        b = self._buffer(s, cpu)
        if not b:
            nb = Buffer(((entry,),))
        elif not b[-1]:
            nb = Buffer((*b[:-1], (entry,)))
        else:
            nb = Buffer((*b, (entry,)))
        return self._set_buffer(s, cpu, nb)

    def rmb(self, s: Any, cpu: int) -> Updates:
        """``smp_rmb()``: every view of the CPU takes the value in memory."""
        cells = self._cells(s)
        new = tuple(_seen(c, cpu, c.value) for c in cells)
        return {} if new == cells else {self.cells_field: new}

    def load_acquire(self, s: Any, cpu: int, loc: str | int) -> tuple[Value, Updates]:
        """``smp_load_acquire``: a load, then every view refreshed (later loads after it)."""
        return self.load(s, cpu, loc), self.rmb(s, cpu)

    def load_dep(self, s: Any, cpu: int, loc: str | int) -> tuple[Value, Updates]:
        """A load whose address came from an earlier load: ordered after that load.

        The CPU's view of ``loc`` is refreshed first, so the load sees every store that
        reached memory before the load it depends on (``rcu_dereference``,
        ``list_first_or_null_rcu``, ``p = READ_ONCE(head); READ_ONCE(p->field)``).
        """
        i = self.loc(loc)
        cells = self._cells(s)
        c = cells[i]
        updates: Updates = {}
        if c.views[cpu] != c.value:
            new = _seen(c, cpu, c.value)
            cells = (*cells[:i], new, *cells[i + 1 :])
            updates = {self.cells_field: cells}
            s = _Overlay(s, self.cells_field, cells)
        return self.load(s, cpu, i), updates

    def mb(self, s: Any, cpu: int) -> Updates:
        """``smp_mb()``: needs an empty buffer (guard with :meth:`empty`), refreshes views."""
        self._need_empty(s, cpu, "smp_mb()")
        return self.rmb(s, cpu)

    def rmw(
        self, s: Any, cpu: int, loc: str | int, update: Callable[[Value], Value]
    ) -> tuple[Value, Updates]:
        """A fully ordered atomic read-modify-write on memory; returns the old value.

        Needs an empty buffer (guard with :meth:`empty`). Memory and the CPU's view of
        ``loc`` take ``update(old)``, then every view of the CPU is refreshed.
        """
        self._need_empty(s, cpu, "an atomic read-modify-write")
        i = self.loc(loc)
        cells = self._cells(s)
        old = cells[i].value
        new = update(old)
        out = tuple(
            Cell(c.name, new, (*c.views[:cpu], new, *c.views[cpu + 1 :]))
            if j == i
            else _seen(c, cpu, c.value)
            for j, c in enumerate(cells)
        )
        return old, {self.cells_field: out}

    def _need_empty(self, s: Any, cpu: int, what: str) -> None:
        if self._buffer(s, cpu):
            raise ModelError(
                f"{what} on CPU {cpu} with stores still buffered; guard the step with "
                f"WeakMemory.empty(s, {cpu})"
            )

    def _set_buffer(self, s: Any, cpu: int, b: Buffer) -> Updates:
        bufs = getattr(s, self.buffers_field)
        return {self.buffers_field: (*bufs[:cpu], b, *bufs[cpu + 1 :])}

    # -- the steps of the memory system --------------------------------------------------

    def drainable(self, s: Any, cpu: int, loc: int) -> bool:
        """The oldest epoch of the CPU's buffer holds a store to ``loc``."""
        b = self._buffer(s, cpu)
        return bool(b) and any(entry_loc == loc for entry_loc, _ in b[0])

    def drain(self, s: Any, cpu: int, loc: int) -> Updates:
        """Write the CPU's oldest buffered store to ``loc`` to memory (see :meth:`register`)."""
        b = self._buffer(s, cpu)
        first = b[0]
        k = next(k for k, (entry_loc, _) in enumerate(first) if entry_loc == loc)
        value = first[k][1]
        rest = first[:k] + first[k + 1 :]
        epochs = (rest, *b[1:]) if rest else b[1:]
        nb = _EMPTY if epochs in ((), ((),)) else Buffer(epochs)
        cells = self._cells(s)
        c = cells[loc]
        new = Cell(c.name, value, (*c.views[:cpu], value, *c.views[cpu + 1 :]))
        return {
            self.cells_field: (*cells[:loc], new, *cells[loc + 1 :]),
            **self._set_buffer(s, cpu, nb),
        }

    def stale(self, s: Any, cpu: int, loc: int) -> bool:
        """The CPU's view of ``loc`` differs from memory."""
        c = self._cells(s)[loc]
        return bool(c.views[cpu] != c.value)

    def refresh(self, s: Any, cpu: int, loc: int) -> Updates:
        """The CPU's view of ``loc`` takes the value in memory (see :meth:`register`)."""
        cells = self._cells(s)
        c = cells[loc]
        return {
            self.cells_field: (
                *cells[:loc],
                _seen(c, cpu, c.value),
                *cells[loc + 1 :],
            )
        }

    def register(
        self, model: Model[Any], *, drain: str = "drain", refresh: str = "refresh"
    ) -> None:
        """Add the ``drain(cpu, loc)`` and ``refresh(cpu, loc)`` steps to ``model``.

        Each is enabled only when it changes something. Footprints: a drain reads and
        writes ``mem[loc]`` and ``sb[cpu]``; a refresh reads and writes ``mem[loc]``.
        """
        wm = self
        pairs = [(c, loc) for c in range(self.cpus) for loc in self.locs.values()]
        cf, bf = self.cells_field, self.buffers_field

        def drain_step(s: Any, cpu: int, loc: Loc) -> Any:
            return s.replace(**wm.drain(s, cpu, loc))

        def refresh_step(s: Any, cpu: int, loc: Loc) -> Any:
            return s.replace(**wm.refresh(s, cpu, loc))

        drain_step.__name__ = drain
        drain_step.__doc__ = (
            "The store buffer of CPU cpu writes its oldest store to loc to memory "
            "(allowed when that store is in the buffer's oldest epoch)."
        )
        refresh_step.__name__ = refresh
        refresh_step.__doc__ = "CPU cpu's view of loc catches up with memory."
        drainable, stale = _guards(cf, bf)
        model.step(
            when=drainable,
            over=pairs,
            reads={f"{cf}[loc]", f"{bf}[cpu]"},
            writes={f"{cf}[loc]", f"{bf}[cpu]"},
        )(drain_step)
        model.step(
            when=stale,
            over=pairs,
            reads={f"{cf}[loc]"},
            writes={f"{cf}[loc]"},
        )(refresh_step)


def _guards(
    cells: str, buffers: str
) -> tuple[Callable[[Any, int, int], bool], Callable[[Any, int, int], bool]]:
    """The guards of drain and refresh as plain functions that name their fields.

    They compute :meth:`WeakMemory.drainable` and :meth:`WeakMemory.stale`, written so
    that partial-order reduction can see from their code that they read only
    ``buffers[cpu]`` and ``cells[loc]`` (klpcheck.model.footprint.access_plan); the
    field names are checked identifiers, and the text holds nothing else.
    """
    for name in (cells, buffers):
        if not name.isidentifier():
            raise ModelError(f"WeakMemory field name {name!r} is not an identifier")
    text = (
        "def drainable(s, cpu, loc):\n"
        f"    b = s.{buffers}[cpu]\n"
        "    return bool(b) and any(e[0] == loc for e in b[0])\n"
        "def stale(s, cpu, loc):\n"
        f"    c = s.{cells}[loc]\n"
        "    return bool(c[2][cpu] != c[1])\n"
    )
    env: dict[str, Any] = {}
    exec(text, env)  # field names (identifiers) only
    return env["drainable"], env["stale"]


def _seen(c: Cell, cpu: int, value: Value) -> Cell:
    """``c`` with CPU ``cpu``'s view set to ``value`` (``c`` itself when it already is)."""
    if c.views[cpu] == value:
        return c
    return Cell(c.name, c.value, (*c.views[:cpu], value, *c.views[cpu + 1 :]))


class _Overlay:
    """A state with one field read from elsewhere (for an operation built on another)."""

    def __init__(self, state: Any, name: str, value: Any) -> None:
        self._state, self._name, self._value = state, name, value

    def __getattr__(self, name: str) -> Any:
        return self._value if name == self._name else getattr(self._state, name)
