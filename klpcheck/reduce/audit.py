"""The footprint audit (``--audit``): do steps and properties stay inside their footprints?

Partial-order reduction (:mod:`klpcheck.reduce.por`) trusts the declared ``reads=`` and
``writes=``. The audit checks them while the search runs:

- **writes**, exactly: every part a fired step changed must lie inside its declared
  writes;
- **reads of guards and properties**, exactly on the path evaluated: each guard and
  property is also evaluated on a probe that logs what it reads
  (:func:`klpcheck.model.footprint.recorded_reads`);
- **reads of guards and effects, by perturbation** (sampled): a part of the state that
  the step neither reads nor writes by its declaration is changed to another value of the
  same type (preferably one seen there in another state); the guard must give the same
  answer and the effect must make the same change.

A difference is a :class:`~klpcheck.base.errors.ModelError` naming the step, the part and the
state. A perturbation never gives a false alarm: if the step really did not look at the
part, it behaves identically. Sampling can miss a wrong declaration; it cannot invent one.
"""

from __future__ import annotations

import random
from collections.abc import Hashable, Sequence
from enum import Enum
from typing import Any

from klpcheck.base.errors import ModelError
from klpcheck.model.definition import Instance, Model
from klpcheck.model.footprint import (
    Paths,
    bound_args,
    covers,
    describe_path,
    instance_paths,
    leaves,
    property_paths,
    recorded_reads,
    shown,
    undeclared_write,
    with_leaf,
)
from klpcheck.model.state import field_names

__all__ = ["Auditor"]

_POOL = 6  # distinct values remembered per part of the state
_MISSING = object()


