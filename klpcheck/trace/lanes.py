"""How a trace is laid out: kernel references, shown values, changed fields, and lanes.

Pure functions shared by the terminal tables (``render.py``), the Mermaid export
(``mermaid.py``) and the reports. A *lane* is the actor a step belongs to: a task, a CPU,
or the admin side (steps without parameters). Lanes are derived from parameter names:
``t``, ``task``, ``tid`` and ``pid`` name tasks, ``cpu`` names CPUs, and any other first
parameter names a lane of its own (``r=0`` for a resource manager).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from klpcheck.base.result import Trace, TraceStep
from klpcheck.model.state import fields_of

__all__ = [
    "ADMIN",
    "Lane",
    "LanePlan",
    "changes",
    "flat_fields",
    "flatten",
    "is_namedtuple",
    "kernel_ref",
    "lane_of",
    "lane_plan",
    "short_ref",
    "show",
    "source_lane",
]

_REF = re.compile(r"((?:[\w.+-]+/)+[\w.+-]+\.(?:c|h|S|s|rs|go|py)):\s*(.*)")
_FUNC = re.compile(r"[A-Za-z_]\w*(?:\(\))?")
_TASK = ("t", "task", "tid", "pid")
_CPU = ("cpu",)


def kernel_ref(doc: str) -> str | None:
    """The first ``path/file.c: function()`` reference of a step's docstring.

    Examples
    --------
    >>> kernel_ref("Reads the flag.\\n\\nkernel/livepatch/patch.c: klp_ftrace_handler(): x")
    'kernel/livepatch/patch.c: klp_ftrace_handler()'
    >>> kernel_ref("arch/x86/kernel/entry.S: ftrace_caller restores ip")
    'arch/x86/kernel/entry.S: ftrace_caller'
    >>> kernel_ref("No reference here.") is None
    True
    """
    for line in doc.splitlines():
        m = _REF.search(line)
        if m is None:
            continue
        func = _FUNC.match(m.group(2).strip("` "))
        return f"{m.group(1)}: {func.group(0)}" if func else m.group(1)
    return None


def short_ref(ref: str) -> str:
    """``kernel/livepatch/patch.c: f()`` → ``patch.c: f()``, for narrow tables."""
    path, sep, rest = ref.partition(": ")
    return path.rsplit("/", 1)[-1] + sep + rest


def show(value: Any) -> str:
    """A value as traces show it: enum members by name, containers element-wise.

    Examples
    --------
    >>> import enum
    >>> class Pc(enum.Enum):
    ...     IDLE = "idle"
    >>> show((Pc.IDLE, None)), show(frozenset({2, 1})), show("saw")
    ('(IDLE, None)', '{1, 2}', "'saw'")
    """
    if isinstance(value, Enum):
        return value.name
    if is_namedtuple(value) or (
        dataclasses.is_dataclass(value) and not isinstance(value, type)
    ):
        inner = ", ".join(f"{k}={show(v)}" for k, v in fields_of(value).items())
        return f"{type(value).__name__}({inner})"
    if isinstance(value, tuple):
        if type(value).__repr__ is not tuple.__repr__:
            return repr(value)  # a tuple subclass that says how it wants to be shown
        inner = ", ".join(show(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, frozenset):
        return "{" + ", ".join(sorted(show(v) for v in value)) + "}"
    return repr(value)


def is_namedtuple(value: Any) -> bool:
    """A NamedTuple instance (not merely a tuple subclass with a ``_fields``)."""
    kind = type(value)
    return (
        isinstance(value, tuple)
        and isinstance(getattr(kind, "_fields", None), tuple)
        and hasattr(kind, "_asdict")
    )


def _flatten(name: str, value: Any, out: dict[str, Any]) -> None:
    """Tuples become one entry per element (``pc[0]``, ``pc[1]``) so diffs stay small.

    A tuple type with a ``_fields`` attribute (a NamedTuple, or a model's own tuple
    subclass that asks for it) stays one entry."""
    if isinstance(value, tuple) and not hasattr(value, "_fields"):
        for i, v in enumerate(value):
            _flatten(f"{name}[{i}]", v, out)
    else:
        out[name] = value


def flatten(name: str, value: Any) -> dict[str, Any]:
    """One field split into its tuple elements: ``pc`` → ``pc[0]``, ``pc[1]``."""
    out: dict[str, Any] = {}
    _flatten(name, value, out)
    return out


def flat_fields(state: Any) -> dict[str, Any]:
    """Every field of a state, tuples split into elements.

    Examples
    --------
    >>> flat_fields((1, (2, 3)))
    {'[0]': 1, '[1][0]': 2, '[1][1]': 3}
    """
    out: dict[str, Any] = {}
    for k, v in fields_of(state).items():
        _flatten(k, v, out)
    return out


_MISSING = object()


def changes(before: Any, after: Any) -> list[tuple[str, Any, Any]]:
    """The fields that differ between two states, element-wise inside tuples.

    A tuple that grew or shrank is shown whole, old and new.

    Examples
    --------
    >>> changes((0, ("a", "b")), (0, ("a", "c")))
    [('[1][1]', 'b', 'c')]
    >>> changes((0, ()), (0, (7,)))
    [('[1]', (), (7,))]
    """
    a, b = fields_of(before), fields_of(after)
    out: list[tuple[str, Any, Any]] = []
    for k in list(a) + [k for k in b if k not in a]:
        _diff(k, a.get(k, _MISSING), b.get(k, _MISSING), out)
    return [
        (k, None if x is _MISSING else x, None if y is _MISSING else y)
        for k, x, y in out
    ]


def _split(value: Any) -> bool:
    return isinstance(value, tuple) and not hasattr(value, "_fields")


def _diff(name: str, a: Any, b: Any, out: list[tuple[str, Any, Any]]) -> None:
    """What ``_flatten`` would show differently, with a resized tuple kept whole."""
    if _split(a) and _split(b) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _diff(f"{name}[{i}]", x, y, out)
    elif a != b:
        out.append((name, a, b))


# -- lanes ----------------------------------------------------------------------------


@dataclass(frozen=True, order=True, slots=True)
class Lane:
    """An actor of a trace: kind ``""`` is the admin side, ``("task", "0")`` a task."""

    rank: int
    kind: str
    value: str

    @property
    def title(self) -> str:
        """``admin``, ``task 0``, ``CPU 1`` or ``r=2``."""
        if self.kind == "":
            return "admin"
        if self.kind in ("task", "CPU"):
            return f"{self.kind} {self.value}"
        return f"{self.kind}={self.value}"

    @property
    def ident(self) -> str:
        """A short identifier safe in diagrams: ``admin``, ``task0``, ``cpu1``, ``r2``."""
        if self.kind == "":
            return "admin"
        raw = f"{self.kind.lower()}{self.value}"
        return re.sub(r"\W", "_", raw)


ADMIN = Lane(0, "", "")


def _lane_param(names: Sequence[str]) -> tuple[str, str] | None:
    """The parameter that names a step's lane and the lane kind; tasks before CPUs."""
    for group, kind in ((_TASK, "task"), (_CPU, "CPU")):
        for n in names:
            if n.lower() in group:
                return n, kind
    return (names[0], names[0]) if names else None


