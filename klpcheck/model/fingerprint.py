"""64-bit fingerprints of states, and the canonical encoding symmetry orders states by.

A fingerprint is the stable 64-bit hash of :mod:`klpcheck.model.hash64`: a function of
the state's value only, never of the process (Python's ``hash()`` of strings is salted per
process and frozenset iteration order follows it, so neither may leak into it). Equal
fingerprints in two runs, two worker processes or two machines mean the same state (up to
a collision). It is computed in C when ``klpcheck._speedups`` is built, else by the
pure-Python twin, with the same values.

The canonical *encoding* (:func:`encode`, :func:`encoder`) is ``marshal`` version 2 of a
tree of plain values (int, bool, float, str, bytes, None and tuples of them). Values
marshal cannot hold are first rewritten into tagged tuples that start with ``Ellipsis``:
an enum member becomes ``(..., "enum", qualname, name)``, a dataclass or NamedTuple
``(..., kind, qualname, *fields)`` and a frozenset ``(..., "frozenset", *elements)`` with
its elements sorted by their own encoding. Symmetry reduction picks the member of an
orbit with the smallest encoding; :func:`digest` hashes an encoding with BLAKE2b.

Values that are equal but of different types (``1`` and ``True``, ``1`` and ``1.0``) get
different fingerprints and encodings; so do ``0.0`` and ``-0.0``. A model that mixes them
in one field would count such states twice where exact storage counts them once.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import marshal
from collections.abc import Callable
from functools import cache
from operator import attrgetter
from typing import Any

from klpcheck.base.errors import ModelError
from klpcheck.model.hash64 import make_hasher

__all__ = [
    "collision_note",
    "digest",
    "encode",
    "encoder",
    "fingerprint",
    "fingerprinter",
]

_PLAIN = frozenset({int, bool, float, str, bytes, type(None)})
# marshal's type codes for sets; a fast encoding that contains one is redone slowly,
# since a set's element order is not canonical.
_SET_CODES = (b"<", b">")


def _canonical(value: Any) -> Any:
    """``value`` as a tree of plain values marshal encodes canonically."""
    kind = type(value)
    if kind in _PLAIN:
        return value
    if kind is tuple:
        kinds = set(map(type, value))
        if kinds <= _PLAIN:  # the common case, checked in C
            return value
        if len(kinds) == 1:  # e.g. one enum per task: convert without re-dispatching
            (only,) = kinds
            convert = _CONVERTERS.get(only)
            if convert is not None and only is not tuple:
                return tuple(map(convert, value))
        return tuple(map(_canonical, value))
    convert = _CONVERTERS.get(kind)
    if convert is None:
        convert = _CONVERTERS.setdefault(kind, _converter(kind, value))
    return convert(value)


_CONVERTERS: dict[type, Callable[[Any], Any]] = {}


def _converter(kind: type, value: Any) -> Callable[[Any], Any]:
    """How to make values of ``kind`` plain; built once per type."""
    name = kind.__qualname__
    if issubclass(kind, enum.Enum):
        # One tuple per member, made once: looked up by id(), which a member keeps for
        # as long as its class lives (and _CONVERTERS keeps the class). Members made
        # later (combinations of a Flag) are converted as they come.
        codes = {
            id(m): (..., "enum", name, m._name_) for m in kind.__members__.values()
        }

        def enum_code(v: Any) -> Any:
            code = codes.get(id(v))
            return code if code is not None else (..., "enum", name, v._name_)

        return enum_code
    if dataclasses.is_dataclass(kind):
        compared = [f.name for f in dataclasses.fields(kind) if f.compare]
        get = attrgetter(*compared) if compared else (lambda v: ())
        if len(compared) == 1:
            return lambda v: (..., "dataclass", name, _canonical(get(v)))
        return lambda v: (..., "dataclass", name, *map(_canonical, get(v)))
    if issubclass(kind, tuple):  # NamedTuple and other tuple subclasses
        return lambda v: (..., "tuple", name, *map(_canonical, v))
    if issubclass(kind, frozenset):
        return lambda v: (
            ...,
            "frozenset",
            *sorted(marshal.dumps(_canonical(x), 2) for x in v),
        )
    for base in (int, float, str, bytes):
        if issubclass(kind, base):
            # A subclass of a plain type (an index that carries a name, say) equals
            # the plain value it holds, so it is encoded as that value: two states
            # that compare equal get one encoding.
            return base
    raise ModelError(
        f"fingerprints cannot encode a {kind.__name__} ({value!r:.60}); states for "
        "fingerprint storage hold ints, bools, floats, strings, bytes, None, enums, "
        "tuples, frozensets, NamedTuples and frozen dataclasses"
    )


def encode(state: Any) -> bytes:
    """The canonical encoding of ``state``.

    Examples
    --------
    >>> encode((1, "a")) == encode((1, "".join(["a"])))
    True
    >>> encode(frozenset({"x", "y"})) == encode(frozenset({"y", "x"}))
    True
    """
    return marshal.dumps(_canonical(state), 2)


def digest(data: bytes) -> int:
    """A 64-bit hash of an encoding (BLAKE2b): symmetry's key of an orbit's smallest encoding."""
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little")


def fingerprint(state: Any) -> int:
    """The 64-bit fingerprint of ``state`` (:mod:`klpcheck.model.hash64`).

    Examples
    --------
    >>> hex(fingerprint((0, 0, False)))
    '0xfac0d94f96e29a42'
    """
    return _generic()(state)


@cache
def _generic() -> Callable[[Any], int]:
    return make_hasher(None, None)


def fingerprinter(state_type: type, native: bool = True) -> Callable[[Any], int]:
    """The fingerprint function of a model whose states are all ``state_type``.

    For a dataclass it hashes the tuple of compared fields after a tag of its own, so
    its values differ from :func:`fingerprint`'s; every process of one search must use
    the same function. ``native=False`` gives the pure-Python twin (the same values).
    """
    if state_type is tuple or not dataclasses.is_dataclass(state_type):
        return make_hasher(None, None, native)
    names = [f.name for f in dataclasses.fields(state_type) if f.compare]
    get: Callable[[Any], Any] = attrgetter(*names) if names else (lambda s: ())
    fields = get if len(names) > 1 else (lambda s: (get(s),)) if names else get
    return make_hasher(state_type, fields, native)


def encoder(state_types: frozenset[type]) -> Callable[[Any], bytes]:
    """A canonical encoding of the states of a model whose states have ``state_types``.

    Like :func:`encode`, a function of the state's value only and injective, but several
    times faster for a single dataclass or tuple state type: the fields (or items) are
    marshalled as one tuple, each canonicalised as :func:`encode` would, and the bytes
    are always those of ``marshal.dumps(canonical fields, 2)``. Its bytes differ from
    :func:`encode`'s.

    How it stays fast: the first state that is not plain (an enum, a frozenset, a nested
    dataclass) is taken as an example of its type's shape (:func:`_shape`): each field
    that held an enum member, or an exact tuple of members of one enum, is converted
    from a table by ``id()`` afterwards; a field that held anything else not plain goes
    through the general conversion; a plain field is left to ``marshal``, which refuses
    anything but exact plain types. A state whose fields differ from that shape (a
    lookup fails, ``marshal`` refuses a value, or the bytes may hold a set) is encoded by
    the general conversion, so the bytes never depend on which path was taken.

    Examples
    --------
    >>> enc = encoder(frozenset({tuple}))
    >>> enc((1, frozenset({"a", "b"}))) == enc((1, frozenset({"b", "a"})))
    True
    """
    if len(state_types) != 1:
        return encode
    (state_type,) = state_types
    fields: Callable[[Any], Any]
    if state_type is tuple:
        fields, skip = tuple, 0
    elif dataclasses.is_dataclass(state_type):
        names = [f.name for f in dataclasses.fields(state_type) if f.compare]
        if not names:
            return encode
        get = attrgetter(*names)
        fields, skip = (get if len(names) > 1 else (lambda s: (get(s),))), 3
    else:
        return encode
    dumps = marshal.dumps
    shaped: list[Callable[[Any], Any] | None] = [
        None
    ]  # learnt from the first non-plain state

    def slow(state: Any) -> bytes:
        return dumps(_canonical(state)[skip:], 2)

    def fast(state: Any) -> bytes:
        values = fields(state)
        convert = shaped[0]
        try:
            data = dumps(values if convert is None else convert(values), 2)
        except (ValueError, KeyError):  # not plain, or not of the learnt shape
            if convert is None:
                shaped[0] = _shape(values)
            return slow(state)
        if b"<" in data or b">" in data:  # maybe a set; redo to be sure
            return slow(state)
        return data

    return fast


def _shape(example: tuple[Any, ...]) -> Callable[[tuple[Any, ...]], tuple[Any, ...]]:
    """A converter of field tuples shaped like ``example`` into their canonical form.

    Raises KeyError for a field whose value has another shape (the caller then converts
    the whole state the general way); otherwise its result equals
    ``tuple(map(_canonical, values))`` wherever ``marshal`` accepts it.
    """
    env: dict[str, Any] = {"_canonical": _canonical}
    parts = []
    for i, value in enumerate(example):
        kind = type(value)
        parts.append(f"v[{i}]")
        if _plain(value):
            continue
        if isinstance(value, enum.Enum):
            env[f"t{i}"] = _enum_table(kind)
            parts[i] = f"t{i}[id(v[{i}])]"
            continue
        kinds = set(map(type, value)) if kind is tuple else set()
        if len(kinds) == 1:
            (only,) = kinds
            if issubclass(only, enum.Enum):
                env[f"c{i}"] = _by_identity(_members(_enum_table(only)))
                parts[i] = f"c{i}(v[{i}])"
                continue
        env[f"c{i}"] = _by_identity(_canonical)
        parts[i] = f"c{i}(v[{i}])"
    body = ", ".join(f"({p})" for p in parts)
    exec(f"def convert(v):\n    return ({body},)", env)  # generated from indices only
    convert: Callable[[tuple[Any, ...]], tuple[Any, ...]] = env["convert"]
    return convert


def _members(table: dict[int, Any]) -> Callable[[Any], Any]:
    """The canonical form of an exact tuple of members of the enum ``table`` is made for.

    Raises KeyError for anything else (a tuple subclass has another canonical form).
    """
    get = table.__getitem__

    def convert(value: Any) -> Any:
        if type(value) is not tuple:
            raise KeyError(value)
        return tuple(map(get, map(id, value)))

    return convert


def _by_identity(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``convert`` remembering its answers for the last few thousand objects it was given.

    A successor shares every field its step did not change with its parent, so the same
    tuple objects come back again and again. An answer is reused only for the very same
    object, which the memo keeps alive (so its id cannot be reused by another object).
    """
    memo: dict[int, tuple[Any, Any]] = {}
    get = memo.get

    def remembered(value: Any) -> Any:
        hit = get(id(value))
        if hit is not None and hit[0] is value:
            return hit[1]
        if len(memo) >= _MEMO_SIZE:
            memo.clear()
        answer = convert(value)
        memo[id(value)] = (value, answer)
        return answer

    return remembered