class Auditor:
    """Checks fired steps and evaluated guards and properties against their footprints.

    Parameters
    ----------
    model
        The model being searched.
    samples
        Perturbations tried per fired step, per property in each state, and the number
        of disabled guards perturbed in each state.
    seed
        Seed of the sampling, so that a run is reproducible.
    """

    def __init__(self, model: Model[Any], samples: int = 2, seed: int = 0) -> None:
        self.model = model
        self.instances = model.instances()
        self.named = all(field_names(t) is not None for t in model.state_types)
        paths = [instance_paths(i) for i in self.instances]
        self.reads: list[Paths] = [r for r, _ in paths]
        self.writes: list[Paths] = [w for _, w in paths]
        self.props = [
            (p, property_paths(p.reads)) for p in model.invariants + model.reachables
        ]
        self.samples = samples
        self.rng = random.Random(seed)
        self.pool: dict[tuple[Any, ...], list[Any]] = {}
        # per state shape (its leaf paths), per footprint: the paths outside it
        self._outside: dict[tuple[Any, ...], dict[Any, list[tuple[Any, ...]]]] = {}
        self.checked = 0
        self.perturbed = 0

    def summary(self) -> str:
        """One line for the CLI."""
        if not self.named:
            return "footprint audit skipped: states have no named fields"
        return (
            f"footprint audit: {self.checked:,} fired steps matched their declared "
            f"writes; {self.perturbed:,} perturbations of undeclared parts changed no "
            "guard, effect or property"
        )

    # -- hooks called by the expander ---------------------------------------------------

    def state(self, s: Hashable, enabled: Sequence[int]) -> None:
        """Audit the guards and properties evaluated in ``s``."""
        if not self.named:
            return
        flat = leaves(s)
        for path, value in flat.items():
            seen = self.pool.setdefault(path, [])
            if len(seen) < _POOL and value not in seen:
                seen.append(value)
        on = set(enabled)
        disabled = []
        for inst in self.instances:
            guard = inst.step.guard
            if guard is None:
                continue
            self._probe(inst.label(), "guard of step", guard, s, inst.args, inst)
            if inst.index not in on:
                disabled.append(inst)
        for inst in self.rng.sample(disabled, min(self.samples, len(disabled))):
            for path, old, new, s2 in self._perturbations(s, flat, inst.index):
                got = _truth(inst.step.guard, s2, inst.args)
                if got is not False:
                    raise self._read_error(inst, path, old, new, s, "guard", got)
        for prop, reads in self.props:
            self._probe(prop.name, prop.kind, prop.predicate, s, (), None, reads)
            if reads is None:
                continue
            for path, old, new, s2 in self._perturbations(s, flat, None, reads):
                got = _truth(prop.predicate, s2, ())
                if got is not bool(prop.predicate(s)):
                    raise ModelError(
                        f"footprint audit: {prop.kind} `{prop.name}` reads "
                        f"{describe_path(path)}, which its reads="
                        f"{shown(prop.reads)} leaves out: changing it from {old!r} to "
                        f"{new!r} in state {s!r:.300} changed its value. Add "
                        f"{path[0]!r} to reads=. Reduction makes only steps that write "
                        "what a property reads visible; an undeclared read can hide a "
                        "violation."
                    )

    def fired(self, k: int, s: Hashable, ns: Hashable) -> None:
        """Audit one fired step ``s -> ns``."""
        if not self.named or type(ns) is not type(s):
            return  # a wrong type is reported by the search itself
        inst = self.instances[k]
        self.checked += 1
        error = undeclared_write(inst, s, ns, prefix="footprint audit: ")
        if error is not None:
            raise error
        for path, old, new, s2 in self._perturbations(s, leaves(s), k):
            guard = inst.step.guard
            if guard is not None:
                got = _truth(guard, s2, inst.args)
                if got is not True:
                    raise self._read_error(inst, path, old, new, s, "guard", got)
            expected = with_leaf(ns, path, new)
            got = _call(inst.step.effect, s2, inst.args)
            if got != expected:
                raise self._read_error(inst, path, old, new, s, "effect", got)

    # -- helpers -----------------------------------------------------------------------

    def _perturbations(
        self,
        s: Any,
        flat: dict[tuple[Any, ...], Any],
        k: int | None,
        reads: Paths = None,
    ) -> list[tuple[tuple[Any, ...], Any, Any, Any]]:
        """Sampled (part, old value, new value, perturbed state) outside a footprint."""
        if k is not None:
            reads = self.reads[k]
        if reads is None:
            return []
        shape = self._outside.setdefault(tuple(flat), {})
        key = k if k is not None else reads
        outside = shape.get(key)
        if outside is None:
            outside = shape[key] = [p for p in flat if not covers(reads, p)]
        out = []
        for path in self.rng.sample(outside, min(self.samples, len(outside))):
            old = flat[path]
            new = self._other_value(path, old)
            if new is _MISSING:
                continue
            try:
                s2 = with_leaf(s, path, new)
            except Exception:
                continue  # the state type refused the value: nothing to learn
            self.perturbed += 1
            out.append((path, old, new, s2))
        return out

    def _other_value(self, path: tuple[Any, ...], old: Any) -> Any:
        """Another value for a part: one seen there before, else one of the same type."""
        seen = [v for v in self.pool.get(path, ()) if v != old and type(v) is type(old)]
        if seen:
            return self.rng.choice(seen)
        if isinstance(old, bool):
            return not old
        if isinstance(old, Enum):
            members = list(type(old))
            return members[(members.index(old) + 1) % len(members)]
        if isinstance(old, int):
            return old + 1
        if isinstance(old, float):
            return old + 1.0
        if isinstance(old, str):
            return old + "′"
        return _MISSING

    def _probe(
        self,
        name: str,
        kind: str,
        fn: Any,
        s: Any,
        args: tuple[Any, ...],
        inst: Instance | None,
        reads: Paths = None,
    ) -> None:
        """Exact check on the evaluated path: what the probe logged must be declared."""
        if inst is not None:
            reads = self.reads[inst.index]
        if reads is None:
            return
        probe = recorded_reads(fn, s, args)
        if probe is None or probe[0] is not bool(fn(s, *args)):
            return  # the probe could not follow this function
        for path in sorted(probe[1], key=repr):
            # () means "called a method or compared the whole state": the probe cannot
            # see inside, so only the perturbations below judge it.
            if path and not covers(reads, path):
                declared = inst.step.reads if inst is not None else None
                raise ModelError(
                    f"footprint audit: the {kind} {name} read {describe_path(path)} in "
                    f"state "
                    f"{s!r:.300}, outside its declared reads="
                    f"{shown(declared) if inst is not None else _paths(reads)}"
                    f"{bound_args(inst) if inst is not None else ''}. Add it to reads= "
                    "(a guard's reads count as the step's reads); reduction decides "
                    "which steps are independent from the declarations alone."
                )

    def _read_error(
        self,
        inst: Instance,
        path: tuple[Any, ...],
        old: Any,
        new: Any,
        s: Any,
        what: str,
        got: Any,
    ) -> ModelError:
        if isinstance(got, _Raised):
            outcome = f"made it raise {got}"
        elif what == "guard":
            outcome = f"turned its guard {'on' if got else 'off'}"
        else:
            outcome = f"changed what it writes (it returned {got!r:.200})"
        return ModelError(
            f"footprint audit: step {inst.label()} reads {describe_path(path)} without "
            f"declaring it: in state {s!r:.300}, changing {describe_path(path)} from "
            f"{old!r} to {new!r} {outcome}. It declares reads="
            f"{shown(inst.step.reads)}, writes={shown(inst.step.writes)}"
            f"{bound_args(inst)}. Add {describe_path(path)!r} or its field {path[0]!r} to "
            "reads=: partial-order reduction treats steps whose footprints do not meet "
            "as independent, so an undeclared read can hide a violation."
        )


class _Raised:
    """A call that raised: it depended on the perturbed part."""

    def __init__(self, exc: Exception) -> None:
        self.exc = exc

    def __str__(self) -> str:
        return f"{type(self.exc).__name__}: {self.exc}"


def _call(fn: Any, s: Any, args: tuple[Any, ...]) -> Any:
    try:
        return fn(s, *args)
    except Exception as exc:
        return _Raised(exc)


def _truth(fn: Any, s: Any, args: tuple[Any, ...]) -> bool | _Raised:
    got = _call(fn, s, args)
    return got if isinstance(got, _Raised) else bool(got)


def _paths(paths: Paths) -> str:
    if paths is None:
        return "(everything)"
    return (
        "{" + ", ".join(repr(describe_path(p)) for p in sorted(paths, key=repr)) + "}"
    )
