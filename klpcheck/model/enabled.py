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

This trusts the declarations exactly as partial-order reduction does, and is used only
where reduction would be allowed to (not under ``por=False``); ``audit=True`` checks the
declarations while exploring. Breadth-first search uses it, plain or reduced: a reduced
search that has stopped trying stubborn sets for a while (they cut nothing) expands
states fully, and does so with the masks. The enabled set of a state is a bit mask over instances;
the functions are generated from source text as
:func:`klpcheck.model.definition.successors_of` is, with the same inlined guards and
effects (:func:`klpcheck.model.definition.instance_calls`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from klpcheck.model.definition import Instance, instance_calls
from klpcheck.model.footprint import instance_paths, overlaps

__all__ = ["Incremental", "incremental"]


@dataclass(frozen=True)
class Incremental:
    """The generated functions of incremental enabledness for one model's instances.

    ``full(s)`` is the mask of instances enabled in ``s`` (every guard evaluated);
    ``refresh[k](ns, mask)`` the mask of ``ns``, reached by firing instance ``k`` from a
    state whose mask was ``mask``; ``fire(s, mask)`` the ``(instance index, successor)``
    pairs of the instances in ``mask``, in instance order. ``evaluated`` is the mean
    number of guards ``refresh`` evaluates, over the instances, against ``guards``.
    """

    full: Callable[[Any], int]
    refresh: tuple[Callable[[Any, int], int], ...]
    fire: Callable[[Any, int], list[tuple[int, Any]]]
    evaluated: float
    guards: int


def incremental(instances: Sequence[Instance]) -> Incremental:
    """The functions of :class:`Incremental` for ``instances`` (indexed 0..n-1)."""
    paths = [instance_paths(inst) for inst in instances]
    guarded = [inst.index for inst in instances if inst.step.guard is not None]
    always = 0
    for inst in instances:
        if inst.step.guard is None:
            always |= 1 << inst.index
    env: dict[str, Any] = {}
    calls = instance_calls(instances, env)

    def evaluate(indices: Sequence[int]) -> list[str]:
        return [
            line
            for j in indices
            for line in (f"    if {calls[j][0]}:", f"        m |= {1 << j}")
        ]

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
        lines += [f"def refresh{k}(s, m):", f"    m &= ~{clear}"]
        lines += [*evaluate(touched), "    return m"]
    lines += ["def fire(s, m):", "    out = []", "    add = out.append"]
    for inst in instances:
        i = inst.index
        lines.append(f"    if m & {1 << i}:")
        lines.append(f"        add(({i}, {calls[i][1]}))")
    lines.append("    return out")
    exec("\n".join(lines), env)  # generated names, integers and proven expressions
    return Incremental(
        full=env["full"],
        refresh=tuple(env[f"refresh{inst.index}"] for inst in instances),
        fire=env["fire"],
        evaluated=total / max(1, len(instances)),
        guards=len(guarded),
    )
