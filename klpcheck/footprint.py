"""Footprints as paths: declared reads and writes resolved per instance, and a recording probe.

A *path* names a part of a state: ``("pc",)`` is the whole field ``pc``, ``("pc", 1)`` its
element 1, ``("stack", 1, 2)`` an element of a nested tuple. Two paths *overlap* when one is
a prefix of the other. ``ALL`` stands for "the whole state" (a footprint that was not
declared).

The probe (:func:`recorded_reads`) evaluates a guard on a stand-in for the state that logs
every path the guard looks at. Because a guard is a deterministic function of what it
reads, a guard that was false stays false as long as none of the logged paths changes:
that is what the necessary enabling sets of :mod:`klpcheck.por` are built from.
"""

from __future__ import annotations

import dataclasses
import operator
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from klpcheck.model import Instance
from klpcheck.state import field_names

__all__ = [
    "ALL",
    "Paths",
    "covers",
    "describe_path",
    "leaves",
    "overlaps",
    "recorded_reads",
    "resolve",
    "with_leaf",
]

Path = tuple[Any, ...]
Paths = frozenset[Path] | None  # None: the whole state
ALL: Paths = None

_ITEM = re.compile(r"^([A-Za-z_]\w*)((?:\[[^\]]+\])*)$")
_INDEX = re.compile(r"\[([^\]]+)\]")


def resolve(footprint: frozenset[str] | None, params: dict[str, Any]) -> Paths:
    """Turn declared footprint strings into paths for one instance's parameters.

    An index that is negative or not an integer (a parameter bound to an enum, say)
    could name any element, so the path stops before it.

    Examples
    --------
    >>> sorted(resolve(frozenset({"pc[t]", "lock", "stack[t][0]"}), {"t": 2}))
    [('lock',), ('pc', 2), ('stack', 2, 0)]
    >>> sorted(resolve(frozenset({"pc[t]", "x[-1]"}), {"t": "a"}))
    [('pc',), ('x',)]
    >>> resolve(None, {}) is ALL
    True
    """
    if footprint is None:
        return ALL
    out = set()
    for item in footprint:
        m = _ITEM.match(item)
        if m is None:  # Model refuses these; stay safe anyway
            return ALL
        path: list[Any] = [m.group(1)]
        for index in _INDEX.findall(m.group(2)):
            value: Any = int(index) if index.lstrip("-").isdigit() else params[index]
            try:
                value = operator.index(value)  # IntEnum and bool name ints too
            except TypeError:
                break  # not a position: it could name any element
            if value < 0:
                break
            path.append(value)
        out.add(tuple(path))
    return frozenset(out)


def overlaps(a: Paths, b: Paths) -> bool:
    """True when some path of ``a`` and some path of ``b`` may name a common part.

    Examples
    --------
    >>> overlaps(frozenset({("pc", 0)}), frozenset({("pc",)}))
    True
    >>> overlaps(frozenset({("pc", 0)}), frozenset({("pc", 1), ("lock",)}))
    False
    """
    if a is None:
        return b is None or bool(b)
    if b is None:
        return bool(a)
    for p in a:
        for q in b:
            n = min(len(p), len(q))
            if p[:n] == q[:n]:
                return True
    return False


def covers(declared: Paths, path: Path) -> bool:
    """True when ``path`` lies inside one of the ``declared`` paths."""
    if declared is None:
        return True
    return any(path[: len(d)] == d for d in declared)


def describe_path(path: Path) -> str:
    """``("pc", 1)`` → ``pc[1]``; the empty path is the whole state."""
    if not path:
        return "the whole state"
    return str(path[0]) + "".join(f"[{i!r}]" for i in path[1:])


# -- leaves: a state as a flat map from paths to values ---------------------------------


def _is_plain_tuple(value: Any) -> bool:
    return isinstance(value, tuple) and not hasattr(value, "_fields")


