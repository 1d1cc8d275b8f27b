"""The cost floor: a breadth-first search hand-written for the lock model alone.

States are plain tuples ``(pc_0, …, pc_{n-1}, locked)`` and the visited set is a dict from
state to parent, so a shortest trace could be rebuilt; no generic machinery at all. Prints
one JSON line: ``{"states": …, "transitions": …}``.
"""

from __future__ import annotations

import json
import sys


def explore(procs: int) -> tuple[int, int]:
    """Distinct states and transitions of the lock model with ``procs`` processes."""
    init = (0,) * procs + (0,)
    parent: dict[tuple[int, ...], tuple[int, ...] | None] = {init: None}
    frontier = [init]
    transitions = 0
    lock = procs
    while frontier:
        nxt = []
        for s in frontier:
            for p in range(procs):
                pc = s[p]
                if pc == 0:
                    if s[lock]:
                        continue
                    ns = (*s[:p], 1, *s[p + 1 : lock], 1)
                elif pc == 1:
                    ns = (*s[:p], 2, *s[p + 1 : lock], 0)
                else:
                    ns = (*s[:p], (pc + 1) % 6, *s[p + 1 :])
                transitions += 1
                if ns not in parent:
                    if ns[:lock].count(1) > 1:
                        raise AssertionError(f"mutual exclusion violated in {ns}")
                    parent[ns] = s
                    nxt.append(ns)
        frontier = nxt
    return len(parent), transitions


if __name__ == "__main__":
    states, transitions = explore(int(sys.argv[1]) if len(sys.argv) > 1 else 7)
    print(json.dumps({"states": states, "transitions": transitions}))
