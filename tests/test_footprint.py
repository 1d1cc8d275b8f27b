"""Footprint paths and the probe: what counts as read, and when it gives up."""

from __future__ import annotations

import functools
import sys
import types
from dataclasses import dataclass
from typing import Any

import pytest

from klpcheck.model.footprint import (
    access_plan,
    changed_paths,
    complete_reads,
    covers,
    overlaps,
    recorded_reads,
    resolve,
    static_reads,
)


@dataclass(frozen=True, slots=True)
class S:
    lock: int = -1
    pc: tuple[int, ...] = (0, 2, 5)
    stack: tuple[tuple[int, ...], ...] = ((1, 2), (3, 4))

    def free(self) -> bool:
        return self.lock == -1


def _reads(guard: object, *args: object) -> tuple[bool, list[tuple[object, ...]]]:
    got = recorded_reads(guard, S(), args)  # type: ignore[arg-type]
    assert got is not None
    return got[0], sorted(got[1], key=repr)


def test_the_probe_logs_one_element_and_stops_at_a_false_conjunct() -> None:
    assert _reads(lambda s, t: s.pc[t] == 1 and s.lock == -1, 1) == (False, [("pc", 1)])


def test_the_probe_logs_nested_elements_and_negative_indices_as_positions() -> None:
    assert _reads(lambda s: s.stack[1][0] == 3 and s.pc[-1] == 0) == (
        False,
        [("pc", 2), ("stack", 1, 0)],
    )


def test_whole_field_operations_log_the_field() -> None:
    assert _reads(lambda s: 7 in s.pc or len(s.stack) > 5) == (
        False,
        [("pc",), ("stack",)],
    )


def test_a_method_of_the_state_counts_as_reading_everything() -> None:
    assert _reads(lambda s: not s.free()) == (False, [()])


def test_isinstance_still_works_on_the_probe() -> None:
    value, paths = _reads(lambda s: isinstance(s, S) and s.lock == 0)
    assert value is False
    assert ("lock",) in paths


def test_a_guard_that_raises_on_the_probe_gives_nothing() -> None:
    assert recorded_reads(lambda s: s.pc[9] == 0, S(), ()) is None


def test_parameters_that_are_not_positions_cover_the_whole_field() -> None:
    paths = resolve(frozenset({"pc[t]"}), {"t": "left"})
    assert paths == frozenset({("pc",)})
    assert overlaps(paths, frozenset({("pc", 0)}))
    assert covers(paths, ("pc", 2))


# -- the proven probe: reduction trusts an observed read set only when it is complete --


def _complete(
    guard: object, *args: object
) -> tuple[bool, list[tuple[object, ...]]] | None:
    got = complete_reads(guard, S(), args)  # type: ignore[arg-type]
    return None if got is None else (got[0], sorted(got[1], key=repr))


def test_the_proven_probe_logs_one_element_and_stops_at_a_false_conjunct() -> None:
    assert _complete(lambda s, t: s.pc[t] == 1 and s.lock == -1, 1) == (
        False,
        [("pc", 1)],
    )


def test_a_field_that_reaches_c_code_whole_is_logged_whole() -> None:
    guard = lambda s: "%d%d%d" % s.pc == "111"  # noqa: E731, UP031 (C code reads pc)
    assert _complete(guard) == (False, [("pc",)])
    assert _complete(lambda s: sum(s.pc) == 0 or s.pc[0] == 9) == (False, [("pc",)])
    assert _complete(lambda s: s.stack[1][0] == 0) == (False, [("stack", 1)])


@pytest.mark.parametrize(
    "guard",
    [
        lambda s: type(s) is S and s.lock == 0,
        lambda s: isinstance(s, S) and s.lock == 0,
        lambda s: s.free(),
        lambda s: s == S(),
        lambda s: hash(s) == 0,
        lambda s: s is None,
        lambda s: repr(s) == "",
        lambda s: [x for x in (1,) if s.lock == x] == [1],  # a closure over the state
        lambda s: locals()["s"].lock == 0,
        lambda s: getattr(s, "lock") == 0,  # noqa: B009 (the state as an argument)
    ],
)
def test_the_proven_probe_gives_up_wherever_the_state_could_escape(
    guard: object,
) -> None:
    assert _complete(guard) is None


def test_a_guard_that_reads_nothing_is_constant() -> None:
    assert _complete(lambda s, t: t > 5, 1) == (False, [])


def test_a_function_that_is_not_plain_python_is_not_observed() -> None:
    assert (
        complete_reads(functools.partial(lambda s, t: s.lock == t, t=0), S(), ())
        is None
    )