def leaves(state: Any) -> dict[Path, Any]:
    """Every leaf of a named-field state: fields, and elements of tuple fields (nested).

    Examples
    --------
    >>> from typing import NamedTuple
    >>> class S(NamedTuple):
    ...     lock: int
    ...     pc: tuple[int, ...]
    >>> leaves(S(0, (1, (2, 3))))
    {('lock',): 0, ('pc', 0): 1, ('pc', 1, 0): 2, ('pc', 1, 1): 3}
    """
    out: dict[Path, Any] = {}

    def walk(path: Path, value: Any) -> None:
        if _is_plain_tuple(value) and value:
            for i, v in enumerate(value):
                walk((*path, i), v)
        else:
            out[path] = value

    for name in field_names(type(state)) or ():
        walk((name,), getattr(state, name))
    return out


def changed_paths(before: Any, after: Any) -> list[Path]:
    """The smallest paths whose values differ; a tuple whose length changed is one path."""
    out: list[Path] = []

    def walk(path: Path, a: Any, b: Any) -> None:
        if a == b:
            return
        if _is_plain_tuple(a) and _is_plain_tuple(b) and len(a) == len(b) and a:
            for i, (x, y) in enumerate(zip(a, b, strict=True)):
                walk((*path, i), x, y)
        else:
            out.append(path)

    for name in field_names(type(before)) or ():
        walk((name,), getattr(before, name), getattr(after, name))
    return out


def with_leaf(state: Any, path: Path, value: Any) -> Any:
    """``state`` with the part at ``path`` replaced by ``value`` (a new state).

    Examples
    --------
    >>> from typing import NamedTuple
    >>> class S(NamedTuple):
    ...     lock: int
    ...     pc: tuple[int, ...]
    >>> with_leaf(S(0, (1, 2)), ("pc", 1), 7)
    S(lock=0, pc=(1, 7))
    """

    def put(container: Any, rest: Path) -> Any:
        if not rest:
            return value
        i = rest[0]
        return (
            *container[:i],
            put(container[i], rest[1:]),
            *container[i + 1 :],
        )

    name = path[0]
    new = put(getattr(state, name), path[1:])
    if dataclasses.is_dataclass(state):
        return dataclasses.replace(state, **{name: new})  # type: ignore[type-var]
    return state._replace(**{name: new})


# -- the probe ---------------------------------------------------------------------------


class _ProbeTuple(tuple):  # type: ignore[type-arg]
    """A tuple field (or element) that logs reads: one element, or itself as a whole."""

    _path: Path
    _log: set[Path]

    def _whole(self) -> tuple[Any, ...]:
        self._log.add(self._path)
        return tuple(tuple.__iter__(self))

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return self._whole()[index]
        i = operator.index(index)
        value = tuple.__getitem__(self, i)
        if i < 0:
            i += tuple.__len__(self)
        return _wrap((*self._path, i), value, self._log)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._whole())

    def __reversed__(self) -> Iterator[Any]:
        return iter(self._whole()[::-1])

    def __len__(self) -> int:
        return len(self._whole())

    def __contains__(self, item: object) -> bool:
        return item in self._whole()

    def __hash__(self) -> int:
        return hash(self._whole())

    def __repr__(self) -> str:
        return repr(self._whole())

    def __str__(self) -> str:
        return str(self._whole())

    def __format__(self, spec: str) -> str:
        return format(self._whole(), spec)

    def count(self, value: Any) -> int:
        return self._whole().count(value)

    def index(self, value: Any, *args: Any) -> int:
        return self._whole().index(value, *args)

    def __add__(self, other: Any) -> Any:
        return self._whole() + _plain(other)

    def __radd__(self, other: Any) -> Any:
        return _plain(other) + self._whole()

    def __mul__(self, n: Any) -> Any:
        return self._whole() * n

    __rmul__ = __mul__

    def __reduce__(self) -> Any:
        return (tuple, (self._whole(),))


def _plain(value: Any) -> Any:
    return value._whole() if isinstance(value, _ProbeTuple) else value


