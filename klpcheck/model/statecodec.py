"""States of one type as short byte strings: each field's value interned per field.

A breadth-first search with fingerprint storage keeps nothing of a state but its
fingerprint once the state is expanded, so the states still waiting to be expanded (the
frontier) are most of its memory: a 34-field :class:`~klpcheck.model.record.Record` is
about 300 bytes, and livepatch's widest level holds some 40,000 of them. Yet a field
takes few distinct values over a whole search. :class:`StateCodec` gives each distinct
value of each field a small number, its code, the first time it is seen, and writes a
state as the codes of its fields: one byte per field while every code is below 256, two
below 65,536, four beyond, with the width in one last byte. ``decode`` looks the codes up
and builds the state again.

Exactness. ``decode(encode(s))`` equals ``s`` and its fields hold the very objects
interned for them, which are interchangeable with the originals: a value is given the code
of an interned one only when the two are *the same* in every respect the model could
see (:func:`same`): equal, of the same type, and so on all the way down (``1`` and
``True`` in a tuple are equal, and get different codes; so do ``0.0`` and ``-0.0``). A
state the codec cannot write exactly (an unset slot, a ``__dict__`` holding more or less
than the fields) makes ``encode`` answer None: the caller keeps that state as it is.

Layouts written: a plain tuple (any length), a NamedTuple or other tuple subclass without
an instance ``__dict__``, a dataclass whose instances keep their attributes in slots that
are exactly its fields (``Record``, ``dataclass(slots=True)``), and a dataclass whose
instances keep them in ``__dict__`` (``dataclass(frozen=True)``): every field is written,
``compare=False`` and ``init=False`` ones included, and a state is built again without
calling ``__init__`` or ``__post_init__``, as :mod:`copy` and :mod:`pickle` do.
:func:`codec_for` says which layout a type has, or None.

``klpcheck._speedups.StateCodec`` is the same codec in C, working on a Python codec's
tables (it calls the Python one for a value it has not met); :func:`new_codec` gives it
when it is built, and the tests compare the two on random states.
"""

from __future__ import annotations

import dataclasses
import enum
import struct
from array import array
from collections.abc import Callable
from itertools import compress
from operator import attrgetter, is_not
from typing import Any, cast

__all__ = ["StateCodec", "codec_for", "new_codec", "same"]

# Types whose equal values of exactly that type are interchangeable.
_PLAIN = frozenset({int, bool, str, bytes, type(None), type(...)})
_pack_double = struct.Struct("<d").pack

TUPLE, NAMED, SLOTS, DICT = range(4)  # the layouts


def same(a: Any, b: Any) -> bool:
    """Whether ``a`` and ``b``, known to be equal, are interchangeable in a state.

    They are when they have the same type and, inside tuples, frozensets and dataclasses,
    parts that are the same too; floats must have the same bits (``0.0 == -0.0``).

    Examples
    --------
    >>> same((1, "a"), (1, "a")), same((1,), (True,)), same(0.0, -0.0)
    (True, False, False)
    """
    if a is b:
        return True
    kind = type(a)
    if kind is not type(b):
        return False
    if kind in _PLAIN:
        return True
    if kind is float:
        return _pack_double(a) == _pack_double(b)
    if isinstance(a, tuple):
        # Equal tuples have equal items: compare them as values known to be equal.
        return _same_dict(a, b) and all(
            x == y and same(x, y)
            for x, y in compress(zip(a, b, strict=True), map(is_not, a, b))
        )
    if isinstance(a, frozenset):
        if not _same_dict(a, b):
            return False
        rest = list(b)
        for x in a:
            for i, y in enumerate(rest):
                if x == y and same(x, y):
                    del rest[i]
                    break
            else:
                return False
        return True
    if isinstance(a, enum.Enum):
        return False  # members are singletons: equal and not identical means different
    if dataclasses.is_dataclass(kind):
        for f in dataclasses.fields(kind):
            x, y = getattr(a, f.name, _UNSET), getattr(b, f.name, _UNSET)
            if x is not y and not (x == y and same(x, y)):
                return False
        return _same_dict(a, b, {f.name for f in dataclasses.fields(kind)})
    if isinstance(a, float):
        return _pack_double(a) == _pack_double(b) and _same_dict(a, b)
    return _same_dict(a, b)


_UNSET = object()


def _same_dict(a: Any, b: Any, skip: set[str] | frozenset[str] = frozenset()) -> bool:
    """Whether the instance dictionaries of ``a`` and ``b`` (if any) hold the same."""
    da, db = getattr(a, "__dict__", None), getattr(b, "__dict__", None)
    if da is None or db is None:
        return da is db
    if da.keys() != db.keys():
        return False
    return all(
        k in skip or da[k] is db[k] or (da[k] == db[k] and same(da[k], db[k]))
        for k in da
    )


def codec_for(kind: type) -> tuple[int, tuple[str, ...]] | None:
    """The layout of states of exactly ``kind`` and their field names; None if unwritable."""
    if issubclass(kind, tuple):  # any length: the names are not needed
        if kind is tuple:
            return TUPLE, ()
        return None if kind.__dictoffset__ else (NAMED, ())
    if not dataclasses.is_dataclass(kind) or issubclass(kind, enum.Enum):
        return None
    names = tuple(f.name for f in dataclasses.fields(kind))
    slots: set[str] = set()
    for k in kind.__mro__:
        declared = k.__dict__.get("__slots__", ())
        slots.update((declared,) if isinstance(declared, str) else declared)
    slots.discard("__weakref__")
    if kind.__dictoffset__ == 0 and "__dict__" not in slots:
        if slots != set(names) or kind.__new__ is not object.__new__:
            return None
        return SLOTS, names
    if slots - {"__dict__"} or kind.__new__ is not object.__new__:
        return None
    return DICT, names