def test_the_access_plan_tells_element_fields_from_whole_ones() -> None:
    fields = ("lock", "pc", "stack")
    plan = access_plan(
        (lambda s, t: s.pc[t] == 0 and s.pc[0] < s.lock).__code__, fields
    )
    assert plan == {"pc": True, "lock": False}
    plan = access_plan((lambda s, t: s.pc[t] == 0 and 3 in s.pc).__code__, fields)
    assert plan == {"pc": False}


# -- reads proven from the code, following the helpers it calls -----------------------

FIELDS = ("lock", "pc", "stack")


def _pc(s: S, t: int) -> int:
    return s.pc[t]


def _free_and_first(s: S) -> bool:
    return s.lock == -1 and _pc(s, 1) == 0


def _shifted(s: S, t: int) -> int:
    t = t + 1
    return s.pc[t]


def _itself(s: S) -> S:
    return s


def _looped(s: S, n: int) -> bool:
    return n > 0 and _looped(s, n - 1)


def _defaulted(s: S, t: int = 0) -> int:
    return s.pc[t]


def _rebinding() -> tuple[object, object]:
    k = 1

    def itself(s: S) -> int:
        nonlocal k
        k = 2  # reads pc[2] every time, though the cell holds 1 until the first call
        return s.pc[k]

    def inside(s: S) -> int:
        def bump() -> bool:  # never handed the state, rebinds the shared cell
            nonlocal k
            k = 2
            return True

        return bump() and s.pc[k]

    return itself, inside


def _peek() -> int:
    return sys._getframe(1).f_locals["s"].lock  # type: ignore[no-any-return]


def _from_traceback(s: S) -> bool:
    try:
        raise ValueError
    except ValueError as e:
        frame = e.__traceback__.tb_frame  # type: ignore[union-attr]
        return getattr(frame, "f_" + "locals")["s"].lock == 0  # type: ignore[no-any-return]


def _from_inspect_by_name(s: S) -> bool:
    found = sys.modules["".join(("insp", "ect"))]  # a module got by a computed name
    frame = found.stack()[0][0]
    return found.getargvalues(frame)[3]["s"].lock == 0  # type: ignore[no-any-return]


def _set_aside() -> tuple[object, object]:
    k = 0

    def setter() -> bool:  # never handed the state
        nonlocal k
        k = 2
        return True

    return (lambda s: setter() and s.pc[k]), (lambda s: functools.partial(_peek)())


class _Peeker:
    def __call__(self) -> int:
        return sys._getframe(1).f_locals["s"].lock  # type: ignore[no-any-return]

    @staticmethod
    def look() -> int:
        return sys._getframe(1).f_locals["s"].lock  # type: ignore[no-any-return]


class _Tool(_Peeker):
    pass


def _peek_two_up() -> int:
    return sys._getframe(2).f_locals["s"].lock  # type: ignore[no-any-return]


def _defaulted_peek(look: Any = _peek_two_up) -> int:
    return look()  # type: ignore[no-any-return]


_peeker = _Peeker()
_uncached_peek = functools.lru_cache(maxsize=0)(_peek)
_tool = _Tool()
_helpers = types.ModuleType("helpers")
_helpers.peek = _Peeker.look  # type: ignore[attr-defined]
_package = types.ModuleType("package")
_package.helpers = _helpers  # type: ignore[attr-defined]

_target = _pc


def _retargets(s: S) -> int:
    global _target
    _target = _shifted  # the callee named below is not the one bound at the start
    return _target(s, 0)


def _retargets_module(s: S) -> int:
    sys.modules[__name__]._target = _shifted  # type: ignore[attr-defined]
    return _target(s, 0)


def _proven(fn: object, *args: object) -> list[tuple[object, ...]] | None:
    got = static_reads(fn, args, FIELDS)  # type: ignore[arg-type]
    return None if got is None else sorted(got, key=repr)


def _closures() -> tuple[object, object]:
    k = 1

    def top(s: S, t: int) -> int:
        return s.stack[t][k]

    return (lambda s: top(s, k) == 0 and s.pc[k] == 0), (lambda s: top(s, k + 1))


def test_the_reads_of_helpers_are_followed_with_their_arguments() -> None:
    assert _proven(lambda s, t: _pc(s, t) == 0, 2) == [("pc", 2)]
    assert _proven(_free_and_first) == [("lock",), ("pc", 1)]
    # closure helpers, an index held by a closure variable
    through_closure, computed_index = _closures()
    assert _proven(through_closure) == [("pc", 1), ("stack", 1, 1)]
    assert _proven(computed_index) == [("stack",)]
    # an index computed, or a parameter assigned: the whole field
    assert _proven(lambda s, t: _pc(s, t + 1) == 0, 0) == [("pc",)]
    assert _proven(lambda s: _shifted(s, 0)) == [("pc",)]
    # other arguments may be computed, the state's field passed, an f-string built
    assert _proven(lambda s, t: _pc(s, len(f"{t}{s.lock}")), 1) == [("lock",), ("pc",)]
    # comprehensions and lambdas over the state
    assert _proven(lambda s: all(_pc(s, t) == 0 for t in range(2))) == [("pc",)]
    assert _proven(lambda s: sorted((1, 0), key=lambda t: s.pc[t])[0]) == [("pc",)]
    # a comprehension that assigns the guard's own local: that index is not known
    walrus = lambda s, t: [(t := 2) for _ in (1,)] and _pc(s, t)  # noqa: E731
    assert _proven(walrus, 0) == [("pc",)]


