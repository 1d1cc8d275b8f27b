"""How a search stores visited states: exactly, or as 64-bit fingerprints.

Exact storage (the default) keys the visited map by the states themselves, or by an
equivalent tuple of their fields (:func:`exact_key`); nothing can be missed. Fingerprint storage keys it by :mod:`klpcheck.model.fingerprint` values and links each
fingerprint to its parent's in a :class:`~klpcheck.model.fptable.FingerprintTable`, so a state
costs about 32 bytes of table whatever its size;
traces are rebuilt by re-executing steps from an initial state along the recorded
fingerprints. A collision of two fingerprints would hide a state: the result carries TLC's
estimate of that probability as a note.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Hashable
from operator import attrgetter
from typing import Any, Protocol

from klpcheck.base.errors import ModelError
from klpcheck.base.result import Trace, TraceStep
from klpcheck.model.definition import Model
from klpcheck.model.fingerprint import fingerprint, fingerprinter
from klpcheck.model.fptable import new_table

__all__ = [
    "Visited",
    "exact_key",
    "fingerprint_function",
    "hash_key",
    "new_visited",
    "rebuild_trace",
    "state_key",
]


Key = Callable[[Any], Hashable]


class Visited(Protocol):
    """The visited map: each visited key with its parent's key (None for initial states)."""

    def __contains__(self, key: Any) -> bool: ...
    def __setitem__(self, key: Any, parent: Any) -> None: ...
    def __getitem__(self, key: Any) -> Any: ...
    def __len__(self) -> int: ...


def new_visited(storage: str) -> Visited:
    """An empty visited map: a dict, or a :class:`FingerprintTable` for fingerprints."""
    return new_table() if storage == "fingerprint" else {}


def state_key(model: Model[Any], storage: str, symmetry: bool = False) -> Key | None:
    """The function from a state to its key in the visited map; None for the state itself.

    With ``symmetry`` (and a model that declares one) the key is that of the state's
    orbit (:func:`klpcheck.reduce.symmetry.orbit_key`).
    """
    base = exact_key(model) if storage == "exact" else fingerprint_function(model)
    if symmetry and model.renaming is not None:
        from klpcheck.reduce.symmetry import orbit_key

        return orbit_key(model, base, storage)
    return base


def exact_key(model: Model[Any]) -> Key | None:
    """A key equal for two states exactly when the states are equal, and cheaper to hash.

    A dataclass's generated ``__hash__`` and ``__eq__`` run as Python code on every lookup;
    the tuple ``(class, *compared fields)`` hashes and compares in C and means the same:
    the generated ``__eq__`` compares the class, then those fields as a tuple. Any other
    state type, or a dataclass whose ``__eq__`` was written by hand, keys by itself.
    """
    if len(model.state_types) != 1:
        return None
    (kind,) = model.state_types
    params = getattr(kind, "__dataclass_params__", None)
    eq = kind.__dict__.get("__eq__")
    code = getattr(eq, "__code__", None)
    # dataclasses compiles the methods it generates from a string; a hand-written
    # __eq__ has a real file name.
    if (
        params is None
        or not params.eq
        or code is None
        or code.co_filename != "<string>"
    ):
        return None
    names = [f.name for f in dataclasses.fields(kind) if f.compare]
    return attrgetter("__class__", *names)


def fingerprint_function(model: Model[Any]) -> Callable[[Any], int]:
    """The fingerprint function every process of a search of ``model`` uses."""
    if len(model.state_types) == 1:
        (only,) = model.state_types
        return fingerprinter(only)
    return fingerprint


def hash_key(model: Model[Any], symmetry: bool) -> Callable[[Any], int]:
    """The 64-bit hash of a state (of its orbit, with ``symmetry``) that workers share.

    The one place the search with workers gets its hash function from: the fingerprint
    of :func:`fingerprint_function`, stable across processes and machines.
    """
    key = state_key(model, "fingerprint", symmetry)
    assert key is not None
    return key  # type: ignore[return-value]


def rebuild_trace(
    model: Model[Any],
    key: Key | None,
    chain: list[Hashable],
    hints: list[int] | None = None,
) -> Trace:
    """Re-execute steps from an initial state along ``chain``, a list of visited keys.

    At each state the first enabled instance, in instance order, whose successor has the
    next key is taken; with exact storage that is the step the old explorer reported.
    ``hints[i]``, when given, is the index of the instance recorded as leading to
    ``chain[i + 1]``: it is tried first (under symmetry the state reached may be
    another member of the recorded parent's orbit, where another instance leads on).
    """
    key_of: Key = key if key is not None else (lambda s: s)
    state = next(s for s in model.init if key_of(s) == chain[0])
    init, steps = state, []
    instances = model.instances()
    for i, want in enumerate(chain[1:]):
        order = instances
        if hints is not None and 0 <= hints[i] < len(instances):
            order = (instances[hints[i]], *instances)
        for inst in order:
            guard, effect, args = inst.step.guard, inst.step.effect, inst.args
            if guard is not None and not guard(state, *args):
                continue
            ns = effect(state, *args)
            if key_of(ns) == want:
                step = inst.step
                steps.append(TraceStep(step.name, step.params(args), ns, step.doc))
                state = ns
                break
        else:
            if key is None:
                shown = repr(want)
            elif isinstance(want, tuple):  # an exact key: the class, then the fields
                shown = f"{want[0].__name__}{want[1:]!r}"
            else:
                shown = f"the state with fingerprint {want:#x}"
            raise ModelError(
                f"model `{model.name}` is not deterministic: no step leads again from "
                f"{state!r} to {shown}; guards and effects must be pure functions of the state"
            )
    return Trace(init, tuple(steps))