def _compare(op: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    def method(self: _ProbeTuple, other: Any) -> Any:
        return op(self._whole(), _plain(other))

    return method


for _name, _op in [
    ("__eq__", operator.eq),
    ("__ne__", operator.ne),
    ("__lt__", operator.lt),
    ("__le__", operator.le),
    ("__gt__", operator.gt),
    ("__ge__", operator.ge),
]:
    setattr(_ProbeTuple, _name, _compare(_op))


def _wrap(path: Path, value: Any, log: set[Path]) -> Any:
    """Log ``path`` unless ``value`` is a plain tuple, which logs its own reads."""
    if _is_plain_tuple(value):
        t = _ProbeTuple(value)
        t._path = path
        t._log = log
        return t
    log.add(path)
    return value


class _Probe:
    """Stands in for a named-field state: field reads are logged, anything else logs ``()``."""

    __slots__ = ("__fields", "__log", "__state")

    def __init__(self, state: Any, fields: tuple[str, ...], log: set[Path]) -> None:
        self.__state = state
        self.__fields = fields
        self.__log = log

    def __getattr__(self, name: str) -> Any:
        if name in self.__fields:
            return _wrap((name,), getattr(self.__state, name), self.__log)
        self.__log.add(())
        return getattr(self.__state, name)

    def __getitem__(self, index: Any) -> Any:  # NamedTuple states: s[0]
        if isinstance(index, int) and -len(self.__fields) <= index < len(self.__fields):
            return getattr(self, self.__fields[index])
        self.__log.add(())
        return self.__state[index]

    @property  # type: ignore[misc]
    def __class__(self) -> type:  # isinstance(s, State) still works
        self.__log.add(())
        return type(self.__state)

    def _everything(self) -> Any:
        self.__log.add(())
        return self.__state


def _forward(name: str) -> Callable[..., Any]:
    def method(self: _Probe, *args: Any) -> Any:
        real = self._everything()
        return getattr(real, name)(*(_unprobe(a) for a in args))

    return method


def _unprobe(value: Any) -> Any:
    return value._everything() if isinstance(value, _Probe) else value


for _name in (
    "__eq__",
    "__ne__",
    "__lt__",
    "__le__",
    "__gt__",
    "__ge__",
    "__hash__",
    "__iter__",
    "__len__",
    "__contains__",
    "__repr__",
    "__str__",
    "__format__",
    "__bool__",
    "__reversed__",
):
    setattr(_Probe, _name, _forward(_name))


def recorded_reads(
    guard: Callable[..., bool], state: Any, args: tuple[Any, ...]
) -> tuple[bool, frozenset[Path]] | None:
    """Evaluate ``guard(state, *args)`` on a probe; return its value and the paths it read.

    The log holds ``()`` when the guard touched the state as a whole (called a method,
    compared it, iterated it). Returns None when the state has no named fields or the
    probe raised, i.e. when nothing can be learned.

    Examples
    --------
    >>> from typing import NamedTuple
    >>> class S(NamedTuple):
    ...     lock: int
    ...     pc: tuple[int, ...]
    >>> value, paths = recorded_reads(
    ...     lambda s, t: s.pc[t] == 0 and s.lock == 0, S(1, (0, 2)), (1,)
    ... )
    >>> value, sorted(paths)
    (False, [('pc', 1)])
    """
    names = field_names(type(state))
    if names is None:
        return None
    log: set[Path] = set()
    try:
        value = bool(guard(_Probe(state, names, log), *args))
    except Exception:
        return None
    return value, frozenset(log)


def instance_paths(instance: Instance) -> tuple[Paths, Paths]:
    """The resolved (reads, writes) of an instance; an item written counts as read."""
    params = instance.step.params(instance.args)
    reads = resolve(instance.step.reads, params)
    writes = resolve(instance.step.writes, params)
    if reads is not None and writes is not None:
        reads = reads | writes
    elif writes is None:
        reads = ALL
    return reads, writes


def property_paths(reads: frozenset[str] | None) -> Paths:
    """The resolved reads of a property (``None``: it may read anything)."""
    return resolve(reads, {})


def all_paths(items: Iterable[Paths]) -> Paths:
    """The union of several path sets; ``ALL`` absorbs everything."""
    out: set[Path] = set()
    for p in items:
        if p is None:
            return ALL
        out |= p
    return frozenset(out)