@pytest.mark.parametrize(
    "guard",
    [
        lambda s: (_pc if s.lock else _shifted)(s, 0),  # the callee chosen by a jump
        lambda s: _pc(*(s, 0)),
        lambda s: _pc(s, t=0),
        lambda s: _itself(s).lock,  # the state comes back out
        lambda s: _looped(s, 3),  # recursion
        lambda s: _defaulted(s),  # a default fills a parameter
        lambda s: _pc(not s, 0),  # type: ignore[arg-type]  # consumed before the call
        lambda s: S.free(s),  # a method
        lambda s: isinstance(s, S) and s.lock == 0,  # not Python code
        lambda s: _pc(s if s.lock else S(), 0),
        _rebinding()[0],  # a closure variable the guard rebinds before indexing
        _rebinding()[1],  # ... or a function nested in it does
        _retargets,  # a global callee rebound by the code that calls it
        lambda s: _retargets(s) and s.lock,
        _retargets_module,  # ... through its module's attribute
        lambda s: _peek() == 0,  # a helper handed nothing reads the caller's frame
        _from_traceback,  # a frame from a traceback, its locals by a computed name
        _from_inspect_by_name,  # ... from a module got by a computed name
        _set_aside()[0],  # a helper handed nothing rebinds the index
        _set_aside()[1],  # ... or reads the frame, through a partial
        lambda s: _peeker() == 0,  # ... an object called as a function
        lambda s: _Peeker.look() == 0,  # ... a static method
        lambda s: _helpers.peek() == 0,  # ... a module's function
        lambda s: _package.helpers.peek() == 0,  # ... a module's module's
        lambda s: _tool.look() == 0,  # ... a method its object's class inherits
        lambda s: _defaulted_peek() == 0,  # ... a parameter's default
        lambda s: _uncached_peek() == 0,  # ... a function wrapped in C code
    ],
)
def test_reads_are_not_proven_wherever_the_state_could_go_unseen(guard: object) -> None:
    assert _proven(guard) is None


class _Counter:
    """An index that names another element each time it is used."""

    def __init__(self) -> None:
        self.n = 0

    def __index__(self) -> int:
        self.n += 1
        return self.n % 3


class _Liar(int):
    def __eq__(self, other: object) -> bool:
        return False

    __hash__ = int.__hash__


def test_an_index_that_is_not_an_int_counts_as_the_whole_field() -> None:
    index = lambda s, t: s.pc[t]  # noqa: E731
    assert _proven(index, _Counter()) == [("pc",)]
    # an int's subclass indexes by its value, and the path holds a plain int
    got = static_reads(index, (_Liar(2),), FIELDS)
    assert got == frozenset({("pc", 2)})
    assert all(type(p[1]) is int for p in got or ())
    assert _proven(index, True) == [("pc", 1)]


class _Sum(tuple):  # type: ignore[type-arg]
    """A tuple whose item 0 is the sum of its items: ``t[0]`` reads them all."""

    def __getitem__(self, i: Any) -> Any:
        return sum(tuple.__iter__(self)) if i == 0 else tuple.__getitem__(self, i)


def test_a_tuple_that_indexes_in_its_own_way_changes_as_one_part() -> None:
    # s.pc[0] counts as pc[0]: a write to pc[1] must then count as a write to pc
    before, after = S(pc=_Sum((0, 0))), S(pc=_Sum((0, 1)))
    assert static_reads(lambda s: s.pc[0] == 1, (), FIELDS) == frozenset({("pc", 0)})
    assert changed_paths(before, after) == [("pc",)]
    assert changed_paths(S(pc=(0, 0)), S(pc=(0, 1))) == [("pc", 1)]
    assert complete_reads(lambda s: s.pc[0] == 1, after, ()) == (
        True,
        frozenset({("pc",)}),
    )


def test_calls_are_followed_only_when_asked() -> None:
    assert static_reads(lambda s: _pc(s, 0), (), FIELDS, follow=False) is None
    assert static_reads(lambda s: s.pc[0], (), FIELDS, follow=False) == frozenset(
        {("pc", 0)}
    )
