"""A visited map of 64-bit fingerprints to parent fingerprints in two flat arrays.

A dict from int to int costs about 100 bytes per entry on 64-bit CPython: a 48-byte int
object for each key and about 40-55 bytes of table. This table keeps the raw 64-bit values
in two ``array("Q")`` buffers (open addressing, linear probing, at most 3/4 full), so an
entry costs 21 to 43 bytes, 32 on average, whatever the number of states. It answers the
three questions the explorer asks of its visited map: ``fp in table``,
``table[fp] = parent`` and ``table[fp]``, and ``table.add(fp, parent)`` (store unless
present; True when new). ``klpcheck._speedups.FingerprintTable`` is the same table in C
(16 bytes a slot, at most 3/4 full), which :func:`new_table` gives when it is built.
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

    __slots__ = ("_keys", "_limit", "_mask", "_parents", "_size")

    def __init__(self, capacity: int = 1 << 12) -> None:
        slots = 1 << max(4, (capacity * 4 // 3).bit_length())
        self._keys = array("Q", bytes(8 * slots))
        self._parents = array("Q", bytes(8 * slots))
        self._mask = slots - 1
        self._size = 0
        self._limit = slots * 3 // 4

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

    def __setitem__(self, fp: int, parent: int | None) -> None:
        fp = fp or 1
        i = self._slot(fp)
        if self._keys[i] != fp:
            self._keys[i] = fp
            self._size += 1
        self._parents[i] = _EMPTY if parent is None else (parent or 1)
        if self._size > self._limit:
            self._grow()

    def __getitem__(self, key: int) -> int | None:
        fp = key or 1
        i = self._slot(fp)
        if self._keys[i] != fp:
            raise KeyError(key)
        parent = self._parents[i]
        return None if parent == _EMPTY else parent

    def __len__(self) -> int:
        return self._size

    def add(self, fp: int, parent: int | None) -> bool:
        """Store ``fp`` with ``parent`` unless it is present; True when it was new."""
        if fp in self:
            return False
        self[fp] = parent
        return True

    def _grow(self) -> None:
        keys, parents = self._keys, self._parents
        slots = 2 * len(keys)
        self._keys = array("Q", bytes(8 * slots))
        self._parents = array("Q", bytes(8 * slots))
        self._mask = slots - 1
        self._limit = slots * 3 // 4
        new_keys, new_parents, mask = self._keys, self._parents, self._mask
        for fp, parent in zip(keys, parents, strict=True):
            if fp != _EMPTY:
                i = fp & mask
                while new_keys[i] != _EMPTY:
                    i = (i + 1) & mask
                new_keys[i] = fp
                new_parents[i] = parent


def new_table(capacity: int = 1 << 12, native: bool = True) -> FingerprintTable:
    """An empty table: the C one when the speedups are built (and ``native``)."""
    from klpcheck.base.native import speedups

    c = speedups() if native else None
    if c is not None:
        table: FingerprintTable = c.FingerprintTable(capacity)
        return table
    return FingerprintTable(capacity)
