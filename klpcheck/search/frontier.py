"""The levels of a breadth-first search: lists, or encoded states and packed keys.

Breadth-first search holds two levels at once, the one being expanded and the next. With
fingerprint storage nothing else holds a state once it is expanded, so the levels are
most of the search's memory: on ``models/livepatch.py`` with 3 tasks the widest two
levels hold about 72,000 states of 34 fields, some 450 bytes each with their keys, and
the search peaked at 140 bytes per state found. :func:`levels` decides, in this one
place, how levels are held:

- fingerprint storage: keys (64-bit fingerprints) in an ``array("Q")``, 8 bytes each
  instead of a list slot and an int object (40 bytes); states, when their one type can be
  written exactly (:func:`klpcheck.model.statecodec.codec_for`), encoded by a
  :class:`~klpcheck.model.statecodec.StateCodec` into one byte string per level, about one
  byte per field, and built again when taken out to be expanded (lists again if the
  codec's tables grow with the states, see ``_FLOOR``);
- exact storage: plain lists. The visited map keeps every state (or a tuple of its
  fields) for the whole search, so the frontier adds little to it, and encoding would
  cost time and save nothing worth having.

A level answers what the breadth-first loop asks of a list: ``append``, ``reverse``,
``pop`` and ``len``; it returns states equal to those appended, in the same order.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from klpcheck.model.statecodec import StateCodec, new_codec
from klpcheck.search.plan import Plan

__all__ = ["EncodedLevel", "Level", "MaskLevel", "levels", "mask_levels"]


class Level(Protocol):
    """What the breadth-first loop asks of a level (a list is one)."""

    def append(self, item: Any, /) -> None: ...
    def pop(self) -> Any: ...
    def reverse(self) -> None: ...
    def __len__(self) -> int: ...


def levels(
    plan: Plan,
) -> tuple[Callable[[Iterable[Any]], Level], Callable[[Iterable[Any]], Level]]:
    """How the search ``plan`` describes holds its levels: ``(states, keys)``.

    Each is a function from the first items of a level to the level.
    """
    if plan.opts.storage != "fingerprint":
        return list, list
    codec = None
    if len(plan.model.state_types) == 1:
        (kind,) = plan.model.state_types
        codec = new_codec(kind)
    keys = _packed_keys
    if codec is None:
        return list, keys
    return _EncodedLevels(codec), keys


# A field whose values are new in most states (a log, a history) would keep them all in
# the codec's tables for the whole search, more than the levels would have held at once:
# once the tables hold more than _FLOOR values and more than one for every _EVERY states
# encoded, the levels that follow are lists.
_FLOOR = 1 << 16
_EVERY = 8


class _EncodedLevels:
    """Makes each new level: encoded while the codec's tables stay small, then lists."""

    def __init__(self, codec: StateCodec) -> None:
        self.codec: StateCodec | None = codec
        self.encoded = 0  # states in the encoded levels made before the last one
        self.last: EncodedLevel | None = None

    def __call__(self, states: Iterable[Any]) -> Level:
        if self.last is not None:
            # The loop makes a level when the one before it is complete and still whole.
            self.encoded += len(self.last)
        codec = self.codec
        if codec is not None and len(codec) > max(_FLOOR, self.encoded // _EVERY):
            self.codec = codec = None  # its tables go with the last encoded level
        if codec is None:
            self.last = None
            return list(states)
        self.last = level = EncodedLevel(codec, states)
        return level


def _packed_keys(keys: Iterable[int]) -> Level:
    return array("Q", keys)


def mask_levels(plan: Plan, instances: int) -> Callable[[Iterable[int]], Level]:
    """How the search ``plan`` describes holds the enabled masks of a level.

    Lists with exact storage; with fingerprint storage a :class:`MaskLevel` (a mask of
    90 instances in 12 bytes instead of a list slot and an int of 48).
    """
    if plan.opts.storage != "fingerprint":
        return list
    width = max(1, (instances + 7) // 8)
    return lambda masks: MaskLevel(width, masks)


class MaskLevel:
    """Non-negative ints below ``2 ** (8 * width)``, ``width`` bytes each, used like a list.

    Examples
    --------
    >>> level = MaskLevel(2, [5, 258])
    >>> level.append(7)
    >>> level.pop(), len(level)
    (7, 2)
    >>> level.reverse()
    >>> level.pop(), level.pop(), len(level)
    (5, 258, 0)
    """

    __slots__ = ("_data", "_front", "_reversed", "_width")

    def __init__(self, width: int, masks: Iterable[int] = ()) -> None:
        self._width = width
        self._data = bytearray()
        self._front = 0  # after reverse(): the byte offset of the next mask to pop
        self._reversed = False
        for m in masks:
            self.append(m)

    def append(self, mask: int, /) -> None:
        if self._reversed:
            raise TypeError("cannot append to a reversed MaskLevel")
        self._data += mask.to_bytes(self._width, "little")

    def pop(self) -> int:
        data, w = self._data, self._width
        if self._front >= len(data):
            raise IndexError("pop from an empty MaskLevel")
        if self._reversed:
            i = self._front
            self._front = i + w
            mask = int.from_bytes(data[i : i + w], "little")
            if self._front == len(data):  # the last one: let the bytes go
                self._data, self._front, self._reversed = bytearray(), 0, False
            return mask
        mask = int.from_bytes(data[-w:], "little")
        del data[-w:]
        return mask

    def reverse(self) -> None:
        if self._front:
            raise TypeError("cannot reverse a partly taken MaskLevel")
        self._reversed = not self._reversed

    def __len__(self) -> int:
        return (len(self._data) - self._front) // self._width


class EncodedLevel:
    """States encoded by ``codec`` back to back in one bytearray, used like a list.

    A state the codec cannot write is kept as it is. ``pop`` takes the last state, or,
    after ``reverse``, the first one; appending to a reversed level is not supported.

    Examples
    --------
    >>> level = EncodedLevel(StateCodec(tuple), [(0, "a"), (1, "b")])
    >>> level.append((2, "c"))
    >>> level.reverse()
    >>> level.pop(), len(level)
    ((0, 'a'), 2)
    """

    __slots__ = ("_codec", "_data", "_ends", "_front", "_kept", "_reversed")

    def __init__(self, codec: StateCodec, states: Iterable[Any] = ()) -> None:
        self._codec = codec
        self._data = bytearray()
        self._ends = array("Q")  # where each state's bytes end in _data
        self._kept: dict[int, Any] = {}  # the states kept as they are, by position
        self._front = 0  # after reverse(): the position of the next state to pop
        self._reversed = False
        for s in states:
            self.append(s)

    def append(self, state: Any, /) -> None:
        if self._reversed:
            raise TypeError("cannot append to a reversed EncodedLevel")
        data = self._codec.encode(state)
        if data is None:
            self._kept[len(self._ends)] = state
        else:
            self._data += data
        self._ends.append(len(self._data))

    def pop(self) -> Any:
        ends, data, reversed_ = self._ends, self._data, self._reversed
        if self._front >= len(ends):
            raise IndexError("pop from an empty EncodedLevel")
        if reversed_:
            i = self._front
            self._front = i + 1
            start, end = ends[i - 1] if i else 0, ends[i]
            if i + 1 == len(ends):  # the last one: let the bytes go
                self._data, self._ends, self._front = bytearray(), array("Q"), 0
                self._reversed = False
        else:
            i = len(ends) - 1
            start, end = ends[i - 1] if i else 0, ends.pop()
        if start == end:
            return self._kept.pop(i)
        state = self._codec.decode(data, start, end)
        if not reversed_:
            del data[start:]
        return state

    def reverse(self) -> None:
        if self._front:
            raise TypeError("cannot reverse a partly taken EncodedLevel")
        self._reversed = not self._reversed

    def __len__(self) -> int:
        return len(self._ends) - self._front
