"""The footprint audit: wrong declarations are model errors that name the step, the part
and the state; honest models pass, with or without reduction."""

from __future__ import annotations

from dataclasses import dataclass, replace

import pytest

from klpcheck import Model, ModelError, check, load_model
from tests import por_models
from tests.conftest import MODELS


@dataclass(frozen=True, slots=True)
class Flag:
    flag: bool = False
    pc: tuple[str, ...] = ("idle", "idle")


def _flag_race(
    claim_writes: set[str], observe_reads: set[str], *, peek: bool = False
) -> Model[Flag]:
    model = Model("flag_race", init=Flag())

    @model.step(
        when=lambda s, t: s.pc[t] == "idle" and not s.flag,
        over=range(2),
        reads=observe_reads,
        writes={"pc[t]"},
    )
    def observe(s: Flag, t: int) -> Flag:
        """Task t sees the flag clear."""
        return replace(s, pc=(*s.pc[:t], "saw", *s.pc[t + 1 :]))

    @model.step(
        when=lambda s, t: s.pc[t] == "saw" and (not peek or s.pc[1 - t] != "crit"),
        over=range(2),
        reads={"pc[t]"},
        writes=claim_writes,
    )
    def claim(s: Flag, t: int) -> Flag:
        """Task t sets the flag and enters."""
        return replace(s, pc=(*s.pc[:t], "crit", *s.pc[t + 1 :]), flag=True)

    @model.invariant(reads={"pc"})
    def mutual_exclusion(s: Flag) -> bool:
        """At most one task is in its critical section."""
        return s.pc.count("crit") <= 1

    return model


HONEST = ({"pc[t]", "flag"}, {"pc[t]", "flag"})


@pytest.mark.parametrize("por", [True, False])
def test_an_honest_model_passes_the_audit(por: bool) -> None:
    r = check(_flag_race(*HONEST), audit=True, por=por, keep_going=True)
    assert sorted(v.property for v in r.violations) == ["deadlock", "mutual_exclusion"]
    (note,) = r.notes
    assert note.startswith("footprint audit: ")
    assert "matched their declared writes" in note


def test_a_step_whose_writes_omit_a_field_it_changes_is_caught() -> None:
    with pytest.raises(ModelError) as err:
        check(_flag_race({"pc[t]"}, HONEST[1]), audit=True)
    message = str(err.value)
    assert "step claim(t=0) changed flag (False → True)" in message
    assert "writes={'pc[t]'} (here t=0)" in message
    assert "in state Flag(flag=False, pc=('saw', 'idle'))" in message
    assert "add 'flag'" in message


def test_a_step_that_writes_another_tasks_element_is_caught() -> None:
    model = Model("elements", init=Flag())

    @model.step(over=range(2), when=lambda s, t: s.pc[t] == "idle", reads={"pc[t]"})
    def wrong(s: Flag, t: int) -> Flag:
        return replace(s, pc=("busy", "busy"))

    model.steps[0] = replace(model.steps[0], writes=frozenset({"pc[t]"}))
    model._instances = None
    with pytest.raises(ModelError, match=r"wrong\(t=0\) changed pc\[1\]"):
        check(model, audit=True)


def test_a_guard_that_reads_an_undeclared_field_is_caught() -> None:
    with pytest.raises(ModelError) as err:
        check(_flag_race(*HONEST, peek=True), audit=True, por=False)
    message = str(err.value)
    assert "guard of step claim(t=0) read pc[1]" in message
    assert "reads={'pc[t]'}" in message


def test_a_guard_that_reads_an_undeclared_field_is_caught_by_perturbation() -> None:
    """The guard hides its read from the probe (it goes through a method); the
    perturbation of `flag` still turns it on."""

    @dataclass(frozen=True, slots=True)
    class Door:
        flag: bool = False
        open: bool = False

        def clear(self) -> bool:
            return not self.flag

    model = Model("door", init=Door())

    @model.step(
        when=lambda s: s.clear() and not s.open, reads={"open"}, writes={"open"}
    )
    def open_door(s: Door) -> Door:
        return replace(s, open=True)

    @model.step(when=lambda s: not s.flag, reads={"flag"}, writes={"flag"})
    def raise_flag(s: Door) -> Door:
        return replace(s, flag=True)

    with pytest.raises(ModelError) as err:
        check(model, audit=True)
    message = str(err.value)
    assert "step open_door reads flag without declaring it" in message
    assert "changing flag from" in message


def test_an_effect_that_copies_an_undeclared_field_is_caught() -> None:
    model = Model("copy", init=por_models.XY(x=1))

    @model.step(when=lambda s: s.y == 0, reads={"y"}, writes={"y"})
    def copy_x(s: por_models.XY) -> por_models.XY:
        return replace(s, y=s.x + 1)

    @model.step(when=lambda s: s.x == 1, reads={"x"}, writes={"x"})
    def bump_x(s: por_models.XY) -> por_models.XY:
        return replace(s, x=2)

    with pytest.raises(ModelError, match=r"step copy_x reads x without declaring it"):
        check(model, audit=True)


def test_a_property_that_reads_an_undeclared_field_is_caught() -> None:
    model = Model("prop", init=por_models.XY())

    @model.step(when=lambda s: s.x == 0, reads={"x"}, writes={"x"})
    def set_x(s: por_models.XY) -> por_models.XY:
        return replace(s, x=1)

    @model.invariant(reads={"y"})
    def small(s: por_models.XY) -> bool:
        return s.x + s.y < 5

    with pytest.raises(ModelError, match=r"invariant small read x"):
        check(model, audit=True)


@pytest.mark.parametrize("file", ["two_phase_commit.py", "seed_rfc2015.py"])
def test_the_bundled_models_pass_the_audit(file: str) -> None:
    r = check(load_model(MODELS / file), audit=True, keep_going=True)
    assert r.holds
