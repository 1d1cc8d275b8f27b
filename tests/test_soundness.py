"""Every mode says "violated" on models whose guards read the state through C code.

The reduced search once trusted a recording probe for the reads of a disabled guard: C
code reads a tuple's items without asking the tuple (``"%d%d" % s.p``), and ``type(s)``
sees the stand-in, so the guard of ``fire`` seemed to read nothing, and the step that
enables it was left out: "holds" on a model violated in two steps.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import pytest

from klpcheck import Model, Verdict, check


@dataclass(frozen=True)
class P:
    p: tuple[int, int] = (0, 1)
    fired: bool = False


def _model(style: str) -> Model[P]:
    m = Model(f"probe_{style}", init=P())

    @m.step(when=lambda s: s.p[1] == 1, reads={"p[1]"}, writes={"p[1]"})
    def close(s: P) -> P:
        return replace(s, p=(s.p[0], 0))

    @m.step(when=lambda s: s.p[0] == 0, reads={"p[0]"}, writes={"p[0]"})
    def arm(s: P) -> P:
        return replace(s, p=(1, s.p[1]))

    guards = {
        "percent": lambda s: "%d%d" % s.p == "11" and not s.fired,  # noqa: UP031
        "type": lambda s: type(s) is P and s.p == (1, 1) and not s.fired,
        "helper": lambda s: _both(s) and not s.fired,
    }

    @m.step(when=guards[style], reads={"p", "fired"}, writes={"fired"})
    def fire(s: P) -> P:
        return replace(s, fired=True)

    @m.invariant(reads={"fired"})
    def never_fired(s: P) -> bool:
        return not s.fired

    @m.terminal
    def anything(s: P) -> bool:
        return True

    return m


def _both(s: Any) -> bool:
    return bool(s.p[0] == 1 and s.p[1] == 1)


MODES: list[dict[str, Any]] = [
    {},
    {"order": "dfs"},
    {"keep_going": True},
    {"shortest": True},
    {"audit": True},
    {"storage": "fingerprint"},
    {"workers": 2},
    {"order": "dfs", "keep_going": True},
]


@pytest.mark.parametrize("style", ["percent", "type", "helper"])
@pytest.mark.parametrize("mode", MODES, ids=lambda m: ",".join(m) or "default")
def test_every_mode_finds_the_violation(style: str, mode: dict[str, Any]) -> None:
    r = check(_model(style), **mode)
    assert r.verdict is Verdict.VIOLATED
    (v,) = r.violations
    assert v.property == "never_fired"
    assert v.trace is not None
    assert [step.step for step in v.trace.steps] == ["arm", "fire"]


@pytest.mark.parametrize("style", ["percent", "type", "helper"])
def test_the_full_search_is_the_reference(style: str) -> None:
    r = check(_model(style), por=False, keep_going=True)
    assert (r.verdict, r.distinct_states) == (Verdict.VIOLATED, 6)
