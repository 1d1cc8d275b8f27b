"""Incremental enabledness: a successor's enabled steps from its parent's and the step fired.

Evaluating every guard on every state costs one call per step instance (82 per state on
``models/livepatch.py`` with two tasks, most of them false). A guard reads only what its
step declares (``reads=``, and what it writes); a step changes only what it declares
(``writes=``). So after firing instance ``k`` from ``s``, an instance ``j`` whose reads
do not overlap ``k``'s writes has the same guard value in the successor as in ``s``, and
only the guards of the instances ``k`` may affect need evaluating again: LTSmin's
read/write dependency matrix used for the same purpose (Meijer, Kant, Blom and van de
Pol, "Read, write and copy dependencies for symbolic model checking", 2014). An instance
of a step without declared writes affects every guard; one without declared reads or
writes is affected by every step.

By default a guard's reads are its declared ones widened by those its code is proven to
read (:func:`~klpcheck.model.footprint.effective_reads`), exactly as partial-order
reduction takes them; ``audit=True`` checks every declaration while exploring. The declared writes it relies
on are checked on the fly: each ``refresh`` first compares the new state with its
parent, field by field (identity, then equality; element by element in a tuple field
declared so), and a step that changed anything outside its writes stops the search with
the audit's message. In C that costs about 0.1 µs per new state.

Under ``por=False`` nothing declared is trusted (``trust=False``): a guard or property
counts as reading what :func:`~klpcheck.model.footprint.static_reads` proves its code
reads (following the helpers it calls), or everything; and a step caught changing more
than it declares gives its new state every guard evaluated and every property checked
(the ``spill`` bit of its mask tells the search), so a wrong declaration costs time,
never a state. Every search uses it, plain or reduced, breadth- or depth-first, in one
process or on workers. The enabled set of a state is a bit mask over instances;
the functions are generated from source text as
:func:`klpcheck.model.definition.successors_of` is, with the same inlined guards and
effects (:func:`klpcheck.model.definition.instance_calls`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from klpcheck.base.native import speedups
from klpcheck.model.definition import (
    Instance,
    Property,
    instance_calls,
    successors_text,
)
from klpcheck.model.footprint import (
    Paths,
    effective_reads,
    instance_paths,
    overlaps,
    property_paths,
    provable_fields,
    undeclared_write,
)
from klpcheck.model.state import field_names

__all__ = ["Incremental", "footprints", "incremental", "property_reads", "spares"]

_INCREMENTAL_TRUSTS = (
    "Incremental enabledness evaluates again only the guards whose reads meet the "
    "declared writes of the step fired (and partial-order reduction trusts them too), "
    "so an undeclared write can hide a violation; --no-por trusts no footprint."
)


@dataclass(frozen=True)
class Incremental:
    """The generated functions of incremental enabledness for one model's instances.

    ``full(s)`` is the mask of instances enabled in ``s`` (every guard evaluated);
    ``refresh[k](ns, mask, s)`` the mask of ``ns``, reached by firing instance ``k`` from
    ``s``, whose mask was ``mask`` (if ``k`` changed a part of the state outside its
    declared writes: a ModelError, or, trusting nothing, every guard evaluated and the
    bit ``spill`` set); ``fire(s, mask)`` the ``(instance index, successor)`` pairs of
    the instances in ``mask``, in instance order; ``successors(s)`` those of every
    instance enabled (as :func:`~klpcheck.model.definition.successors_of`'s function).
    ``evaluated`` is the mean number of
    guards ``refresh`` evaluates, over the instances, against ``guards``.
    ``reads_of(prop)``: what a property is taken to read (the search checks it only
    after steps whose writes meet that, and on every state whose mask has ``spill``);
    ``writes``: each instance's declared writes.
    """

    full: Callable[[Any], int]
    refresh: tuple[Callable[[Any, int, Any], int], ...]
    fire: Callable[[Any, int], list[tuple[int, Any]]]
    successors: Callable[[Any], list[tuple[int, Any]]]
    evaluated: float
    guards: int
    spill: int
    reads_of: Callable[[Property], Paths]
    writes: tuple[Paths, ...]

    def watched(
        self, invariants: Sequence[Property], targets: Sequence[Property]
    ) -> list[tuple[list[Property], list[Property]]]:
        """Per instance, the ``invariants`` and ``targets`` its firing may change: those
        whose reads meet its writes (each property's reads worked out once)."""
        reads = {id(p): self.reads_of(p) for p in (*invariants, *targets)}
        return [
            (
                [p for p in invariants if overlaps(w, reads[id(p)])],
                [p for p in targets if overlaps(w, reads[id(p)])],
            )
            for w in self.writes
        ]


def incremental(
    instances: Sequence[Instance],
    state_type: type | None = None,
    *,
    trust: bool = True,
    paths: Sequence[tuple[Paths, Paths]] | None = None,
) -> Incremental:
    """The functions of :class:`Incremental` for ``instances`` (indexed 0..n-1).

    ``state_type``: the model's one state type, if it has only one. When it has named
    fields, each ``refresh`` first checks that the step changed nothing outside its
    declared writes (see :func:`_write_check`).

    ``trust``: a guard reads what its step declares, widened by what its code is proven
    to read (:func:`~klpcheck.model.footprint.effective_reads`); a step that changed
    more than it declares writing stops the search with a ModelError. ``trust=False`` trusts no declaration: a guard
    reads what its code is proven to read (:func:`~klpcheck.model.footprint.static_reads`,
    which follows the helpers it calls), else anything; a step that changed more than
    it declares gives the new state every guard evaluated and :attr:`Incremental.spill`
    set in its mask, so that the search checks every property on it.

    ``paths``: :func:`footprints` of the same arguments, when already worked out.
    """
    fields = None if state_type is None else field_names(state_type)
    provable = provable_fields(state_type)
    if paths is None:
        paths = footprints(instances, state_type, trust=trust)
    native = speedups()
    layout = (
        None
        if native is None or fields is None or state_type is None
        else native.state_layout(state_type, fields)
    )
    guarded = [inst.index for inst in instances if inst.step.guard is not None]
    always = 0
    for inst in instances:
        if inst.step.guard is None:
            always |= 1 << inst.index
    env: dict[str, Any] = {"elements_moved": elements_moved}
    calls = instance_calls(instances, env)

    def wrote(k: int, p: Any, s: Any) -> bool:
        error = undeclared_write(instances[k], p, s, why=_INCREMENTAL_TRUSTS)
        if error is not None and trust:
            raise error
        return error is not None

    env["wrote"] = wrote

    def evaluate(indices: Sequence[int]) -> list[str]:
        return [
            line
            for j in indices
            for line in (f"    if {calls[j][0]}:", f"        m |= {1 << j}")
        ]

    spill = 1 << len(instances)
    lines = ["def full(s):", f"    m = {always}", *evaluate(guarded), "    return m"]
    total = 0
    for inst in instances:
        k = inst.index
        writes = paths[k][1]
        touched = [
            j
            for j in guarded
            if writes is None or paths[j][0] is None or overlaps(writes, paths[j][0])
        ]
        total += len(touched)
        clear = sum(1 << j for j in touched)
        lines.append(f"def refresh{k}(s, m, p):")
        check = None if fields is None else _write_check(writes, fields, env, layout)
        if check is not None:
            lines += [
                f"    if {check} and wrote({k}, p, s):",
                f"        return full(s) | {spill}",
            ]
        if len(touched) == len(guarded):  # the same as full(s), in a call
            lines.append("    return full(s)")
            continue
        lines.append(f"    m &= ~{clear}")
        lines += [*evaluate(touched), "    return m"]
    # every guard evaluated: successors_of's function, inlined once for both
    lines += successors_text(instances, calls)
    lines += ["def fire(s, m):", "    out = []", "    add = out.append"]
    for inst in instances:
        i = inst.index
        lines.append(f"    if m & {1 << i}:")
        lines.append(f"        add(({i}, {calls[i][1]}))")
    lines.append("    return out")
    # One function at a time: compiling the whole text at once (livepatch.py, 3 tasks:
    # about 1 MB) held some 40 MB of syntax tree at its peak.
    starts = [i for i, line in enumerate(lines) if line.startswith("def ")]
    for a, b in zip(starts, [*starts[1:], len(lines)], strict=True):
        # generated names, integers and proven expressions
        exec("\n".join(lines[a:b]), env)
    return Incremental(
        full=env["full"],
        refresh=tuple(env[f"refresh{inst.index}"] for inst in instances),
        fire=env["fire"],
        successors=env["successors"],
        evaluated=total / max(1, len(instances)),
        guards=len(guarded),
        spill=spill,
        reads_of=functools.partial(property_reads, fields=provable, trust=trust),
        writes=tuple(w for _, w in paths),
    )


def footprints(
    instances: Sequence[Instance], state_type: type | None = None, *, trust: bool = True
) -> list[tuple[Paths, Paths]]:
    """Each instance's (reads, writes) as incremental enabledness goes by them."""
    fields = provable_fields(state_type)
    return [_paths(inst, fields, trust) for inst in instances]


def spares(instances: Sequence[Instance], paths: Sequence[tuple[Paths, Paths]]) -> bool:
    """Whether, by their :func:`footprints` ``paths``, some step's firing leaves some
    guard unevaluated: else incremental enabledness would evaluate every guard after
    every step, at a cost."""
    guarded = [
        p[0] for inst, p in zip(instances, paths, strict=True) if inst.step.guard
    ]
    return any(
        writes is not None
        and any(r is not None and not overlaps(writes, r) for r in guarded)
        for _, writes in paths
    )


def _paths(
    inst: Instance, fields: tuple[str, ...] | None, trust: bool
) -> tuple[Paths, Paths]:
    """The (reads, writes) of ``inst`` that incremental enabledness goes by."""
    reads, writes = instance_paths(inst)
    return effective_reads(reads, inst.step.guard, inst.args, fields, trust), writes


def property_reads(
    prop: Property, fields: tuple[str, ...] | None, trust: bool = True
) -> Paths:
    """What a property reads for incremental enabledness: as :func:`_paths` for guards."""
    return effective_reads(
        property_paths(prop.reads), prop.predicate, (), fields, trust
    )


def _write_check(
    writes: Paths, fields: tuple[str, ...], env: dict[str, Any], layout: Any = None
) -> str | None:
    """An expression true when ``s`` may differ from ``p`` outside ``writes``.

    False means: every field ``writes`` does not declare whole is the same object or an
    equal one in both, and in a tuple field declared element by element only declared
    elements moved. True sends the pair to the exact comparison of
    :func:`~klpcheck.model.footprint.undeclared_write` (which the audit uses too), so a
    false alarm costs time and never an error. None when nothing needs checking.

    With the C speedups' ``layout`` (``state_layout``) the expression is one call of its
    ``moved`` with a rule per field; without, the same test written out in Python.
    """
    if writes is None:
        return None
    whole = {p[0] for p in writes if len(p) == 1}
    rules: list[Any] = []
    terms = []
    for f in fields:
        if f in whole:
            rules.append(True)
            continue
        under = [p for p in writes if p[0] == f]
        if not under:
            rules.append(False)
            terms.append(f"(p.{f} is not s.{f} and p.{f} != s.{f})")
            continue
        # only elements declared whole may move; one declared deeper is checked exactly
        exact = frozenset(p[1] for p in under if len(p) == 2)
        deeper = {p[1] for p in under if len(p) > 2}
        name = f"allowed_{len(env)}"
        env[name] = exact - deeper
        rules.append(env[name])
        terms.append(f"elements_moved(p.{f}, s.{f}, {name})")
    if not terms:
        return None
    if layout is None:
        return " or ".join(terms)
    name = f"rules_{len(env)}"
    env[name] = tuple(rules)
    env["moved"] = layout.moved
    return f"moved(p, s, {name})"


def elements_moved(a: Any, b: Any, allowed: frozenset[Any]) -> bool:
    """True when tuple field values ``a`` and ``b`` may differ outside ``allowed``.

    >>> elements_moved((0, 1, 2), (0, 5, 2), frozenset({1}))
    False
    >>> elements_moved((0, 1, 2), (7, 5, 2), frozenset({1}))
    True
    >>> elements_moved((0, 1), (0, 1, 2), frozenset({1}))
    True
    """
    if a is b:
        return False
    if type(a) is not tuple or type(b) is not tuple or len(a) != len(b):
        return bool(a != b)
    return any(
        x is not y and i not in allowed and x != y
        for i, (x, y) in enumerate(zip(a, b, strict=True))
    )
