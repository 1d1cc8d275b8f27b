"""One level of a breadth-first search, generated as one function for the model.

The breadth-first loop of :mod:`klpcheck.search.explore` asks the successor function of
:func:`~klpcheck.model.definition.successors_of` for a list of ``(instance, successor)``
pairs, then walks that list: count the firing, look the key up, check the type and the
bounds, store the parent, queue the state, check the invariants. On the benchmark's
lock model that walk is about a fifth of the search. :func:`fused_level` writes the two
as one function, one block per step instance, the way a breadth-first search written by
hand for one model would read (SPIN likewise writes a verifier for each model)::

    if <guard of instance 3>:
        ns = <effect of instance 3>
        c3 += 1                          # firings, kept in locals for the level
        if ns not in parent:
            if type(ns) not in types: raise wrong_type(3, s, ns)
            parent[ns] = s
            w3 += 1                      # new states
            append(ns)
            if pending or not (<invariant 0>) or not (<invariant 1>):
                on_new(ns)

Guards, effects and invariants are inlined where :mod:`klpcheck.model.inline` proves
their one expression (else called), with the same contract: the values of the globals
and closure cells they read are those of when the level is generated. The firing counts
are written back when the level ends, however it ends, and before each ``tick`` when
progress is reported (its report counts them). Generated text costs memory to compile
(about 10 MB at the peak for livepatch.py's 120 instances written out as above), so a
model of more than ``_INLINE_NEW`` instances stores its new states through one nested
function instead (a call per new state, not per firing), and a long conjunction of
invariants is one function rather than a copy in every block.

An invariant that fails here is checked again by the engine's ``on_new``, which records
violations and knows which invariants are still checked, so the fast test only decides
whether to ask (a search that goes on after a violation turns the violated invariant's
test off, see :func:`retire`). What differs from the two-part loop: a successor is
checked and stored as soon as it is made, before the next instance's guard runs, so a
violation or the state bound met there stops a search before a later guard or effect of
the same state could raise (the two-part loop raised first), and an interrupted level
has stored the successors made before the interrupt. Levels that need more
(partial-order reduction, the depth bound's last level) keep the two-part loop.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from klpcheck.model.definition import Instance, Property, instance_calls, property_calls

__all__ = ["Level", "Masked", "fused_level", "retire"]

_SHORT = 160  # characters of invariants written out in each instance's block
_INLINE_NEW = 48  # instances up to which each block stores its new states itself

# frontier, keys, masks, next level, next keys, next masks, parent map, fired, new,
# room, clock, depth, current -> clock
Level = Callable[..., int]


@dataclass(frozen=True)
class Masked:
    """What a level of incremental enabledness adds (see :mod:`klpcheck.model.enabled`):
    each instance's ``refresh`` function, the ``spill`` bit, and per instance the
    invariants its firing may change (``watched``, as the search starts)."""

    refresh: Sequence[Callable[[Any, int, Any], int]]
    spill: int
    watched: Sequence[Sequence[Property]]


def fused_level(
    instances: Sequence[Instance],
    invariants: Sequence[Property],
    hooks: dict[str, Any],
    *,
    keyed: bool,
    bounded: bool,
    deadlock: bool,
    clock_every: int,
    masked: Masked | None = None,
    retiring: bool = False,
    reports: bool = False,
) -> Level:
    """The function that expands one level of a breadth-first search.

    ``level(frontier, keys, masks, nxt, nxt_keys, nxt_masks, parent, fired, new, room,
    clock, depth, current)`` pops every state of ``frontier`` (reversed by the caller,
    so states come out in order) and of ``keys`` (``keyed``: the states' keys, else
    ``keys`` is unused), fires every enabled instance, stores each new successor's key
    in ``parent`` and queues it on ``nxt`` (and its key on ``nxt_keys``), and adds the
    firings and new states of each instance to ``fired`` and ``new``. ``room``: how
    many more states the map may hold (``bounded`` only); ``clock``: expansions left
    until the next ``tick(depth)`` (with ``reports``, the firings are added to
    ``fired`` before it, for its progress report); returned as it ends.
    ``current[0]`` is the state being expanded (the new state while its mask is worked
    out), for the engine's diagnosis of an exception.

    With ``masked`` (incremental enabledness) ``masks`` holds each state's mask of
    enabled instances: an instance fires when its bit is set, a new state's mask comes
    from ``refresh`` and is queued on ``nxt_masks``, and a new state is checked by
    ``on_new`` when the mask has the spill bit, else by ``on_new_after(ns, k)`` when
    an invariant ``k`` may change fails or a target is pending (always, when new
    states are stored by the nested function). Without it, ``masks`` and
    ``nxt_masks`` are unused and every guard is evaluated.

    ``hooks`` binds the engine's callbacks: ``key(ns)`` (``keyed``), ``types`` (the
    model's state types), ``pending`` (the list of reachability targets still looked
    for; non-empty sends every new state to ``on_new``), ``on_new(ns)``,
    ``on_new_after(ns, k)`` (``masked``), ``wrong_type(k, s, ns)`` (returns the
    error), ``full()`` (the state bound: records it and raises), ``dead(s)`` (no
    instance enabled in ``s``: ``deadlock`` only) and ``tick(depth)``.

    ``retiring`` (a search that goes on after a violation): each invariant ``i`` is
    checked behind a flag ``off{i}``, which :func:`retire` sets once the invariant is
    violated, so that it is never evaluated again, as ``on_new`` no longer evaluates it
    (an invariant that raises on a later state must not stop the search).
    """
    env: dict[str, Any] = dict(hooks)
    calls = instance_calls(instances, env)
    checks = property_calls(invariants, env, "ns")
    if retiring:
        for i in range(len(invariants)):
            env[f"off{i}"] = False
        checks = [f"(off{i} or {c})" for i, c in enumerate(checks)]
    text = {id(p): c for p, c in zip(invariants, checks, strict=True)}

    shared: dict[tuple[int, ...], str] = {}

    def ask(props: Sequence[Property]) -> str:
        """Whether ``on_new`` must look at the new state ``ns``: the invariants written
        out when short, else a call of one function per set of them (the level has a
        block per instance: livepatch.py's 11 invariants written out in each of its
        120 took 0.1 s to compile)."""
        if not props:
            return "pending"
        holds = " and ".join(text[id(p)] for p in props)
        if len(holds) > _SHORT:
            ids = tuple(id(p) for p in props)
            if ids not in shared:
                shared[ids] = f"holds{len(shared)}"
                exec(f"def {shared[ids]}(ns):\n    return {holds}", env)  # as below
            holds = f"{shared[ids]}(ns)"
        return f"pending or not ({holds})"

    # The branch that stores a new state: written out in each instance's block for a
    # model of few instances, else one nested function ``admit`` called with the
    # instance (a call per new state; compiling 120 blocks each with its own copy
    # peaked at 10 MB on livepatch.py, 3 tasks, enough to show in its peak memory).
    inline = len(instances) <= _INLINE_NEW

    def admit(k: str) -> list[str]:
        """The lines storing the new state ``ns`` reached by instance ``k`` (an index,
        or the name ``k`` inside ``admit``)."""
        if masked is None:
            check = [f"if {ask(invariants)}:", "    on_new(ns)"]
        else:
            refresh = f"r{k}" if inline else "refresh[k]"
            after = [f"elif {ask(masked.watched[int(k)])}:"] if inline else ["else:"]
            check = [
                "current[0] = ns",
                f"m = {refresh}(ns, ms, s)",
                "if m >= spill:",
                "    m ^= spill",
                "    on_new(ns)",
                *after,
                f"    on_new_after(ns, {k})",
                "mappend(m)",
                "current[0] = s",
            ]
        return [
            "if type(ns) not in types:",
            f"    raise wrong_type({k}, s, ns)",
            *(["if not room:", "    full()", "room -= 1"] if bounded else []),
            f"parent[{kn}] = {ks}",
            f"w{k} += 1" if inline else "new[k] += 1",
            "append(ns)",
            *(["kappend(kn)"] if keyed else []),
            *check,
        ]

    kn, ks = ("kn", "ks") if keyed else ("ns", "s")
    counters = [f"c{i.index}" for i in instances]
    if inline:
        counters += [f"w{i.index}" for i in instances]
    lines = [
        "def level(frontier, keys, masks, nxt, nxt_keys, nxt_masks, parent, fired, "
        "new, room, clock, depth, current):",
        *(f"    {name} = 0" for name in counters),
        "    pop = frontier.pop",
        "    append = nxt.append",
    ]
    if keyed:
        lines += ["    kpop = keys.pop", "    kappend = nxt_keys.append"]
    if masked is not None:
        lines += ["    mpop = masks.pop", "    mappend = nxt_masks.append"]
        env["spill"] = masked.spill
        env["refresh"] = tuple(masked.refresh)
        for inst in instances:
            env[f"r{inst.index}"] = masked.refresh[inst.index]
    if not inline:
        lines.append(
            f"    def admit(k, ns, {'kn, ' if keyed else ''}s, "
            f"{'ks, ' if keyed else ''}ms):"
        )
        if bounded:
            lines.append("        nonlocal room")
        lines += ["        " + line for line in admit("k")]
    lines += [
        "    try:",
        "        while frontier:",
        "            s = pop()",
        *(["            ks = kpop()"] if keyed else []),
        *(["            ms = mpop()"] if masked is not None else []),
        "            current[0] = s",
    ]
    flag = deadlock and masked is None  # with masks, none enabled is a mask of 0
    if flag:
        lines.append("            d = True")
    for inst, (guard, effect) in zip(instances, calls, strict=True):
        i = inst.index
        if inline:
            store = ["    " + line for line in admit(str(i))]
        else:
            args = ", ".join(
                [
                    str(i),
                    "ns",
                    *(["kn"] if keyed else []),
                    "s",
                    *(["ks"] if keyed else []),
                    "ms" if masked is not None else "0",
                ]
            )
            store = [f"    admit({args})"]
        body = [
            f"ns = {effect}",
            f"c{i} += 1",
            *(["d = False"] if flag else []),
            *(["kn = key(ns)"] if keyed else []),
            f"if {kn} not in parent:",
            *store,
        ]
        indent = "            "
        if masked is not None:
            lines.append(f"{indent}if ms & {1 << i}:")
            indent += "    "
        elif guard is not None:
            lines.append(f"{indent}if {guard}:")
            indent += "    "
        lines += [indent + line for line in body]
    if flag:
        lines += ["            if d:", "                dead(s)"]
    elif deadlock:
        lines += ["            if not ms:", "                dead(s)"]
    lines += [
        "            clock -= 1",
        "            if not clock:",
        f"                clock = {clock_every}",
        # The firings so far, for the progress report ``tick`` may make.
        *(
            line
            for i in (instances if reports else ())
            for line in (
                f"                fired[{i.index}] += c{i.index}",
                f"                c{i.index} = 0",
            )
        ),
        "                tick(depth)",
        "    finally:",
        "        pass",
        *(f"        fired[{i.index}] += c{i.index}" for i in instances),
        *(
            f"        new[{i.index}] += w{i.index}"
            for i in (instances if inline else ())
        ),
        "    return clock",
    ]
    exec("\n".join(lines), env)  # generated names, integers and proven expressions
    level: Level = env["level"]
    return level


def retire(level: Level, invariants: Sequence[Property], prop: Property) -> None:
    """Stop checking ``prop``, one of the ``invariants`` ``level`` was made for with
    ``retiring``, in that level (it is violated, and the search goes on): its flag is
    a global of the generated function, so this holds at once, in the middle of a
    level too."""
    env = cast(types.FunctionType, level).__globals__
    for i, p in enumerate(invariants):
        if p is prop:
            env[f"off{i}"] = True
