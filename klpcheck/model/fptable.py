"""A visited map of 64-bit fingerprints to parent fingerprints in flat arrays.

A dict from int to int costs about 100 bytes per entry on 64-bit CPython: a 48-byte int
object for each key and about 40-55 bytes of table. This table keeps the raw 64-bit values
in ``array("Q")`` buffers (open addressing, linear probing, at most 3/4 full), so an entry
costs 21 to 43 bytes, 32 on average, whatever the number of states; with ``steps=True``
each also keeps the 32-bit index of the step instance that led to it (the shards of a
search with workers). It answers what the searches ask of a visited map: ``fp in
table``, ``table[fp] = parent``, ``table[fp]``, ``table.add(fp, parent, step)`` (store
unless present; True when new), ``table.step_of(fp)`` and ``table.add_triples(blob,
limit)`` (a batch of ``(fp, parent, step)`` triples from another worker, answered with one
byte per triple). ``klpcheck._speedups.FingerprintTable`` is the same table in C, which
:func:`new_table` gives when it is built; the tests compare the two.
"""

from __future__ import annotations

from array import array

__all__ = ["FingerprintTable", "new_table"]

_EMPTY = (
    0  # a fingerprint of 0 is stored as 1; the chance that this merges two is 2^-64
)


class FingerprintTable:
    """Fingerprints, each with its parent's fingerprint (or None for an initial state).

    Examples
    --------
    >>> t = FingerprintTable()
    >>> t[0xABCDEF0123456789] = None
    >>> t[0x1111] = 0xABCDEF0123456789
    >>> 0x1111 in t, 0x2222 in t, len(t), hex(t[0x1111])
    (True, False, 2, '0xabcdef0123456789')
    """

    __slots__ = ("_keys", "_limit", "_mask", "_parents", "_size", "_steps")

    def __init__(self, capacity: int = 1 << 12, steps: bool = False) -> None:
        slots = 16
        while slots // 4 * 3 < capacity:
            slots *= 2
        self._steps: array[int] | None = array("I") if steps else None
        self._alloc(slots)
        self._size = 0

    def _alloc(self, slots: int) -> None:
        self._keys = array("Q", bytes(8 * slots))
        self._parents = array("Q", bytes(8 * slots))
        if self._steps is not None:
            self._steps = array("I", bytes(4 * slots))
        self._mask = slots - 1
        self._limit = slots // 4 * 3

    def _slot(self, fp: int) -> int:
        keys, mask = self._keys, self._mask
        i = fp & mask
        while True:
            k = keys[i]
            if k in (fp, _EMPTY):
                return i
            i = (i + 1) & mask

    def __contains__(self, fp: int) -> bool:
        fp = fp or 1
        keys, mask = self._keys, self._mask
        i = fp & mask
        while True:  # _slot, inlined: this is the explorer's hottest call
            k = keys[i]
            if k == fp:
                return True
            if k == _EMPTY:
                return False
            i = (i + 1) & mask

    def _put(self, fp: int, parent: int, step: int, only_new: bool) -> bool:
        i = self._slot(fp)
        if self._keys[i] == fp:
            if only_new:
                return False
        else:
            self._keys[i] = fp
            self._size += 1
        self._parents[i] = parent
        if self._steps is not None:
            self._steps[i] = step
        if self._size > self._limit:
            self._grow()
        return True

    def __setitem__(self, fp: int, parent: int | None) -> None:
        self._put(fp or 1, _EMPTY if parent is None else (parent or 1), 0, False)

    def add(self, fp: int, parent: int | None, step: int = 0) -> bool:
        """Store ``fp`` with ``parent`` and ``step`` unless present; True when new."""
        parent = _EMPTY if parent is None else (parent or 1)
        return self._put(fp or 1, parent, step, True)

    def __getitem__(self, key: int) -> int | None:
        fp = key or 1
        i = self._slot(fp)
        if self._keys[i] != fp:
            raise KeyError(key)
        parent = self._parents[i]
        return None if parent == _EMPTY else parent

    def step_of(self, key: int) -> int:
        """The step stored with ``key`` (0 when the table keeps none)."""
        fp = key or 1
        i = self._slot(fp)
        if self._keys[i] != fp:
            raise KeyError(key)
        return 0 if self._steps is None else self._steps[i]

    def add_triples(self, blob: bytes, limit: int) -> tuple[bytes, int, int]:
        """Add the unseen ``(fp, parent, step)`` triples of ``blob``, at most ``limit``.

        Returns one byte per triple (1 when it was added), how many were added, and how
        many unseen ones the limit refused.
        """
        triples = array("Q")
        triples.frombytes(blob)
        marks = bytearray(len(triples) // 3)
        added = refused = 0
        it = iter(triples)
        for i, (fp, parent, step) in enumerate(zip(it, it, it, strict=True)):
            fp = fp or 1
            if fp in self:
                continue
            if added >= limit:
                refused += 1
                continue
            self._put(fp, parent or 1, step, True)
            marks[i] = 1
            added += 1
        return bytes(marks), added, refused

    def __len__(self) -> int:
        return self._size

    def _grow(self) -> None:
        keys, parents, steps = self._keys, self._parents, self._steps
        self._alloc(2 * len(keys))
        new_keys, new_parents, new_steps = self._keys, self._parents, self._steps
        mask = self._mask
        for j, fp in enumerate(keys):
            if fp != _EMPTY:
                i = fp & mask
                while new_keys[i] != _EMPTY:
                    i = (i + 1) & mask
                new_keys[i] = fp
                new_parents[i] = parents[j]
                if new_steps is not None and steps is not None:
                    new_steps[i] = steps[j]


def new_table(
    capacity: int = 1 << 12, native: bool = True, steps: bool = False
) -> FingerprintTable:
    """An empty table: the C one when the speedups are built (and ``native``)."""
    from klpcheck.base.native import speedups

    c = speedups() if native else None
    if c is not None:
        table: FingerprintTable = c.FingerprintTable(capacity, steps)
        return table
    return FingerprintTable(capacity, steps)
