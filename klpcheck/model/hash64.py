"""The 64-bit state hash behind fingerprints, and its specification.

Fingerprint storage and the workers' shards keep one 64-bit hash per state, so the hash
must be a function of the state's *value* only: the same in every run, process, hash seed
and machine (Python's ``hash()`` of a string is salted per process and an enum member's
hash may follow its ``id()``), and cheap, since every successor is hashed.

The value is walked depth-first and each part is absorbed into a 64-bit accumulator as
one or more 64-bit words ``w``::

    absorb(h, w) = fmix64(h XOR (w * P + C))         (mod 2^64)

where ``fmix64`` is MurmurHash3's finalizer (Austin Appleby, public domain): xor-shift by
33, multiply by 0xff51afd7ed558ccd, xor-shift, multiply by 0xc4ceb9fe1a85ec53,
xor-shift. Each step is a bijection of ``h`` for a fixed word and of the word for a fixed
``h``, so two values whose word sequences differ in exactly one place never collide, and
otherwise collide with odds of about 2^-64. What a value contributes (every sequence
starts with a tag, and every variable-length part with its length, so the sequences of
two different values are never prefixes of one another):

=========================  ===============================================================
``None``, ``False``,        its tag
``True``, ``...``
``int`` in 64 bits          INT, the value as a two's-complement word
a larger ``int``            BIGINT, then its little-endian two's-complement bytes
``float``                   FLOAT, its IEEE 754 bits (``0.0`` and ``-0.0`` differ)
``str``, ``bytes``          STR or BYTES, then the (UTF-8) bytes
bytes                       the length, then 8-byte little-endian words, the last padded
                            with zeros
``tuple``                   TUPLE, the length, then each item
``frozenset``               FROZENSET, the size, then the hashes of the elements (each
                            hashed alone from the seed) in increasing order
anything else               CONVERTED, then the hash (from the seed) of a plain tree it
                            is converted to: an enum member ``(..., "enum", qualname,
                            name)``, a dataclass ``(..., "dataclass", qualname, *fields)``,
                            a NamedTuple ``(..., "tuple", qualname, *items)``, a frozenset
                            subclass ``(..., "frozenset", frozenset(v))``, a subclass of
                            int, float, str or bytes the plain value it equals
=========================  ===============================================================

A state of the model's one state type (a dataclass) is hashed as FIELDS followed by the
tuple of its compared fields. Equal values of different types (``1``, ``True``, ``1.0``)
get different hashes; a model that mixes them in one field counts such states twice
where exact storage counts them once. Two different classes with one qualified name, in
two modules, convert alike.

:class:`Hasher` here computes this in Python; ``klpcheck._speedups.Hasher`` computes the
same in C, about a hundred times faster (the tests compare them on random values).
"""

from __future__ import annotations

import dataclasses
import enum
import struct
from collections.abc import Callable
from typing import Any

from klpcheck.base.errors import ModelError

__all__ = ["Hasher", "classify", "convert", "make_hasher"]

MASK = (1 << 64) - 1
P1 = 0x9E3779B185EBCA87
P2 = 0xC2B2AE3D27D4EB4F
SEED = 0x6B6C70636865636B  # "klpcheck"
(
    NONE,
    FALSE,
    TRUE,
    INT,
    BIGINT,
    FLOAT,
    STR,
    BYTES,
    TUPLE,
    FROZENSET,
    ELLIPSIS,
    CONVERTED,
    FIELDS,
) = range(1, 14)
_M1, _M2 = 0xFF51AFD7ED558CCD, 0xC4CEB9FE1A85EC53


def _absorb(h: int, w: int) -> int:
    h = (h + w * P2) & MASK
    return (((h << 31) | (h >> 33)) & MASK) * P1 & MASK


def _fmix64(k: int) -> int:
    k ^= k >> 33
    k = (k * _M1) & MASK
    k ^= k >> 33
    k = (k * _M2) & MASK
    return k ^ (k >> 33)


def _absorb_bytes(h: int, data: bytes) -> int:
    h = _absorb(h, len(data))
    for i in range(0, len(data), 8):
        h = _absorb(h, int.from_bytes(data[i : i + 8], "little"))
    return h


_CONSTANTS = {id(None): NONE, id(False): FALSE, id(True): TRUE, id(...): ELLIPSIS}


