"""The lock model for minicheck's Python API (``Protocol`` with a successor function).

Tuple states ``(pc_0, …, pc_{n-1}, locked)``. minicheck reports distinct states; the
successor function counts transitions itself (one addition per state). Prints one JSON line.
"""

from __future__ import annotations

import json
import sys

from minicheck import Protocol, check_safety

Succ = list[tuple[str, tuple[int, ...]]]


def build(procs: int) -> tuple[Protocol, list[int]]:
    """The lock model with ``procs`` processes, and a one-element transition counter."""
    count = [0]
    lock = procs

    def transitions(s: tuple[int, ...]) -> Succ:
        out: Succ = []
        for p in range(procs):
            pc = s[p]
            if pc == 0:
                if not s[lock]:
                    out.append(("acquire", (*s[:p], 1, *s[p + 1 : lock], 1)))
            elif pc == 1:
                out.append(("release", (*s[:p], 2, *s[p + 1 : lock], 0)))
            else:
                out.append(("work", (*s[:p], (pc + 1) % 6, *s[p + 1 :])))
        count[0] += len(out)
        return out

    def excl(d: dict[str, int]) -> bool:
        return sum(d[f"pc{p}"] == 1 for p in range(procs)) <= 1

    model = Protocol(
        name="lock",
        candidate=False,
        fields=(*(f"pc{p}" for p in range(procs)), "locked"),
        initial=(0,) * procs + (0,),
        transitions=transitions,
        invariants={"mutual_exclusion": excl},
    )
    return model, count


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 7
    model, count = build(n)
    result = check_safety(model, max_states=10**8)
    assert result["exhaustive"], result
    assert result["properties"]["mutual_exclusion"]["holds"], result
    print(json.dumps({"states": result["reachable_states"], "transitions": count[0]}))
