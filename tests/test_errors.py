"""Model definition errors and failures in model code: one clear message each."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest

from klpcheck import Model, ModelError, UsageError, check


@dataclass(frozen=True)
class Box:
    items: tuple[int, ...] = ()
    n: int = 0


@dataclass(frozen=True)
class Bag:
    items: list[int]


@dataclass
class Loose:
    n: int = 0


def raises(message: str) -> pytest.RaisesExc[ModelError]:
    return pytest.raises(ModelError, match=f"^{re.escape(message)}$")


def test_an_unhashable_field_is_named_with_its_fix() -> None:
    with raises(
        "model `m`: initial state 0: field `items` of Bag is a `list` (unhashable); use a tuple"
    ):
        Model("m", init=Bag([1]))


def test_a_mutable_dataclass_is_refused() -> None:
    with raises(
        "model `m`: initial state 0: Loose is a dataclass without frozen=True; declare it @dataclass(frozen=True)"
    ):
        Model("m", init=Loose())


def test_a_step_returning_none_is_named() -> None:
    m = Model("m", init=Box())

    @m.step(over=range(2))
    def forget(s: Box, t: int) -> Box:
        """Forgets to return."""
        s.n.bit_length()
        return None  # type: ignore[return-value]

    with raises(
        "step forget(t=0) returned NoneType None; steps must return a new Box (did the effect forget to return?)"
    ):
        check(m)


def test_a_step_returning_an_unhashable_state_names_the_field() -> None:
    m = Model("m", init=Box())

    @m.step
    def spoil(s: Box) -> Box:
        """Puts a list into the state."""
        return Box(items=[1], n=1)  # type: ignore[arg-type]

    with raises(
        "step spoil returned an unhashable state: field `items` of Box is a `list` (unhashable); use a tuple"
    ):
        check(m)


def test_a_raising_guard_names_step_parameter_and_state() -> None:
    m = Model("m", init=Box())

    @m.step(over=range(2), when=lambda s, t: 1 // t > 0)
    def divide(s: Box, t: int) -> Box:
        """Never reached for t=0."""
        return s

    with raises(
        "guard of step divide(t=0) raised ZeroDivisionError: integer division or modulo by zero in state Box(items=(), n=0)"
    ):
        check(m)


def test_a_raising_effect_names_step_parameter_and_state() -> None:
    m = Model("m", init=Box())

    @m.step(over=["a"], when=lambda s, k: True)
    def lookup(s: Box, k: str) -> Box:
        """Indexes past the end."""
        return Box(n=s.items[0])

    with raises(
        "step lookup(k='a') raised IndexError: tuple index out of range in state Box(items=(), n=0)"
    ):
        check(m)


def test_a_raising_invariant_is_named() -> None:
    m = Model("m", init=Box())

    @m.step(when=lambda s: s.n == 0)
    def bump(s: Box) -> Box:
        """n becomes 1."""
        return Box(n=1)

    @m.invariant
    def first_item_small(s: Box) -> bool:
        """Reads an item that is not there once n is 1."""
        return s.n == 0 or s.items[0] < 3

    with raises(
        "invariant `first_item_small` raised IndexError: tuple index out of range in state Box(items=(), n=1)"
    ):
        check(m, deadlock=False)


def test_over_without_a_parameter_is_refused() -> None:
    m = Model("m", init=Box())
    with raises(
        "step `tick` has over= but its effect takes only the state; add a parameter: def tick(s, t)"
    ):

        @m.step(over=range(2))
        def tick(s: Box) -> Box:
            return s


def test_a_parameter_without_over_is_refused() -> None:
    m = Model("m", init=Box())
    with raises(
        "step `tick` takes parameters ['t'] but has no over=; give over= the values to run it with"
    ):

        @m.step
        def tick(s: Box, t: int) -> Box:
            return s


def test_guard_and_effect_must_take_the_same_arguments() -> None:
    m = Model("m", init=Box())
    with raises(
        "step `tick`: when= takes 1 argument(s) but the effect takes 2; the guard gets the same arguments as the effect"
    ):

        @m.step(over=range(2), when=lambda s: True)
        def tick(s: Box, t: int) -> Box:
            return s


def test_multi_parameter_values_must_be_tuples() -> None:
    m = Model("m", init=Box())
    with raises(
        "step `tick` takes 2 parameters, so each value of over= must be a 2-tuple, not int 0"
    ):

        @m.step(over=range(2))
        def tick(s: Box, t: int, f: int) -> Box:
            return s


def test_a_footprint_naming_a_missing_field_is_refused() -> None:
    m = Model("m", init=Box())
    with raises(
        "`tick`: writes= names field `count`, which the state does not have; its fields are items, n"
    ):

        @m.step(writes={"count"})
        def tick(s: Box) -> Box:
            return s


def test_a_footprint_index_must_be_a_parameter() -> None:
    m = Model("m", init=Box())
    with raises(
        "`tick`: reads= entry 'items[u]' indexes by `u`, which is not a parameter of the step (parameters: t)"
    ):

        @m.step(over=range(2), reads={"items[u]"})
        def tick(s: Box, t: int) -> Box:
            return s


def test_a_footprint_must_be_a_set_of_strings() -> None:
    m = Model("m", init=Box())
    with raises("`tick`: reads= must be a set of strings, e.g. {'n'}"):

        @m.step(reads="n")
        def tick(s: Box) -> Box:
            return s


def test_names_must_be_unique() -> None:
    m = Model("m", init=Box())

    @m.step
    def tick(s: Box) -> Box:
        return s

    with raises(
        "model `m`: the name `tick` is used twice (or reserved); step and property names must be unique"
    ):

        @m.invariant
        def tick(s: Box) -> bool:  # type: ignore[misc]
            return True


def test_unknown_and_bad_options_are_usage_errors() -> None:
    m = Model("m", init=Box())
    with pytest.raises(
        UsageError, match=r"^unknown option\(s\) max_dept; known: order, "
    ):
        check(m, max_dept=3)
    with pytest.raises(
        UsageError, match=r"^order must be one of bfs, dfs, not 'random'$"
    ):
        check(m, order="random")
    with pytest.raises(
        UsageError, match=r"^max_states must be a whole number ≥ 0, not -1$"
    ):
        check(m, max_states=-1)