class StateCodec:
    """``encode(state)``: bytes or None; ``decode(data)``: the state again.

    Examples
    --------
    >>> from typing import NamedTuple
    >>> class P(NamedTuple):
    ...     pc: tuple[int, ...]
    ...     done: bool
    >>> c = StateCodec(P)
    >>> data = c.encode(P((0, 1), False))
    >>> data, c.decode(data)
    (b'\\x00\\x00\\x01', P(pc=(0, 1), done=False))
    """

    def __init__(self, kind: type) -> None:
        found = codec_for(kind)
        if found is None:
            raise TypeError(f"states of type {kind.__name__} cannot be encoded")
        self.kind = kind
        self.layout, self.names = found
        n = len(self.names)
        # Per field: code -> value, id(value) -> code, value -> first code, and first
        # code -> the other codes of values equal to it (not the same).
        self._values: list[list[Any]] = [[] for _ in range(n)]
        self._by_id: list[dict[int, int]] = [{} for _ in range(n)]
        self._by_value: list[dict[Any, int]] = [{} for _ in range(n)]
        self._others: list[dict[int, list[int]]] = [{} for _ in range(n)]
        self._get: Callable[[Any], tuple[Any, ...]] = _getter(self.names)
        self._build = _builder(kind, self.layout, self.names)

    def encode(self, state: Any) -> bytes | None:
        """The codes of ``state``'s fields, or None when it cannot be written exactly."""
        if type(state) is not self.kind:
            return None
        layout = self.layout
        values: tuple[Any, ...]
        if layout == SLOTS:
            try:
                values = self._get(state)
            except AttributeError:  # a slot never set
                return None
        elif layout == DICT:
            d = state.__dict__
            if len(d) != len(self.names) or list(d) != list(self.names):
                return None
            values = tuple(d.values())
        else:
            values = cast("tuple[Any, ...]", state)
            if len(values) > len(self._values):
                self._widen(len(values))
        codes: list[Any] = list(map(_code_of, self._by_id, map(id, values)))
        if None in codes:
            for i in compress(range(len(codes)), map(_is_none, codes)):
                codes[i] = self._intern(i, values[i])
        top = max(codes, default=0)
        if top < 256:
            codes.append(1)
            return bytes(codes)
        width, code = (2, "H") if top < 65536 else (4, "I")
        return array(code, codes).tobytes() + bytes((width,))

    def decode(
        self, data: bytes | bytearray, start: int = 0, end: int | None = None
    ) -> Any:
        """The state ``data[start:end]`` (from :meth:`encode`) stands for."""
        if end is None:
            end = len(data)
        width = data[end - 1]
        codes: Any
        if width == 1:
            codes = data[start : end - 1]
        else:
            codes = array("H" if width == 2 else "I")
            codes.frombytes(data[start : end - 1])
        return self._build(list(map(list.__getitem__, self._values, codes)))

    def __len__(self) -> int:
        """How many values are interned, over all fields."""
        return sum(map(len, self._values))

    def _intern(self, i: int, value: Any) -> int:
        """The code of ``value`` in field ``i``, given a new one if need be."""
        values, by_value = self._values[i], self._by_value[i]
        first = by_value.get(value)
        if first is not None:
            if same(values[first], value):
                return first
            for other in self._others[i].get(first, ()):
                if same(values[other], value):
                    return other
        code = len(values)
        values.append(value)
        self._by_id[i][id(value)] = code  # the value lives as long as the codec
        if first is None:
            by_value[value] = code
        else:
            self._others[i].setdefault(first, []).append(code)
        return code

    def _widen(self, n: int) -> None:
        """Tables for plain tuples of up to ``n`` items."""
        while len(self._values) < n:
            self._values.append([])
            self._by_id.append({})
            self._by_value.append({})
            self._others.append({})


def _is_none(x: object) -> bool:
    return x is None


_code_of: Callable[[dict[int, int], int], int | None] = dict.get


def _getter(names: tuple[str, ...]) -> Callable[[Any], tuple[Any, ...]]:
    """The tuple of the fields ``names`` of a state."""
    if len(names) >= 2:
        return attrgetter(*names)
    if len(names) == 1:
        one = attrgetter(names[0])
        return lambda s: (one(s),)
    return lambda s: ()


def _builder(
    kind: type, layout: int, names: tuple[str, ...]
) -> Callable[[list[Any]], Any]:
    """The function building a state of ``kind`` from its field values, no ``__init__``."""
    if layout == TUPLE:
        return tuple
    if layout == NAMED:
        return lambda values: tuple.__new__(kind, values)
    new = object.__new__
    if layout == DICT:

        def build_dict(values: list[Any]) -> Any:
            o: Any = new(kind)
            o.__dict__.update(zip(names, values, strict=True))
            return o

        return build_dict
    setters = [getattr(kind, name).__set__ for name in names]

    def build_slots(values: list[Any]) -> Any:
        o: Any = new(kind)
        for put, value in zip(setters, values, strict=True):
            put(o, value)
        return o

    return build_slots


def new_codec(kind: type, native: bool = True) -> StateCodec | None:
    """A codec for states of exactly ``kind`` (the C one when built); None if unwritable.

    The C codec works on the tables of a Python one, which it calls for each value it
    has not met (by address) before; dataclasses with ``__dict__`` stay in Python.
    """
    if codec_for(kind) is None:
        return None
    twin = StateCodec(kind)
    from klpcheck.base.native import speedups

    c = speedups() if native else None
    if c is None or twin.layout == DICT or not hasattr(c, "StateCodec"):
        return twin
    try:
        codec: StateCodec = c.StateCodec(twin)
    except TypeError:  # a field that is not a plain slot, say
        return twin
    return codec
