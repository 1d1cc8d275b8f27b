"""What a state may be, how to list its fields, and small helpers to build new states."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Hashable
from typing import Any, TypeVar

from klpcheck.base.errors import ModelError
from klpcheck.base.native import speedups

__all__ = ["describe_unhashable", "fields_of", "set_at", "validate_state"]

T = TypeVar("T")


def set_at(items: tuple[T, ...], index: int, value: T) -> tuple[T, ...]:
    """Return ``items`` with the element at ``index`` replaced by ``value``.

    Examples
    --------
    >>> set_at(("idle", "idle", "idle"), 1, "busy")
    ('idle', 'busy', 'idle')
    """
    return items[:index] + (value,) + items[index + 1 :]  # noqa: RUF005 (faster)


_python_set_at = set_at
_native = speedups()
if _native is not None:
    # The same function in C (one tuple built, no slices): the effects of a model
    # call it on every transition.
    set_at = _native.set_at


def fields_of(state: object) -> dict[str, Any]:
    """The named fields of a state, in declaration order.

    Dataclasses and NamedTuples give their fields; a plain tuple gives ``[0]``, ``[1]``, …;
    any other value is one field named ``value``.

    Examples
    --------
    >>> fields_of((3, 0))
    {'[0]': 3, '[1]': 0}
    """
    if dataclasses.is_dataclass(state) and not isinstance(state, type):
        return {f.name: getattr(state, f.name) for f in dataclasses.fields(state)}
    names = getattr(type(state), "_fields", None)
    if isinstance(state, tuple) and names is not None:
        return dict(zip(names, state, strict=True))
    if isinstance(state, tuple):
        return {f"[{i}]": v for i, v in enumerate(state)}
    return {"value": state}


def field_names(state_type: type) -> tuple[str, ...] | None:
    """Field names of a dataclass or NamedTuple state type; None when it has none.

    Cached: the reduction asks once per guard it probes, and ``dataclasses.fields``
    walks every field each time.
    """
    return _field_names(state_type)


@functools.cache
def _field_names(state_type: type) -> tuple[str, ...] | None:
    if dataclasses.is_dataclass(state_type):
        return tuple(f.name for f in dataclasses.fields(state_type))
    names = getattr(state_type, "_fields", None)
    return tuple(names) if names is not None else None


def describe_unhashable(state: object) -> str | None:
    """Say why ``state`` cannot be hashed, naming the field; None when it hashes."""
    try:
        hash(state)
    except TypeError:
        pass
    else:
        return None
    kind = type(state).__name__
    if dataclasses.is_dataclass(state) and type(state).__hash__ is None:
        return f"{kind} is a dataclass without frozen=True; declare it @dataclass(frozen=True)"
    if isinstance(state, list | dict | set):
        return (
            f"the state is a `{kind}` (unhashable); use a frozen dataclass, a "
            f"NamedTuple or {_HINT[kind]}"
        )
    for name, value in fields_of(state).items():
        where, inner = _unhashable_part(name, value)
        if inner is None:
            continue
        vt = type(inner).__name__
        fix = _HINT.get(vt, "an immutable value")
        if where == name:
            return f"field `{name}` of {kind} is a `{vt}` (unhashable); use {fix}"
        return f"field `{name}` of {kind} holds a `{vt}` at {where} (unhashable); use {fix}"
    return f"{kind} is not hashable; states must be immutable values"


_HINT = {"list": "a tuple", "dict": "a tuple of pairs", "set": "a frozenset"}


def _unhashable_part(where: str, value: object) -> tuple[str, object | None]:
    """The innermost unhashable element of ``value`` and where it is, e.g.
    ``("pc[1]", [0])``; ``(where, None)`` when ``value`` hashes."""
    try:
        hash(value)
    except TypeError:
        pass
    else:
        return where, None
    if isinstance(value, tuple) and getattr(type(value), "_fields", None) is None:
        for i, item in enumerate(value):
            inner_where, inner = _unhashable_part(f"{where}[{i}]", item)
            if inner is not None:
                return inner_where, inner
    return where, value


def validate_state(state: Hashable, what: str) -> Hashable:
    """Check that ``state`` can be a state; raise ModelError naming ``what`` otherwise."""
    problem = describe_unhashable(state)
    if problem is not None:
        raise ModelError(f"{what}: {problem}")
    params = getattr(type(state), "__dataclass_params__", None)
    if params is not None and not params.frozen:
        raise ModelError(
            f"{what}: {type(state).__name__} is a mutable dataclass; "
            "declare it @dataclass(frozen=True)"
        )
    return state
