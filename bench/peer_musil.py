"""The lock model for musil (run in musil's own Python ≥ 3.12 virtualenv).

Tuple states ``(pc_0, …, pc_{n-1}, locked)``, one guarded ``Action`` per process and pc
change. musil reports distinct states but not transitions. Prints one JSON line.
"""

from __future__ import annotations

import json
import sys

from musil import Action, Model, check


def _set(s: tuple[int, ...], p: int, pc: int, locked: int) -> tuple[int, ...]:
    return (*s[:p], pc, *s[p + 1 : -1], locked)


def build(procs: int) -> Model[tuple[int, ...]]:
    """The lock model with ``procs`` processes."""
    actions = []
    for p in range(procs):
        actions += [
            Action(
                f"acquire{p}",
                lambda s, p=p: s[p] == 0 and not s[-1],
                lambda s, p=p: _set(s, p, 1, 1),
            ),
            Action(
                f"release{p}", lambda s, p=p: s[p] == 1, lambda s, p=p: _set(s, p, 2, 0)
            ),
            Action(
                f"work{p}",
                lambda s, p=p: s[p] >= 2,
                lambda s, p=p: _set(s, p, (s[p] + 1) % 6, s[-1]),
            ),
        ]
    return Model(
        init=[(0,) * procs + (0,)],  # a bare tuple would be read as several states
        actions=actions,
        invariants={"mutual_exclusion": lambda s: s[:-1].count(1) <= 1},
    )


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 7
    result = check(build(n), max_states=10**8)
    assert result.ok, result
    print(json.dumps({"states": result.states_explored, "transitions": None}))