_MEMO_SIZE = 1024  # objects each converted field remembers


def _plain(value: Any) -> bool:
    """True when ``marshal`` encodes ``value`` canonically as it is (no set inside)."""
    try:
        data = marshal.dumps(value, 2)
    except ValueError:
        return False
    return b"<" not in data and b">" not in data


def _enum_table(kind: type) -> dict[int, Any]:
    """``id(member)`` to the member's canonical form, for every member of enum ``kind``.

    A member keeps its id for as long as its class lives, and the table holds the class
    (through the converter registered for it), so an id found here is that member.
    """
    convert = _CONVERTERS.get(kind)
    if convert is None:
        convert = _CONVERTERS.setdefault(kind, _converter(kind, None))
    members: Any = getattr(kind, "__members__").values()  # noqa: B009 (an Enum)
    return {id(m): convert(m) for m in members}


def collision_note(distinct: int, transitions: int) -> str:
    """TLC's optimistic estimate that a fingerprint collision hid a state.

    Each of the ``transitions - distinct`` successors found already seen could have been a
    new state whose fingerprint matched one of the ``distinct`` stored ones.

    Examples
    --------
    >>> collision_note(187_500, 1_181_250)
    'fingerprint storage: the probability that a collision hid a state is about 1.0e-08 (distinct × (transitions − distinct) / 2^64)'
    """
    p = distinct * max(0, transitions - distinct) / 2.0**64
    return (
        f"fingerprint storage: the probability that a collision hid a state is about "
        f"{p:.1e} (distinct × (transitions − distinct) / 2^64)"
    )
