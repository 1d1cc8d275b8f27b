"""Footprints as paths: declared reads and writes resolved per instance, and a recording probe.

A *path* names a part of a state: ``("pc",)`` is the whole field ``pc``, ``("pc", 1)`` its
element 1, ``("stack", 1, 2)`` an element of a nested tuple. Two paths *overlap* when one is
a prefix of the other. ``ALL`` stands for "the whole state" (a footprint that was not
declared).

The probe (:func:`recorded_reads`) evaluates a guard on a stand-in for the state that logs
every path the guard looks at. Because a guard is a deterministic function of what it
reads, a guard that was false stays false as long as none of the logged paths changes:
that is what the necessary enabling sets of :mod:`klpcheck.reduce.por` are built from.
"""

from __future__ import annotations

import builtins
import collections
import dataclasses
import dis
import functools
import inspect
import operator
import re
import sys
import types
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from klpcheck.base.errors import ModelError
from klpcheck.model.definition import Instance
from klpcheck.model.state import field_names

__all__ = [
    "ALL",
    "Paths",
    "access_plan",
    "bound_args",
    "complete_reads",
    "covers",
    "describe_path",
    "effective_reads",
    "leaves",
    "overlaps",
    "part_at",
    "plain_fields",
    "provable_fields",
    "recorded_reads",
    "resolve",
    "shown",
    "static_reads",
    "undeclared_write",
    "unseen_read",
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


def _by_items(value: Any) -> bool:
    """True when ``value`` is a tuple whose items are what indexing and iterating it
    give: a subclass may compute ``t[0]`` from other items (then it is one part)."""
    kind = type(value)
    return isinstance(value, tuple) and all(
        getattr(kind, name) is getattr(tuple, name)
        for name in ("__getitem__", "__iter__", "__len__")
    )


def _is_plain_tuple(value: Any) -> bool:
    return _by_items(value) and not hasattr(value, "_fields")


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
    """The smallest paths whose values differ; a tuple whose length changed is one path.

    A value is unchanged when it is the same object or an equal one (a NaN kept is not
    a change). Tuples of one type and length, NamedTuples included, are compared
    element by element, as a footprint such as ``cfg[0]`` names their elements, unless
    their type indexes or iterates in its own way (``t[0]`` could depend on ``t[1]``).
    """
    out: list[Path] = []

    def walk(path: Path, a: Any, b: Any) -> None:
        if a is b or a == b:
            return
        if _by_items(a) and type(a) is type(b) and len(a) == len(b) and a:
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


# -- undeclared writes -------------------------------------------------------------------


def part_at(state: Any, path: Path) -> Any:
    """The value at ``path`` in a named-field state."""
    value = getattr(state, path[0])
    for i in path[1:]:
        value = value[i]
    return value


def shown(footprint: frozenset[str] | None) -> str:
    """A declared footprint as written in a message."""
    if footprint is None:
        return "(not declared: everything)"
    return "{" + ", ".join(repr(x) for x in sorted(footprint)) + "}"


def bound_args(inst: Instance | None) -> str:
    """`` (here t=1)`` for an instance with parameters."""
    if inst is None or not inst.args:
        return ""
    bound = ", ".join(f"{k}={v!r}" for k, v in inst.step.params(inst.args).items())
    return f" (here {bound})"


_REDUCTION_TRUSTS = (
    "Partial-order reduction treats steps whose footprints do not meet as independent, "
    "so an undeclared write can hide a violation."
)


def undeclared_write(
    inst: Instance, s: Any, ns: Any, *, prefix: str = "", why: str = _REDUCTION_TRUSTS
) -> ModelError | None:
    """The error for the first part ``inst`` changed from ``s`` to ``ns`` outside its
    declared writes (compared by value, as :func:`changed_paths` does); None if none."""
    if type(ns) is not type(s):
        return None  # a wrong type is reported by the search itself
    writes = instance_paths(inst)[1]
    for path in changed_paths(s, ns):
        if not covers(writes, path):
            return ModelError(
                f"{prefix}step {inst.label()} changed {describe_path(path)} "
                f"({part_at(s, path)!r} → {part_at(ns, path)!r}) but declares "
                f"writes={shown(inst.step.writes)}{bound_args(inst)}; in state "
                f"{s!r:.300}. Declare every part a step may change: add "
                f"{describe_path(path)!r}"
                f"{f' or its field {path[0]!r}' if len(path) > 1 else ''} to writes=. "
                f"{why}"
            )
    return None


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


# -- the proven probe: a read log that is complete by construction -------------------
#
# The probe above logs what it can intercept, and C code that reads a tuple's items
# directly (``"%d%d" % s.p``), ``type(s)`` or ``s is x`` read without being logged. Its
# log is fine for an audit, which only ever raises an error, but not for a reduction,
# where a missed read drops the step that would enable a guard. The probe below is used
# only where a look at the guard's bytecode proves that the state can be reached in one
# way alone: ``s.field``, possibly subscripted at once (``s.pc[t]``). Every such access
# is logged, the stand-in for the state never reaches any other code, and what the guard
# computes from the values it was handed is what it computes on the real state.

_INDEX_LOADS = frozenset({"LOAD_FAST", "LOAD_CONST", "LOAD_DEREF", "LOAD_GLOBAL"})
_LOCAL_LOADS = frozenset({"LOAD_FAST", "LOAD_FAST_CHECK"})
# Names through which code can reach a caller's frame (and so the state) without
# naming it. A helper that the guard calls could still do so; no model needs that.
_FRAME_NAMES = frozenset(
    {
        "locals",
        "vars",
        "eval",
        "exec",
        "globals",
        "_getframe",
        "currentframe",
        "f_locals",
        "f_back",
        "inspect",
        "get_referrers",
        "_current_frames",
        "settrace",
        "setprofile",
    }
)


# For proven reads, which trust nothing else, also the names through which code gets
# hold of a frame, a traceback or any live object (then ``getattr(frame, name)``), and
# the attribute getters that take a computed name. A string constant naming one of
# them (``getattr(e, "__traceback__")``) counts too.
_PEEK_NAMES = _FRAME_NAMES | frozenset(
    {
        "getattr",
        "attrgetter",
        "__getattribute__",
        "__traceback__",
        "tb_frame",
        "gi_frame",
        "cr_frame",
        "ag_frame",
        "exc_info",
        "exception",
        "last_traceback",
        "last_exc",
        "walk_stack",
        "walk_tb",
        "extract_stack",
        "StackSummary",
        "TracebackException",
        "get_objects",
        "get_referents",
        "__import__",
        "import_module",
        "breakpoint",
        "set_trace",
        "getargvalues",  # inspect's, on a frame got some other way
        "getouterframes",
        "getinnerframes",
        "modules",  # sys.modules[...]: a module got by a computed name
        "__builtins__",
        "__globals__",
        "__dict__",
        "ctypes",
        "pythonapi",
    }
)
_MAX_REACHED = 256  # functions named, through globals and closures, from a guard


def _is_subscript(ins: dis.Instruction) -> bool:
    if ins.opname == "BINARY_SUBSCR":
        return True
    return ins.opname == "BINARY_OP" and ins.argrepr == "[]"


def _code_names(code: types.CodeType) -> set[str]:
    names = set(code.co_names) | set(code.co_varnames) | set(code.co_freevars)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _code_names(const)
    return names


@functools.cache
def _loaded_names(code: types.CodeType) -> tuple[frozenset[str], bool]:
    """The global and attribute names ``code`` and the code nested in it use, and
    whether it names a way to a frame (:data:`_PEEK_NAMES`, as a name or a string
    constant) or rebinds a global or a closure variable it shares with the code around
    it (:func:`_rebinds`; a comprehension that assigns a local of ``code`` does not)."""
    names, strings = _names_and_strings(code)
    peeks = bool(_rebinds(code)) or bool((strings | _code_names(code)) & _PEEK_NAMES)
    return names, peeks


@functools.cache
def _names_and_strings(code: types.CodeType) -> tuple[frozenset[str], frozenset[str]]:
    """The global and attribute names and the string constants in ``code`` and the
    code nested in it."""
    names = set(code.co_names)
    strings = {c for c in code.co_consts if isinstance(c, str)}
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            inner_names, inner_strings = _names_and_strings(const)
            names |= inner_names
            strings |= inner_strings
    return frozenset(names), frozenset(strings)


def _library(module: Any) -> bool:
    """True for Python's own modules: their code is not looked into."""
    return (
        isinstance(module, str) and module.partition(".")[0] in sys.stdlib_module_names
    )


def _may_peek(fn: Any) -> bool:
    """:func:`_peeks`, answered once per guard rather than once per instance (a
    callable object without a hash, each time)."""
    try:
        hash(fn)
    except TypeError:
        return _peeks(fn)
    return _peeks_once(fn)


def _peeks(fn: Any) -> bool:
    """True when ``fn``, or a Python function its code names through its globals and
    closure (as bound now, and so on from there), could reach a caller's frame, and so
    the state without being handed it (``def peek(): return sys._getframe(1)...``), or
    rebinds a global or a closure variable; also when there are too many to look at."""
    seen: set[int] = set()
    todo = [fn]
    while todo:
        f = todo.pop()
        if id(f) in seen:
            continue
        if isinstance(f, types.MethodType | staticmethod | classmethod):
            todo.append(f.__func__)
            continue
        if isinstance(f, functools.partial):
            todo += [f.func, *f.args, *f.keywords.values()]
            continue
        if isinstance(f, property):
            todo += [f.fget, f.fset, f.fdel]
            continue
        if isinstance(f, type):  # its methods and its bases', but the library's
            seen.add(id(f))
            todo += [
                v
                for c in f.__mro__
                if not _library(c.__module__)
                for v in vars(c).values()
                if not isinstance(v, type)
                and not _library(getattr(v, "__module__", None))
            ]
            continue
        if type(f) is not types.FunctionType:
            todo.append(type(f))  # an object: its methods, ``__call__`` among them
            wrapped = getattr(f, "__wrapped__", None)  # functools.lru_cache(...)(f)
            if wrapped is not None:
                todo.append(wrapped)
            continue
        seen.add(id(f))
        if len(seen) > _MAX_REACHED:
            return True
        names, peeks = _loaded_names(f.__code__)
        if peeks:
            return True
        todo += [*(f.__defaults__ or ()), *(f.__kwdefaults__ or {}).values()]
        found = [f.__globals__[n] for n in names if n in f.__globals__]
        modules: set[int] = set()
        while found:
            value = found.pop()
            if not isinstance(value, types.ModuleType):
                todo.append(value)
            elif id(value) not in modules:  # helpers.peek(), pkg.helpers.peek()
                modules.add(id(value))
                found += [vars(value)[m] for m in names if m in vars(value)]
        for cell in f.__closure__ or ():
            try:
                todo.append(cell.cell_contents)
            except ValueError:  # not bound yet
                continue
    return False


_peeks_once = functools.lru_cache(maxsize=4096)(_peeks)


@functools.cache
def access_plan(
    code: types.CodeType, fields: tuple[str, ...]
) -> dict[str, bool] | None:
    """How a guard's code reaches its state, if provably only through its fields.

    Returns a map from each field the code names to True when every access to it is
    subscripted at once by a simple index (``s.pc[t]``, ``s.pc[0]``), else False (the
    field's value as a whole reaches other code); None when the state can reach code
    in any other way (``type(s)``, ``f(s)``, ``s[0]``, a method, a closure over ``s``,
    a frame lookup), in which case nothing observed can be trusted.

    Examples
    --------
    >>> plan = lambda f: access_plan(f.__code__, ("pc", "lock", "p"))
    >>> plan(lambda s, t: s.pc[t] == 1 and s.lock == 0)
    {'pc': True, 'lock': False}
    >>> plan(lambda s: "%d%d" % s.p == "11")
    {'p': False}
    >>> plan(lambda s: type(s) is tuple) is None
    True
    """
    if code.co_argcount < 1 or code.co_flags & (
        inspect.CO_GENERATOR | inspect.CO_COROUTINE | inspect.CO_ASYNC_GENERATOR
    ):
        return None
    name = code.co_varnames[0]
    if name in code.co_cellvars or _code_names(code) & _FRAME_NAMES:
        return None
    insts = [i for i in dis.get_instructions(code) if i.opname != "CACHE"]
    plan: dict[str, bool] = {}
    for k, ins in enumerate(insts):
        argval = ins.argval
        names_it = argval == name or (isinstance(argval, tuple) and name in argval)
        if not names_it or ins.opname in {"LOAD_CONST", "LOAD_GLOBAL", "LOAD_ATTR"}:
            continue
        if ins.opname not in _LOCAL_LOADS or argval != name:
            return None  # stored, deleted, or loaded together with another local
        attr = insts[k + 1] if k + 1 < len(insts) else None
        if (
            attr is None
            or attr.opname != "LOAD_ATTR"
            or attr.argval not in fields
            or (sys.version_info >= (3, 12) and (attr.arg or 0) & 1)  # a method load
        ):
            return None
        subscripted = (
            k + 3 < len(insts)
            and insts[k + 2].opname in _INDEX_LOADS
            and insts[k + 2].argval != name
            and not (
                insts[k + 2].opname == "LOAD_GLOBAL" and (insts[k + 2].arg or 0) & 1
            )
            and _is_subscript(insts[k + 3])
        )
        plan[attr.argval] = plan.get(attr.argval, True) and subscripted
    return plan


class _Elements:
    """A tuple field that is only ever subscripted: logs the element path it hands out."""

    __slots__ = ("_log", "_path", "_value")

    def __init__(self, path: Path, value: tuple[Any, ...], log: set[Path]) -> None:
        self._path = path
        self._value = value
        self._log = log

    def __getitem__(self, index: Any) -> Any:
        value = self._value[index]  # raises as the real tuple would
        if isinstance(index, slice):
            self._log.add(self._path)
            return value
        i = operator.index(index)
        if i < 0:
            i += len(self._value)
        self._log.add((*self._path, i))
        return value


class _Fields:
    """The stand-in for a state whose guard reaches it only through ``s.field``."""

    __slots__ = ("_k_log", "_k_plan", "_k_state")

    def __init__(self, state: Any, plan: dict[str, bool], log: set[Path]) -> None:
        object.__setattr__(self, "_k_state", state)
        object.__setattr__(self, "_k_plan", plan)
        object.__setattr__(self, "_k_log", log)

    def __getattribute__(self, name: str) -> Any:
        state = object.__getattribute__(self, "_k_state")
        plan = object.__getattribute__(self, "_k_plan")
        log = object.__getattribute__(self, "_k_log")
        value = getattr(state, name)
        if plan[name] and _is_plain_tuple(value):
            return _Elements((name,), value, log)
        log.add((name,))
        return value


def complete_reads(
    guard: Callable[..., Any], state: Any, args: tuple[Any, ...]
) -> tuple[bool, frozenset[Path]] | None:
    """``guard(state, *args)`` and every path it read, when the log is provably complete.

    None when :func:`access_plan` cannot prove that the state reaches the guard only
    through its fields, when the guard is not a plain function, or when it raised:
    the caller must then rely on the declared reads. An empty log is complete too: the
    guard did not look at the state, so its value cannot change while ``args`` stay.

    Examples
    --------
    >>> from typing import NamedTuple
    >>> class S(NamedTuple):
    ...     lock: int
    ...     pc: tuple[int, ...]
    >>> value, paths = complete_reads(
    ...     lambda s, t: s.pc[t] == 0 and s.lock == 0, S(1, (0, 2)), (1,)
    ... )
    >>> value, sorted(paths)
    (False, [('pc', 1)])
    >>> complete_reads(lambda s: "%d%d" % s.pc == "02", S(1, (0, 2)), ())
    (True, frozenset({('pc',)}))
    >>> complete_reads(lambda s: type(s) is S and s.lock == 1, S(1, (0, 2)), ()) is None
    True
    """
    fields = provable_fields(type(state))  # a field behind a property: not provable
    if fields is None or type(guard) is not types.FunctionType:
        return None
    plan = access_plan(guard.__code__, fields)
    if plan is None:
        return None
    log: set[Path] = set()
    try:
        value = bool(guard(_Fields(state, plan, log), *args))
    except Exception:
        return None
    return value, frozenset(log)


# -- reads seen in the code: a static check of declared reads ----------------------------


def static_reads(
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    fields: tuple[str, ...],
    *,
    follow: bool = True,
) -> frozenset[Path] | None:
    """The parts of the state ``fn(state, *args)`` names in its code, if that is provable.

    The state must reach code in two ways alone: as ``s.field`` (possibly subscripted at
    once, as :func:`access_plan` proves), or passed whole, among plain names and
    constants, to a function named by a global or a closure variable (``runs(s, t)``),
    whose own code is followed in the same way (up to eight calls deep; the function is
    the one that name is bound to now). Anything else (``type(s)``, ``s[0]``, a method,
    ``f(*xs)``, a closure over ``s``, a frame lookup, code that rebinds a global or a
    closure variable it shares with the code around it) gives None, and so does a guard
    from which a Python function that does so is named, through globals and closures,
    even if it is never handed the state (a helper could read the caller's frame); the
    functions looked at include those of modules, parameters' defaults, and the methods
    of classes and of objects' classes, bases included, but not Python's own library. Each ``s.field[i]``
    counts as element ``i`` when ``i`` is an integer constant, a parameter bound to one
    (by the caller, and never assigned) or a closure variable holding one, else as the
    whole field, and so on down (``s.stack[t][0]``); a field not subscripted at once
    counts whole. Code that never runs is counted too: this is what ``fn`` may read.
    With ``follow=False`` a call that is handed the state gives None.

    Examples
    --------
    >>> f = lambda s, t: s.pc[t] == 0 and not s.lock and s.q[0] > s.q[-1] + s.st[t][1]
    >>> sorted(static_reads(f, (2,), ("pc", "lock", "q", "st")))
    [('lock',), ('pc', 2), ('q',), ('q', 0), ('st', 2, 1)]
    >>> def idle(s, t):
    ...     return s.pc[t] == 0
    >>> g = lambda s, t: idle(s, 1) and s.lock == t
    >>> sorted(static_reads(g, (0,), ("pc", "lock")))
    [('lock',), ('pc', 1)]
    >>> static_reads(lambda s: len(str(s)) > 3, (), ("pc",)) is None
    True
    """
    if _may_peek(fn):
        return None
    return _reads_in(fn, 0, (_MISSING, *args), fields, () if follow else None)


def provable_fields(state_type: type | None) -> tuple[str, ...] | None:
    """The fields :func:`static_reads` may prove reads of, for states of
    ``state_type``: None when ``s.field`` may read more than that field
    (:func:`plain_fields`), and then no read is proven."""
    if state_type is None or not plain_fields(state_type):
        return None
    return field_names(state_type)


def effective_reads(
    declared: Paths,
    fn: Callable[..., Any] | None,
    args: tuple[Any, ...],
    fields: tuple[str, ...] | None,
    trust: bool = True,
) -> Paths:
    """What a guard or property ``fn(state, *args)`` is taken to read by a search that
    skips work on it (partial-order reduction, incremental enabledness).

    ``trust``: its ``declared`` reads, widened by the reads proven from its code
    (:func:`static_reads`; ``fields`` from :func:`provable_fields`), so that a read the
    code shows is never left out, even through a helper, and a declaration stays
    trusted only where the code cannot be read; without a declaration, the proven
    reads. ``trust=False``: the proven reads alone, or everything.

    >>> pc = lambda s, t: s.pc[t] == 0
    >>> sorted(effective_reads(frozenset({("lock",)}), pc, (1,), ("pc", "lock")))
    [('lock',), ('pc', 1)]
    >>> effective_reads(frozenset({("lock",)}), pc, (1,), None)
    frozenset({('lock',)})
    >>> effective_reads(frozenset({("lock",)}), pc, (1,), ("pc", "lock"), trust=False)
    frozenset({('pc', 1)})
    """
    proven = None if fields is None or fn is None else static_reads(fn, args, fields)
    if proven is None:
        return declared if trust else ALL
    if not trust or declared is None:  # None: ALL, declared nothing
        return proven
    return declared | proven


_FIELD_GETTERS = (
    types.MemberDescriptorType,  # a slot (Record, a dataclass with slots=True)
    type(vars(collections.namedtuple("_Pair", "x"))["x"]),  # a NamedTuple's item
)


@functools.cache
def plain_fields(state_type: type) -> bool:
    """Whether ``s.f``, for ``s`` of ``state_type``, reads field ``f`` and nothing else,
    as :func:`static_reads` takes it to.

    It does unless a class of the model's own (not ``object`` or ``tuple``) defines
    ``__getattribute__`` or ``__getattr__``, or a field is found on the class as
    something other than a slot, a NamedTuple's item or a plain default value (a
    subclass's ``@property a`` that returns ``self[0] + self[1]`` reads ``b`` too).

    >>> from typing import NamedTuple
    >>> class Pair(NamedTuple):
    ...     a: int
    ...     b: int
    >>> class Summed(Pair):
    ...     @property
    ...     def a(self) -> int:
    ...         return self[0] + self[1]
    >>> plain_fields(Pair), plain_fields(Summed)
    (True, False)
    """
    fields = field_names(state_type)
    if fields is None:
        return False
    mro = state_type.__mro__
    for hook in ("__getattribute__", "__getattr__"):
        owner = next((c for c in mro if hook in vars(c)), object)
        if owner is not object and owner is not tuple:
            return False
    for name in fields:
        found = next((vars(c)[name] for c in mro if name in vars(c)), None)
        if not isinstance(found, _FIELD_GETTERS) and hasattr(type(found), "__get__"):
            return False
    return True


_MISSING = object()
_MAX_CALLS = 8  # helpers followed one inside another
_PLAIN_LOADS = frozenset({"LOAD_FAST", "LOAD_FAST_CHECK", "LOAD_CONST", "LOAD_DEREF"})
_CELL_OPS = frozenset({"MAKE_CELL", "LOAD_CLOSURE", "COPY_FREE_VARS"})
_NOT_CALLABLE = (
    inspect.CO_VARARGS
    | inspect.CO_VARKEYWORDS
    | inspect.CO_GENERATOR
    | inspect.CO_COROUTINE
    | inspect.CO_ASYNC_GENERATOR
)


@dataclasses.dataclass(frozen=True)
class _Scope:
    """A code object being read, and where its names' values come from.

    ``state`` is the state's name there (a parameter, or a closure variable of a
    comprehension or lambda nested in the function that has it); ``bound`` holds the
    parameters whose values are known; ``free(name)`` is what a closure variable holds
    now (``_MISSING`` when it is not fixed before the code runs)."""

    code: types.CodeType
    state: str
    bound: dict[str, Any]
    free: Callable[[str], Any]
    globals: dict[str, Any]


def _reads_in(
    fn: Any,
    at: int,
    args: tuple[Any, ...],
    fields: tuple[str, ...],
    outer: tuple[Any, ...] | None,
) -> frozenset[Path] | None:
    """:func:`static_reads` of ``fn`` whose parameter ``at`` is the state, its other
    parameters holding ``args`` (``_MISSING`` where not known); ``outer``: the code
    objects being read around it (None: calls are not followed)."""
    if type(fn) is not types.FunctionType:
        return None
    code = fn.__code__
    if (
        code.co_flags & _NOT_CALLABLE
        or code.co_kwonlyargcount
        or not at < code.co_argcount == len(args)
    ):
        return None
    names = code.co_varnames[: code.co_argcount]
    bound = {
        name: value
        for name, value in zip(names, args, strict=True)
        if value is not _MISSING and name not in _assigned(code)
    }
    closure = fn.__closure__ or ()
    cells = dict(zip(code.co_freevars, closure, strict=True))

    def free(name: str) -> Any:
        try:
            return cells[name].cell_contents
        except (KeyError, ValueError):
            return _MISSING

    scope = _Scope(code, names[at], bound, free, fn.__globals__)
    return _reads_of(scope, fields, outer)


def _reads_of(
    scope: _Scope, fields: tuple[str, ...], outer: tuple[Any, ...] | None
) -> frozenset[Path] | None:
    """The paths ``scope``'s code names, following calls and nested code."""
    code = scope.code
    if outer is not None and (code in outer or len(outer) > _MAX_CALLS):
        return None
    uses = _state_uses(code, scope.state, fields)
    if uses is None:
        return None
    insts = _instructions(code)

    def known(at: int) -> Any:
        """The value the one-instruction load at ``at`` pushes, if fixed beforehand."""
        ins = insts[at]
        if ins.opname == "LOAD_CONST":
            return ins.argval
        if ins.opname in _LOCAL_LOADS:
            return scope.bound.get(ins.argval, _MISSING)
        if ins.opname == "LOAD_DEREF" and ins.argval not in code.co_cellvars:
            return scope.free(ins.argval)
        return _MISSING

    out: set[Path] = set()
    for use in uses:
        if isinstance(use, types.CodeType):  # a comprehension or lambda using the state
            if outer is None:
                return None

            def free(name: str, cellvars: tuple[str, ...] = code.co_cellvars) -> Any:
                return _MISSING if name in cellvars else scope.free(name)

            nested = _Scope(use, scope.state, {}, free, scope.globals)
            inner = _reads_of(nested, fields, (*outer, code))
        elif use[1] < 0:  # s.field, then each index fixed before the code runs
            k = use[0]
            path: Path = (insts[k + 1].argval,)
            j = k + 2
            while j + 1 < len(insts) and _is_subscript(insts[j + 1]):
                index = known(j)
                if not isinstance(index, int):
                    break  # an object's __index__ may answer differently each time
                i = int.__index__(index)  # a plain int, whatever the subclass says
                if i < 0:
                    break
                path = (*path, i)
                j += 2
            out.add(path)
            continue
        else:  # f(..., s, ...): f's own code, its parameters bound where known
            if outer is None:
                return None
            k, callee_at, loads = use
            callee_ins = insts[callee_at]
            if callee_ins.opname == "LOAD_GLOBAL":
                name = callee_ins.argval
                callee = scope.globals.get(name, getattr(builtins, name, None))
            else:
                callee = known(callee_at)
            values = tuple(_MISSING if a < 0 else known(a) for a in loads)
            inner = _reads_in(callee, loads.index(k), values, fields, (*outer, code))
        if inner is None:
            return None
        out |= inner
    return frozenset(out)


_Use = tuple[int, int, tuple[int, ...]] | types.CodeType


@functools.cache
def _state_uses(
    code: types.CodeType, state: str, fields: tuple[str, ...]
) -> tuple[_Use, ...] | None:
    """Every way ``code`` reaches the state named ``state``, if each one is provably
    ``s.field`` (``(position, -1, ())``), ``s`` as one argument of a plain call
    (``(position, callee's load, argument loads)``, see :func:`_calls`), or a nested
    code object that has ``s`` as a closure variable (that code object); None when the
    state may reach code in any other way (stored, returned, ``type(s)``, ``s[0]``, a
    method, a frame lookup, or code that rebinds a global or a closure variable it
    shares with the code around it)."""
    if _code_names(code) & _PEEK_NAMES or _rebinds(code):
        return None
    in_cell = state in code.co_cellvars or state in code.co_freevars
    loads = {"LOAD_DEREF"} if in_cell else _LOCAL_LOADS
    insts = _instructions(code)
    calls = _calls(code)
    uses: list[_Use] = []
    for k, ins in enumerate(insts):
        argval = ins.argval
        names_it = argval == state or (isinstance(argval, tuple) and state in argval)
        if not names_it or ins.opname in {"LOAD_CONST", "LOAD_GLOBAL", "LOAD_ATTR"}:
            continue
        if in_cell and ins.opname in _CELL_OPS:
            continue  # the cell is made, or handed to a nested code object (below)
        if ins.opname not in loads or argval != state:
            return None  # stored, deleted, or loaded together with another local
        attr = insts[k + 1] if k + 1 < len(insts) else None
        if (
            attr is not None
            and attr.opname == "LOAD_ATTR"
            and attr.argval in fields
            and not (sys.version_info >= (3, 12) and (attr.arg or 0) & 1)
        ):
            uses.append((k, -1, ()))
        elif k in calls:
            uses.append((k, *calls[k]))
        else:
            return None
    if in_cell:
        uses += [
            const
            for const in code.co_consts
            if isinstance(const, types.CodeType) and state in const.co_freevars
        ]
    return tuple(uses)


@functools.cache
def _calls(code: types.CodeType) -> dict[int, tuple[int, tuple[int, ...]]]:
    """The plain calls in ``code``: for each argument that is a value one load pushed
    and nothing touched before the call, its load → (the callee's load, per argument
    the load that pushed it, or -1 for a value computed there).

    A plain call is ``f(...)`` with ``f`` a global or a closure variable, positional
    arguments built by the few instructions whose stack use is known (loads, attribute
    loads, subscripts, operators, comparisons, f-strings, tuples, nested calls; no
    jump, no jump target), and nothing below the callee touched before the call. The
    stack is simulated slot by slot, so a value an instruction consumed (``not s``,
    ``g(s)``) is not an argument of ``f``.
    """
    insts = _instructions(code)
    out: dict[int, tuple[int, tuple[int, ...]]] = {}
    for c, ins in enumerate(insts):
        if ins.opname == "LOAD_GLOBAL" and (ins.arg or 0) & 1:  # pushes NULL, then f
            start = c
        elif ins.opname == "LOAD_DEREF" and c and insts[c - 1].opname == "PUSH_NULL":
            start = c - 1
        else:
            continue
        if any(i.is_jump_target for i in insts[start + 1 : c + 1]):
            continue  # the NULL below f must be this call's (else f gets a self)
        stack = [-1, c]  # per slot, the one load that pushed it (-1: computed)
        for j in range(c + 1, len(insts)):
            at = insts[j]
            effect = _stack_use(at)
            if effect is None or at.is_jump_target:
                break
            pops, pushes = effect
            if pops > len(stack) - 2:  # reaches the callee: only its own call may
                n = len(stack) - 2
                if not (
                    at.opname == "CALL"
                    and at.arg == n
                    and (
                        sys.version_info >= (3, 12) or insts[j - 1].opname == "PRECALL"
                    )
                    and insts[j - 1].opname != "KW_NAMES"
                    and insts[j - 2].opname != "KW_NAMES"
                ):
                    break
                args = tuple(stack[2:])
                for a in args:
                    if a >= 0:
                        out[a] = (c, args)
                break
            if pops:
                del stack[-pops:]
            one = pushes == 1 and pops == 0 and at.opname in _PLAIN_LOADS
            stack += [j if one else -1] * pushes
    return out


def _stack_use(ins: dis.Instruction) -> tuple[int, int] | None:
    """(values popped, values pushed) for the instructions :func:`_calls` allows."""
    name, arg = ins.opname, ins.arg or 0
    if name in _PLAIN_LOADS or name == "PUSH_NULL":
        return 0, 1
    if name == "LOAD_GLOBAL":
        return 0, 1 + (arg & 1)
    if name == "LOAD_ATTR":
        return 1, 1 + (arg & 1 if sys.version_info >= (3, 12) else 0)
    if name == "LOAD_METHOD":
        return 1, 2
    if name in _TWO_TO_ONE:
        return 2, 1
    if name in _ONE_TO_ONE:
        return 1, 1
    if name == "FORMAT_VALUE":
        return 1 + bool(arg & 0x04), 1
    if name in _N_TO_ONE:
        return arg, 1
    if name in {"PRECALL", "KW_NAMES", "NOP"}:
        return 0, 0
    if name == "CALL":
        return arg + 2, 1
    return None


_TWO_TO_ONE = frozenset(
    {"BINARY_SUBSCR", "BINARY_OP", "COMPARE_OP", "IS_OP", "CONTAINS_OP"}
)
_ONE_TO_ONE = frozenset(
    {"UNARY_NOT", "UNARY_NEGATIVE", "UNARY_POSITIVE", "UNARY_INVERT"}
)
_N_TO_ONE = frozenset(
    {"BUILD_TUPLE", "BUILD_LIST", "BUILD_SET", "BUILD_STRING", "BUILD_SLICE"}
)


_GLOBAL_STORES = frozenset(
    {"STORE_GLOBAL", "DELETE_GLOBAL", "STORE_ATTR", "DELETE_ATTR"}
)


@functools.cache
def _rebinds(code: types.CodeType) -> frozenset[tuple[str, str]]:
    """The globals (``("global", name)``), attributes (``("global", name)`` too: a
    module's attribute is a global) and the closure variables shared with the code
    around ``code`` (``("free", name)``) that ``code`` or code nested in it assigns or
    deletes.

    Callees and indices are read from globals and closure cells as they are when the
    search starts; code that rebinds them itself (``nonlocal k; k = 2`` before
    ``s.pc[k]``, ``sys.modules[__name__].f = g`` before ``f(s)``) would read other
    parts than the ones found.
    """
    out: set[tuple[str, str]] = set()
    for ins in _instructions(code):
        if ins.opname in _GLOBAL_STORES:
            out.add(("global", ins.argval))
        elif (
            ins.opname in {"STORE_DEREF", "DELETE_DEREF"}
            and ins.argval in code.co_freevars
        ):
            out.add(("free", ins.argval))
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            out |= {
                (kind, name)
                for kind, name in _rebinds(const)
                if kind == "global" or name in code.co_freevars
            }
    return frozenset(out)


def _assigned(code: types.CodeType) -> frozenset[str]:
    return frozenset(
        i.argval
        for i in _instructions(code)
        if i.opname in {"STORE_FAST", "DELETE_FAST", "STORE_DEREF", "DELETE_DEREF"}
    )


@functools.cache
def _instructions(code: types.CodeType) -> list[dis.Instruction]:
    return [i for i in dis.get_instructions(code) if i.opname != "CACHE"]


def unseen_read(
    instances: Iterable[Instance],
    properties: Iterable[Any],
    fields: tuple[str, ...],
) -> ModelError | None:
    """The error for a guard or property whose code names a part outside its declared
    reads (no declared path overlaps it); None when there is none.

    Only guards and properties that :func:`static_reads` can follow are looked at; a
    declaration narrower than what the code names (``stack[t][0]`` for ``s.stack[t]``)
    overlaps it and passes. Checked before a search that trusts reads (partial-order
    reduction, incremental enabledness), so that a guard written as ``s.field[i]`` never
    has to wait for ``--audit`` to be caught.
    """
    for inst in instances:
        guard = inst.step.guard
        declared = instance_paths(inst)[0]
        if guard is None or declared is None:
            continue
        seen = static_reads(guard, inst.args, fields, follow=False)
        for path in sorted(seen or (), key=repr):
            if not overlaps(frozenset({path}), declared):
                return ModelError(
                    f"the guard of step {inst.label()} reads {describe_path(path)} "
                    f"(its code names it), but the step declares "
                    f"reads={shown(inst.step.reads)}, writes={shown(inst.step.writes)}"
                    f"{bound_args(inst)}. Partial-order reduction and incremental "
                    f"enabledness trust reads=, so an undeclared read can hide a "
                    f"violation: add {describe_path(path)!r}"
                    f"{f' or its field {path[0]!r}' if len(path) > 1 else ''} to reads="
                )
    for prop in properties:
        declared = property_paths(prop.reads)
        if declared is None:
            continue
        seen = static_reads(prop.predicate, (), fields, follow=False)
        for path in sorted(seen or (), key=repr):
            if not overlaps(frozenset({path}), declared):
                return ModelError(
                    f"{prop.kind} {prop.name} reads {describe_path(path)} (its code "
                    f"names it), but declares reads={shown(prop.reads)}. Incremental "
                    "enabledness and partial-order reduction check a property only after "
                    "steps that write what it declares it reads: add "
                    f"{describe_path(path)!r}"
                    f"{f' or its field {path[0]!r}' if len(path) > 1 else ''} to reads="
                )
    return None
