"""One level of a plain breadth-first search, generated as one function for the model.

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
their one expression (else called); the firing counts are written back when the level
ends, however it ends. An invariant that fails here is checked again by the engine's
``on_new``, which records violations and knows which invariants are still checked, so
the fast test only decides whether to ask. What differs from the two-part loop: a
successor is checked as soon as it is made, before the next instance's guard runs, so
a violation found there stops a search before a later guard or effect of the same state
could raise (the two-part loop raised first). Levels that need more (partial-order
reduction, incremental enabledness, the depth bound's last level) keep the two-part loop.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from klpcheck.model.definition import Instance, Property, instance_calls, property_calls

__all__ = ["Level", "fused_level"]

# frontier, keys, next level, next keys, parent map, fired, new, room, clock, depth,
# current -> (room, clock)
Level = Callable[..., tuple[int, int]]


def fused_level(
    instances: Sequence[Instance],
    invariants: Sequence[Property],
    hooks: dict[str, Any],
    *,
    keyed: bool,
    bounded: bool,
    deadlock: bool,
    clock_every: int,
) -> Level:
    """The function that expands one level of a plain breadth-first search.

    ``level(frontier, keys, nxt, nxt_keys, parent, fired, new, room, clock, depth,
    current)`` pops every state of ``frontier`` (reversed by the caller, so states come
    out in order) and of ``keys`` (``keyed``: the states' keys, else ``keys`` is unused),
    fires every enabled instance, stores each new successor's key in ``parent`` and
    queues it on ``nxt`` (and its key on ``nxt_keys``), and adds the firings and new
    states of each instance to ``fired`` and ``new``. ``room``: how many more states the
    map may hold (``bounded`` only); ``clock``: expansions left until the next
    ``tick(depth)``; both are returned as they end. ``current[0]`` is the state being
    expanded, for the engine's diagnosis of an exception.

    ``hooks`` binds the engine's callbacks: ``key(ns)`` (``keyed``), ``types`` (the
    model's state types), ``pending`` (the list of reachability targets still looked
    for; non-empty sends every new state to ``on_new``), ``on_new(ns)``,
    ``wrong_type(k, s, ns)`` (returns the error), ``full()`` (the state bound: records
    it and raises), ``dead(s)`` (no instance enabled in ``s``: ``deadlock`` only) and
    ``tick(depth)``.
    """
    env: dict[str, Any] = dict(hooks)
    calls = instance_calls(instances, env)
    checks = property_calls(invariants, env, "ns")
    ask = " or ".join(["pending", *(f"not {c}" for c in checks)])
    counters = [f"c{i.index}" for i in instances] + [f"w{i.index}" for i in instances]
    lines = [
        "def level(frontier, keys, nxt, nxt_keys, parent, fired, new, room, clock, "
        "depth, current):",
        *(f"    {name} = 0" for name in counters),
        "    pop = frontier.pop",
        "    append = nxt.append",
    ]
    if keyed:
        lines += ["    kpop = keys.pop", "    kappend = nxt_keys.append"]
    lines += [
        "    try:",
        "        while frontier:",
        "            s = pop()",
        *(["            ks = kpop()"] if keyed else []),
        "            current[0] = s",
    ]
    if deadlock:
        lines.append("            d = True")
    kn, ks = ("kn", "ks") if keyed else ("ns", "s")
    for inst, (guard, effect) in zip(instances, calls, strict=True):
        i = inst.index
        body = [
            f"ns = {effect}",
            f"c{i} += 1",
            *(["d = False"] if deadlock else []),
            *(["kn = key(ns)"] if keyed else []),
            f"if {kn} not in parent:",
            "    if type(ns) not in types:",
            f"        raise wrong_type({i}, s, ns)",
            *(
                ["    if not room:", "        full()", "    room -= 1"]
                if bounded
                else []
            ),
            f"    parent[{kn}] = {ks}",
            f"    w{i} += 1",
            "    append(ns)",
            *(["    kappend(kn)"] if keyed else []),
            f"    if {ask}:",
            "        on_new(ns)",
        ]
        indent = "            "
        if guard is not None:
            lines.append(f"{indent}if {guard}:")
            indent += "    "
        lines += [indent + line for line in body]
    if deadlock:
        lines += ["            if d:", "                dead(s)"]
    lines += [
        "            clock -= 1",
        "            if not clock:",
        f"                clock = {clock_every}",
        "                tick(depth)",
        "    finally:",
        "        pass",
        *(f"        fired[{i.index}] += c{i.index}" for i in instances),
        *(f"        new[{i.index}] += w{i.index}" for i in instances),
        "    return room, clock",
    ]
    exec("\n".join(lines), env)  # generated names, integers and proven expressions
    level: Level = env["level"]
    return level