class Hasher:
    """``Hasher(state_type, fields, convert)(state)``: the 64-bit hash of a state.

    ``fields`` (or None) gives the tuple of compared fields of a state of exactly
    ``state_type``; ``convert`` turns a value of any other type into ``(plain tree,
    keep)``, ``keep`` saying the answer may be remembered for that very object (enum
    members, which live as long as their class).

    Examples
    --------
    >>> hex(Hasher(None, None, convert)((0, 0, False)))
    '0xfac0d94f96e29a42'
    """

    def __init__(
        self,
        state_type: type | None,
        fields: Callable[[Any], tuple[Any, ...]] | None,
        convert: Callable[[Any], tuple[Any, bool]],
    ) -> None:
        self.state_type, self.fields, self.convert = state_type, fields, convert
        self.memo: dict[int, tuple[Any, int]] = {}

    def __call__(self, state: Any) -> int:
        if self.fields is not None and type(state) is self.state_type:
            return _fmix64(self._into(_absorb(SEED, FIELDS), self.fields(state), 0))
        return _fmix64(self._into(SEED, state, 0))

    def _sub(self, o: Any, depth: int) -> int:
        return _fmix64(self._into(SEED, o, depth))

    def _into(self, h: int, o: Any, depth: int) -> int:
        if depth > 500:
            raise RecursionError("a state nested more than 500 levels deep")
        t = type(o)
        if t is int:
            if -(1 << 63) <= o < 1 << 63:
                return _absorb(_absorb(h, INT), o & MASK)
            n = (abs(o).bit_length() + 8) // 8
            return _absorb_bytes(
                _absorb(h, BIGINT), o.to_bytes(n, "little", signed=True)
            )
        if t is tuple:
            h = _absorb(_absorb(h, TUPLE), len(o))
            for item in o:
                h = self._into(h, item, depth + 1)
            return h
        tag = _CONSTANTS.get(id(o))
        if tag is not None:
            return _absorb(h, tag)
        if t is str:
            return _absorb_bytes(_absorb(h, STR), o.encode("utf-8", "surrogatepass"))
        if t is float:
            bits = int.from_bytes(struct.pack("<d", o), "little")
            return _absorb(_absorb(h, FLOAT), bits)
        if t is bytes:
            return _absorb_bytes(_absorb(h, BYTES), o)
        if t is frozenset:
            subs = sorted(self._sub(x, depth + 1) for x in o)
            h = _absorb(_absorb(h, FROZENSET), len(o))
            for sub in subs:
                h = _absorb(h, sub)
            return h
        hit = self.memo.get(id(o))
        if hit is not None and hit[0] is o:
            return _absorb(_absorb(h, CONVERTED), hit[1])
        tree, keep = self.convert(o)
        sub = self._sub(tree, depth + 1)
        if keep:
            self.memo[id(o)] = (o, sub)
        return _absorb(_absorb(h, CONVERTED), sub)


_PLAIN_OF: tuple[tuple[type, Callable[[Any], Any]], ...] = (
    (int, int.__int__),
    (float, float.__float__),
    (str, str.__str__),
    (bytes, lambda b: bytes(memoryview(b))),
)


def convert(value: Any) -> tuple[Any, bool]:
    """A value the hash does not walk by itself, as ``(plain tree, keep)``."""
    kind = type(value)
    if isinstance(value, enum.Enum):
        return (..., "enum", kind.__qualname__, value._name_), True
    if dataclasses.is_dataclass(kind):
        names = [f.name for f in dataclasses.fields(kind) if f.compare]
        return (
            (..., "dataclass", kind.__qualname__, *(getattr(value, n) for n in names)),
            False,
        )
    if isinstance(value, tuple):  # NamedTuple and other tuple subclasses
        return (..., "tuple", kind.__qualname__, *value), False
    if isinstance(value, frozenset):
        return (..., "frozenset", frozenset(value)), False
    for base, plain in _PLAIN_OF:
        if isinstance(value, base):
            # A subclass of a plain type (an index that carries a name, say) equals
            # the plain value it holds, so it hashes as that value (taken with the
            # base type's own method: the subclass may override __int__ or __str__).
            return plain(value), False
    raise ModelError(
        f"fingerprints cannot encode a {kind.__name__} ({value!r:.60}); states for "
        "fingerprint storage hold ints, bools, floats, strings, bytes, None, enums, "
        "tuples, frozensets, NamedTuples and frozen dataclasses"
    )


def classify(kind: type) -> tuple[int, str, tuple[str, ...]]:
    """How the C hash treats values of ``kind``: ``(how, qualname, compared fields)``.

    ``how`` is 1 for a tuple subclass and 2 for a dataclass (the C code walks the tree
    :func:`convert` would build without building it), 3 for an enum (converted once per
    member and remembered) and 4 for the rest (converted every time). The answers must
    agree with :func:`convert`; the tests compare the two hashers on random values.
    """
    name = kind.__qualname__
    if issubclass(kind, enum.Enum):
        return 3, name, ()
    if dataclasses.is_dataclass(kind):
        return 2, name, tuple(f.name for f in dataclasses.fields(kind) if f.compare)
    if issubclass(kind, tuple):
        return 1, name, ()
    return 4, name, ()


def make_hasher(
    state_type: type | None,
    fields: Callable[[Any], tuple[Any, ...]] | None,
    native: bool = True,
) -> Callable[[Any], int]:
    """The hash function for states of ``state_type`` (C when built, unless not ``native``)."""
    from klpcheck.base.native import speedups

    c = speedups() if native else None
    if c is not None:
        hasher: Callable[[Any], int] = c.Hasher(state_type, fields, convert, classify)
        return hasher
    return Hasher(state_type, fields, convert)
