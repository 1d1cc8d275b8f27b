"""States as JSON: a generic encoding, a canonical form, and differences between two.

States are encoded generically, so any state klpcheck accepts can be saved:

- ``None``, ``bool``, ``int``, ``str`` and finite ``float`` as themselves;
- a tuple as a JSON array;
- an enum member as ``{"$enum": "Class.MEMBER"}``;
- a frozenset as ``{"$frozenset": [...]}``, elements sorted by their encoding;
- a dataclass as ``{"$dataclass": "Class", "field": ..., ...}`` and a NamedTuple as
  ``{"$namedtuple": "Class", "field": ..., ...}`` (fields in declaration order);
- ``bytes`` as ``{"$bytes": "hex"}``.

Replay compares encodings, never decoded objects: a saved state matches when the
re-executed state encodes to the same JSON (``true`` and ``1`` differ).
"""

from __future__ import annotations

import dataclasses
import json
import math
from enum import Enum
from typing import Any

from klpcheck.base.errors import TraceError
from klpcheck.base.result import Trace
from klpcheck.trace.lanes import is_namedtuple

__all__ = [
    "JSON",
    "TAGS",
    "canonical",
    "describe_diff",
    "diff_encodings",
    "encode",
    "encode_trace",
    "param_value",
    "show_encoded",
]

JSON = Any  # a value json.loads can return
TAGS = ("$enum", "$frozenset", "$dataclass", "$namedtuple", "$bytes")


def encode(value: Any, where: str = "state") -> JSON:
    """Encode a state (or any value inside one) as JSON-compatible data.

    Raises
    ------
    TraceError
        The value has a type the format cannot hold; ``where`` names the field.

    Examples
    --------
    >>> import enum
    >>> class Pc(enum.Enum):
    ...     IDLE = "idle"
    >>> encode((Pc.IDLE, frozenset({2, 1}), None))
    [{'$enum': 'Pc.IDLE'}, {'$frozenset': [1, 2]}, None]
    """
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, Enum):
        return {"$enum": f"{type(value).__qualname__}.{value.name}"}
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise TraceError(f"{where} is {value!r}, which JSON cannot hold")
        return value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out: dict[str, JSON] = {"$dataclass": type(value).__qualname__}
        for f in dataclasses.fields(value):
            out[f.name] = encode(getattr(value, f.name), f"{where}.{f.name}")
        return out
    if is_namedtuple(value):
        out = {"$namedtuple": type(value).__qualname__}
        for name, v in zip(value._fields, value, strict=True):
            out[name] = encode(v, f"{where}.{name}")
        return out
    if isinstance(value, tuple):
        return [encode(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, frozenset):
        items = [encode(v, f"{where} element") for v in value]
        return {"$frozenset": sorted(items, key=canonical)}
    if isinstance(value, bytes):
        return {"$bytes": value.hex()}
    raise TraceError(
        f"{where} is a {type(value).__name__}, which a counterexample file cannot hold; "
        "states saved as JSON may contain None, bool, int, float, str, bytes, tuples, "
        "frozensets, enums, dataclasses and NamedTuples"
    )


def canonical(data: JSON) -> str:
    """One string per encoding, for comparing and sorting (``true`` differs from ``1``)."""
    return json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def param_value(value: Any) -> JSON:
    """A build() parameter as the loader can parse it back: enums by name."""
    if isinstance(value, Enum):
        return value.name.lower()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return encode(value, "parameter")


def encode_trace(trace: Trace) -> dict[str, JSON]:
    """``{"init": state, "steps": [{"step", "params", "state"}, ...]}``."""
    return {
        "init": encode(trace.init, "initial state"),
        "steps": [
            {
                "step": s.step,
                "params": {k: encode(v, f"parameter {k}") for k, v in s.params.items()},
                "state": encode(s.state, f"state after step {i}"),
            }
            for i, s in enumerate(trace.steps, 1)
        ],
    }


# -- differences between encodings ------------------------------------------------


def _leaves(data: JSON, name: str, out: dict[str, JSON]) -> None:
    if isinstance(data, list):
        for i, v in enumerate(data):
            _leaves(v, f"{name}[{i}]", out)
        if not data:
            out[name] = data
    elif isinstance(data, dict) and ("$dataclass" in data or "$namedtuple" in data):
        tag = "$dataclass" if "$dataclass" in data else "$namedtuple"
        out[f"{name}<type>" if name else "<type>"] = data[tag]
        for k, v in data.items():
            if k != tag:
                _leaves(v, f"{name}.{k}" if name else k, out)
    else:
        out[name or "value"] = data


def diff_encodings(saved: JSON, got: JSON) -> list[tuple[str, JSON, JSON]]:
    """The fields where two encoded states differ: ``(field, saved, replayed)``.

    Examples
    --------
    >>> a = {"$dataclass": "S", "flag": False, "pc": ["idle", "saw"]}
    >>> b = {"$dataclass": "S", "flag": True, "pc": ["idle", "crit"]}
    >>> diff_encodings(a, b)
    [('flag', False, True), ('pc[1]', 'saw', 'crit')]
    """
    a: dict[str, JSON] = {}
    b: dict[str, JSON] = {}
    _leaves(saved, "", a)
    _leaves(got, "", b)
    keys = list(a) + [k for k in b if k not in a]
    missing = {"$missing": True}
    return [
        (k, a.get(k, missing), b.get(k, missing))
        for k in keys
        if canonical(a.get(k, missing)) != canonical(b.get(k, missing))
    ]


def show_encoded(data: JSON) -> str:
    """An encoded value as an error message shows it: enum members by name."""
    if isinstance(data, dict):
        if "$missing" in data:
            return "(absent)"
        if "$enum" in data:
            return str(data["$enum"]).rsplit(".", 1)[-1]
    return canonical(data) if not isinstance(data, str) else repr(data)


def describe_diff(diff: list[tuple[str, JSON, JSON]], limit: int = 4) -> str:
    """``fields differ: pc[1] (saved 'saw', replayed 'crit'), …``."""
    parts = [
        f"{k} (saved {show_encoded(a)}, replayed {show_encoded(b)})"
        for k, a, b in diff[:limit]
    ]
    more = f" and {len(diff) - limit} more" if len(diff) > limit else ""
    return "fields differ: " + ", ".join(parts) + more