def _lane(params: Mapping[str, Any], param: tuple[str, str] | None) -> Lane:
    if param is None:
        return ADMIN
    name, kind = param
    rank = {"task": 2, "CPU": 1}.get(kind, 3)
    return Lane(rank, kind, show(params[name]))


def lane_of(params: Mapping[str, Any]) -> Lane:
    """The lane of a step with these parameters (tasks first, then CPUs, then others).

    Examples
    --------
    >>> lane_of({"cpu": 1, "t": 0}).title, lane_of({}).title, lane_of({"r": 2}).title
    ('task 0', 'admin', 'r=2')
    """
    return _lane(params, _lane_param(list(params)))


def source_lane(params: Mapping[str, Any]) -> Lane:
    """Where a step comes from in a sequence diagram: a CPU that acts on a task."""
    names = list(params)
    cpu = next((n for n in names if n.lower() in _CPU), None)
    if cpu is not None:
        return _lane(params, (cpu, "CPU"))
    return lane_of(params)


def _lane_sort_key(lane: Lane) -> tuple[int, str, int, str]:
    v = lane.value
    return (lane.rank, lane.kind, int(v) if v.lstrip("-").isdigit() else 0, v)


_INDEXED = re.compile(r"^([^\[]+)\[(-?\d+)\](.*)$")


@dataclass(frozen=True)
class LanePlan:
    """Which lanes a trace has and which tuple fields are indexed by a lane's value.

    ``fields`` maps a field name to the lane kind whose value indexes it (``pc`` →
    ``task`` when ``pc[t]`` is what task ``t`` changes).
    """

    lanes: tuple[Lane, ...]
    fields: dict[str, str]

    def owner(self, key: str) -> tuple[Lane, str] | None:
        """The lane a flattened field belongs to and its name there, e.g.
        ``pc[1]`` → (task 1, ``pc``); None for a shared field."""
        m = _INDEXED.match(key)
        if m is None or m.group(1) not in self.fields:
            return None
        kind = self.fields[m.group(1)]
        for lane in self.lanes:
            if lane.kind == kind and lane.value == m.group(2):
                return lane, m.group(1) + m.group(3)
        return None

    def label(self, step: TraceStep) -> str:
        """The step's label without the parameter its lane already names."""
        param = _lane_param(list(step.params))
        rest = {k: v for k, v in step.params.items() if param is None or k != param[0]}
        inner = ", ".join(f"{k}={show(v)}" for k, v in rest.items())
        return f"{step.step}({inner})" if inner else step.step


def lane_plan(trace: Trace) -> LanePlan:
    """Derive the lanes of a trace and its lane-indexed fields from what steps change.

    A tuple field is lane-indexed when some step of lane k changes its element k and no
    step of a lane changes an element of another lane of the same kind.
    """
    lanes = {lane_of(s.params) for s in trace.steps}
    seen: dict[str, set[str]] = {}
    bad: set[tuple[str, str]] = set()
    prev = trace.init
    for step in trace.steps:
        lane = lane_of(step.params)
        for key, _, _ in changes(prev, step.state):
            m = _INDEXED.match(key)
            if m is None or lane.kind == "":
                continue
            if m.group(2) == lane.value:
                seen.setdefault(m.group(1), set()).add(lane.kind)
            else:
                bad.add((m.group(1), lane.kind))
        prev = step.state
    fields = {}
    for name, kinds in seen.items():
        ok = sorted(k for k in kinds if (name, k) not in bad)
        if ok:
            fields[name] = ok[0]
    ordered = sorted(lanes, key=_lane_sort_key)
    return LanePlan(tuple(ordered), fields)
