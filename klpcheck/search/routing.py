"""Where the successors of an expanded state go, in a search with workers.

A worker of :mod:`klpcheck.search.parallel` fires the steps of each frontier state and
hands the ``(instance index, successor)`` pairs to its :class:`Router`, with the
state's hash. For each successor the router counts the transition, hashes the successor
and finds its owner (:func:`~klpcheck.search.parallel.shard_of`):

- a successor of this worker's shard is looked up in the shard's visited table and, if
  unseen, recorded there (hash, parent hash, instance) and kept as a new state of this
  shard, unless the depth bound (``at_bound``) or the state allowance forbids it;
- any other is batched for its owner as ``(hash, parent hash, instance)``, three
  native 64-bit words, with the position of its parent in the frontier, unless its hash
  was sent in this level or the two before (a state found again that soon is already
  recorded, or will be by the answer still due). The state itself is not kept: most
  successors sent turn out to be known (on the lock benchmark, 38 thousand of 1.5
  million were new), and the few the owner answers are new are fired again from their
  parents.

With incremental enabledness, each new state of this shard also keeps what the
caller passes as ``mask`` (the parent's enabled mask and the parent itself: the new
state's own mask is computed from them, and its declared writes checked against it).

This class is the specification and the pure-Python twin of
``klpcheck._speedups.Router``, which does the same in one C call per expanded state;
:func:`new_router` gives the C one when it is built. The tests compare the two.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable
from typing import Any

from klpcheck.model.fptable import FingerprintTable

__all__ = ["Harvest", "Router", "new_router"]

# own new states, their hashes, their instances, their parents' masks; and per other
# worker: (triples, the positions of their parents in the frontier), native 64-bit words
Harvest = tuple[
    list[Any],
    list[int],
    list[int],
    list[Any],
    dict[int, tuple[bytes, bytes]],
]


class Router:
    """The successors of one shard's expanded states: recorded, or batched for owners.

    ``route(succs, parent, mask, position)`` handles the successors of the state with
    hash ``parent`` at ``position`` in the frontier, and returns None,
    or the first ``(instance, successor)`` of this shard whose type is not in ``types``
    (the caller reports it). ``begin(at_bound, allowance)`` starts a level,
    ``harvest()`` takes what the level produced. ``bound`` is 0, or 1 (depth) or 2
    (states) when a bound refused a new state of this shard; ``allowance`` is how many
    more it may record; ``counts()`` gives the transitions fired and the new states of
    this shard, per instance.

    Examples
    --------
    >>> from klpcheck.model.fptable import FingerprintTable
    >>> r = Router(lambda s: s, FingerprintTable(steps=True), 0, 2, 2, (int,))
    >>> r.begin(False, 10)
    >>> r.route([(0, 5), (1, 7 << 32)], 3, None, 0)
    >>> own, keys, steps, masks, batches = r.harvest()
    >>> own, keys, steps, {o: len(b[0]) // 24 for o, b in batches.items()}
    ([5], [5], [0], {1: 1})
    """

    def __init__(
        self,
        key: Callable[[Any], int],
        table: FingerprintTable,
        index: int,
        workers: int,
        instances: int,
        types: tuple[type, ...],
    ) -> None:
        if not 0 <= index < workers or instances < 0:
            raise ValueError("Router needs 0 <= index < workers, instances >= 0")
        self.key, self.table = key, table
        self.index, self.workers, self.types = index, workers, types
        self.fired = [0] * instances
        self.fresh = [0] * instances
        self.sent: tuple[set[int], set[int], set[int]] = (set(), set(), set())
        self.at_bound = False
        self.allowance = 2**63 - 1
        self.bound = 0
        self._outputs()

    def _outputs(self) -> None:
        n = self.workers
        self.own: tuple[list[Any], list[int], list[int], list[Any]] = ([], [], [], [])
        self.triples: list[list[int]] = [[] for _ in range(n)]
        self.positions: list[list[int]] = [[] for _ in range(n)]

    def begin(self, at_bound: bool, allowance: int) -> None:
        """Start a level: the sets of hashes sent move back one level."""
        self.sent = (set(), self.sent[0], self.sent[1])
        self.at_bound, self.allowance, self.bound = at_bound, allowance, 0
        self._outputs()

    def route(
        self, succs: list[tuple[int, Any]], parent: int, mask: Any, position: int
    ) -> tuple[int, Any] | None:
        """Record or batch the successors of the state with hash ``parent``."""
        if position < 0:
            raise ValueError("a position is not negative")
        key, table, fired, n, me = (
            self.key,
            self.table,
            self.fired,
            self.workers,
            self.index,
        )
        sent, last, before = self.sent
        for k, ns in succs:
            fired[k] += 1
            h = key(ns)
            o = (h >> 32) % n
            if o == me:
                if h in table:
                    continue
                if type(ns) not in self.types:
                    return k, ns
                if self.at_bound:
                    self.bound = 1
                    continue
                if self.allowance <= 0:
                    self.bound = 2
                    continue
                table.add(h, parent, k)
                self.allowance -= 1
                self.fresh[k] += 1
                states, keys, steps, masks = self.own
                states.append(ns)
                keys.append(h)
                steps.append(k)
                if mask is not None:
                    masks.append(mask)
            else:
                x = h or 1  # as the C set keeps it
                if x in sent or x in last or x in before:
                    continue
                sent.add(x)
                self.triples[o] += (h, parent, k)
                self.positions[o].append(position)
        return None

    def harvest(self) -> Harvest:
        """What this level produced (see :data:`Harvest`); the outputs start empty."""
        batches = {
            o: (
                array("Q", self.triples[o]).tobytes(),
                array("Q", self.positions[o]).tobytes(),
            )
            for o in range(self.workers)
            if self.positions[o]
        }
        states, keys, steps, masks = self.own
        self._outputs()
        return states, keys, steps, masks, batches

    def counts(self) -> tuple[list[int], list[int]]:
        """Transitions fired and new states of this shard, per instance."""
        return list(self.fired), list(self.fresh)


def new_router(
    key: Callable[[Any], int],
    table: FingerprintTable,
    index: int,
    workers: int,
    instances: int,
    types: tuple[type, ...],
) -> Router:
    """A router: the C one when the speedups are built and ``table`` is the C table."""
    from klpcheck.base.native import speedups

    c = speedups()
    if c is not None and isinstance(table, c.FingerprintTable):
        router: Router = c.Router(key, table, index, workers, instances, types)
        return router
    return Router(key, table, index, workers, instances, types)
