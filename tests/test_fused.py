"""The fused breadth-first level (klpcheck.search.fused) against the two-part loop.

A plain breadth-first search runs each level as one generated function; with
``KLPCHECK_NO_FUSE=1`` it runs the loop that asks the successor function for a list and
walks it. Both must find the same: verdicts, counts, step statistics, depths, bounds,
violations and their traces, on every small manifest entry and on random models whose
guards, effects and invariants are inlined or called, with and without keys
(fingerprints), bounds, deadlock checks, targets and ``keep_going``.
"""

from __future__ import annotations

import random
import types
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from klpcheck import Model, ModelError, Progress, Result, check
from klpcheck.gate.manifest import Entry, load_manifest, run_entry
from klpcheck.search import explore
from klpcheck.search import fused as generated
from tests.conftest import MODELS, SMALL
from tests.test_incremental import _random_dishonest
from tests.test_por_random import CI, build, model_specs

State = tuple[int, ...]

ENTRIES = [
    e
    for e in load_manifest(MODELS / "manifest.toml")
    if not e.slow and e.states < SMALL and not e.params.get("live")
]


def outcome(result: Result) -> tuple[Any, ...]:
    """Everything a search reports but its time (states by their text: a model file
    loaded twice has two classes of states)."""
    return (
        result.verdict,
        result.distinct_states,
        result.transitions,
        result.max_depth,
        result.incomplete_reason,
        result.step_stats,
        [
            (
                v.property,
                None if v.trace is None else [s.label() for s in v.trace.steps],
                None if v.trace is None else [repr(s) for s in v.trace.states],
            )
            for v in result.violations
        ],
        {name: [s.label() for s in t.steps] for name, t in result.witnesses.items()},
    )


def both(run: Callable[[], Result], monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """``outcome(run())`` fused, then with ``KLPCHECK_NO_FUSE=1``."""
    out = []
    for value in ("", "1"):
        monkeypatch.setenv("KLPCHECK_NO_FUSE", value)
        out.append(outcome(run()))
    monkeypatch.delenv("KLPCHECK_NO_FUSE")
    return out


# -- random models ---------------------------------------------------------------------


def _equal(s: State, i: int, v: int, j: int, w: int) -> bool:
    return s[i] == v


def _differ(s: State, i: int, v: int, j: int, w: int) -> bool:
    """Two statements: never inlined."""
    x = s[i]
    return x != v


def _put(s: State, i: int, v: int, j: int, w: int) -> State:
    return (*s[:j], w, *s[j + 1 :])


def _bump(s: State, i: int, v: int, j: int, w: int) -> State:
    """Two statements: never inlined."""
    t = list(s)
    t[j] = (t[j] + 1) % (w + 1)
    return tuple(t)


def _below(a: int, b: int, c: int) -> Callable[[State], bool]:
    return lambda s: s[a] + s[b] <= c


def _hits(a: int, v: int) -> Callable[[State], bool]:
    return lambda s: s[a] == v


def _not_both(a: int, b: int, c: int) -> Callable[[State], bool]:
    def pred(s: State) -> bool:
        """Two statements: never inlined."""
        x = s[a] == c
        return not (x and s[b] == c)

    return pred


def _random_model(rng: random.Random) -> Model[State]:
    """One to five steps over tuples of small ints, each with one to three instances;
    guards and effects inlined or called, some steps with no guard; invariants,
    sometimes a target and a terminal predicate."""
    width = rng.randrange(2, 5)
    top = rng.randrange(1, 4)
    m = Model("random_fused", init=(0,) * width)
    for n in range(rng.randrange(1, 6)):
        over = [
            (
                rng.randrange(width),
                rng.randrange(top + 1),
                rng.randrange(width),
                rng.randrange(1, top + 1),
            )
            for _ in range(rng.randrange(1, 4))
        ]
        guard = rng.choice([_equal, _equal, _equal, _differ, _differ, None])
        effect = rng.choice([_put, _bump]) if guard is not None else _bump
        named = types.FunctionType(effect.__code__, effect.__globals__, f"s{n}")
        m.step(when=guard, over=over)(named)
    for n in range(rng.randrange(0, 3)):
        make = rng.choice([_below, _not_both])
        a, b = rng.randrange(width), rng.randrange(width)
        pred = make(a, b, rng.randrange(1, 2 * top + 1))
        pred.__name__ = f"inv{n}"
        m.invariant(pred)
    if rng.random() < 0.4:
        goal = _hits(rng.randrange(width), rng.randrange(1, top + 2))
        goal.__name__ = "goal"
        m.reachable(goal)
    if rng.random() < 0.3:
        end = rng.randrange(width)
        m.terminal(lambda s: s[end] == 0)
    return m


def _random_options(rng: random.Random) -> dict[str, Any]:
    options: dict[str, Any] = {"keep_going": rng.random() < 0.5}
    if rng.random() < 0.3:
        options["storage"] = "fingerprint"
    if rng.random() < 0.3:
        options["deadlock"] = False
    if rng.random() < 0.2:
        options["max_states"] = rng.randrange(1, 12)
    if rng.random() < 0.2:
        options["max_depth"] = rng.randrange(0, 6)
    return options


@pytest.mark.parametrize("seed", range(200))
def test_random_models_find_the_same_fused_or_not(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(seed)
    model = _random_model(rng)
    options = _random_options(rng)
    fused, plain = both(lambda: check(model, **options), monkeypatch)
    assert fused == plain, options


@pytest.mark.slow
def test_many_random_models_find_the_same_fused_or_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """3,000 more random models, in each layout of the generated text."""
    for seed in range(200, 3200):
        monkeypatch.setattr(generated, "_SHORT", (0, 160)[seed % 2])
        monkeypatch.setattr(generated, "_INLINE_NEW", (0, 48)[seed // 2 % 2])
        rng = random.Random(seed)
        model = _random_model(rng)
        options = _random_options(rng)
        fused, plain = both(lambda: check(model, **options), monkeypatch)  # noqa: B023
        assert fused == plain, (seed, options)


# What the generated text writes out in place, or calls: invariants (``_SHORT``
# characters) and the storing of a new state (``_INLINE_NEW`` instances).
LAYOUTS = {"calls": (0, 0), "checks called": (0, 48), "stores called": (160, 0)}


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("seed", range(50))
def test_each_layout_of_the_generated_text_finds_the_same(
    seed: int, layout: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Invariants too long to write out in every block are one function; the new
    states of a model of many instances are stored by one nested function."""
    short, inline_new = LAYOUTS[layout]
    monkeypatch.setattr(generated, "_SHORT", short)
    monkeypatch.setattr(generated, "_INLINE_NEW", inline_new)
    rng = random.Random(seed)
    model = _random_model(rng)
    options = _random_options(rng)
    one, two = both(lambda: check(model, **options), monkeypatch)
    assert one == two, options
    liar = _random_dishonest(random.Random(seed))
    one, two = both(lambda: check(liar, por=False, **options), monkeypatch)
    assert one == two, options


def test_the_random_models_cover_what_they_are_for(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The random models exercise every branch of the generated level."""
    seen = {"violated": 0, "holds": 0, "incomplete": 0, "deadlock": 0, "target": 0}
    inlined = called = 0
    for seed in range(200):
        rng = random.Random(seed)
        model = _random_model(rng)
        result = check(model, **_random_options(rng))
        seen[result.verdict.value] += 1
        names = {v.property for v in result.violations}
        seen["deadlock"] += "deadlock" in names
        seen["target"] += bool(result.witnesses)
        for inst in model.instances():
            if inst.step.guard is _differ:
                called += 1
            elif inst.step.guard is _equal:
                inlined += 1
    assert min(seen.values()) >= 5, seen
    assert min(inlined, called) >= 50, (inlined, called)


@settings(CI, max_examples=60)
@given(
    model_specs(),
    st.sampled_from(
        [
            {"por": False},
            {"por": False, "keep_going": True},
            {"por": False, "incremental": True},
            {"incremental": True, "keep_going": True},
        ]
    ),
)
def test_random_incremental_searches_find_the_same_fused_or_not(
    spec: dict[str, Any], options: dict[str, Any]
) -> None:
    """Honest footprints, incremental enabledness trusting them or not (the random
    models of partial-order reduction; a reduced search never runs a fused level)."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        fused, plain = both(
            lambda: check(build(spec), **options),
            monkeypatch,
        )
    assert fused == plain


@pytest.mark.parametrize("seed", range(60))
def test_random_liars_find_the_same_fused_or_not(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Steps that change more than they declare: trusting nothing, such a state gets
    every property checked (the spill bit), in a fused level as in the two-part loop."""
    fused, plain = both(
        lambda: check(
            _random_dishonest(random.Random(seed)), por=False, keep_going=True
        ),
        monkeypatch,
    )
    assert fused == plain


# -- the models/ directory -------------------------------------------------------------


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.id)
def test_every_small_entry_finds_the_same_fused_or_not(
    entry: Entry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every guard evaluated, and incremental enabledness trusting nothing (the way
    the manifest's searches run)."""
    for incremental in (False, None):
        fused, plain = both(
            lambda: run_entry(entry, incremental=incremental),  # noqa: B023
            monkeypatch,
        )
        assert fused == plain, incremental


# -- what the generated function does on its own ---------------------------------------


def test_a_plain_search_never_builds_the_successor_function(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The fused level is the whole search: no list of successors is made."""
    calls = []
    real = explore.successors_of  # type: ignore[attr-defined]

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(explore, "successors_of", counting)
    model = _random_model(random.Random(3))
    check(model, keep_going=True)
    assert calls == []
    check(model, keep_going=True, order="dfs")
    assert calls == [1]
    monkeypatch.setenv("KLPCHECK_NO_FUSE", "1")
    check(model, keep_going=True)
    assert calls == [1, 1]


def test_an_error_in_a_fused_level_names_the_step_and_keeps_the_counts() -> None:
    m = Model("boom", init=(0,))

    @m.step(when=lambda s: s[0] < 3)
    def up(s: State) -> State:
        return (s[0] + 1,)

    @m.step(when=lambda s: s[0] == 2)
    def boom(s: State) -> State:
        return (1 // (s[0] - 2),)

    with pytest.raises(ModelError) as err:
        check(m)
    assert str(err.value) == (
        "step boom raised ZeroDivisionError: integer division or modulo by zero in "
        "state (2,)"
    )
    m2 = Model("wrong", init=(0,))

    @m2.step(when=lambda s: s[0] < 2)
    def forgets(s: State) -> Any:
        return None if s[0] < 2 else s

    with pytest.raises(ModelError) as err:
        check(m2)
    assert str(err.value) == (
        "step forgets returned NoneType None; steps must return a new tuple (did the "
        "effect forget to return?)"
    )


def test_a_violation_stops_the_level_with_its_counts_written_back() -> None:
    """Stopping inside a level (a violation, the state bound) keeps every firing made
    so far in the step statistics: the same numbers as the two-part loop."""
    m = Model("line", init=(0,))

    @m.step(when=lambda s: s[0] < 10)
    def up(s: State) -> State:
        return (s[0] + 1,)

    @m.step(when=lambda s: s[0] < 10)
    def twice(s: State) -> State:
        return (s[0] + 2,)

    m.invariant(lambda s: s[0] != 5)
    result = check(m)
    assert result.verdict.value == "violated"
    assert (result.distinct_states, result.transitions) == (6, 8)
    assert result.step_stats["up"].fired == 4
    assert result.step_stats["twice"].fired == 4
    trace = result.violations[0].trace
    assert trace is not None
    assert [s.label() for s in trace.steps] == [
        "up",
        "twice",
        "twice",
    ]
    bounded = check(m, max_states=4, keep_going=True)
    assert bounded.verdict.value == "incomplete"
    assert bounded.incomplete_reason == "state bound of 4 reached"
    assert (bounded.distinct_states, bounded.transitions) == (4, 6)


def test_initial_states_beyond_the_state_bound_stop_the_first_level(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Three initial states and a bound of two: the first new state stops the search,
    fused or not (a level given negative room once searched everything)."""
    m: Model[State] = Model("roots", init=[(0,), (1,), (2,)])

    @m.step(when=lambda s: s[0] < 6)
    def up(s: State) -> State:
        return (s[0] + 3,)

    fused, plain = both(lambda: check(m, max_states=2), monkeypatch)
    assert fused == plain
    verdict, states, transitions, _, reason, *_ = fused
    assert (verdict.value, states, transitions) == ("incomplete", 3, 1)
    assert reason == "state bound of 2 reached"


@dataclass(frozen=True)
class Count:
    x: int = 0


@pytest.mark.parametrize("layout", [*LAYOUTS, "written out"])
@pytest.mark.parametrize("incremental", [False, True])
def test_an_invariant_violated_is_never_evaluated_again(
    layout: str, incremental: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With keep_going, an invariant violated in x=1 is no longer checked, so that
    its division by zero in x=2 stops nothing (a fused level went on evaluating it)."""
    if layout in LAYOUTS:
        short, inline_new = LAYOUTS[layout]
        monkeypatch.setattr(generated, "_SHORT", short)
        monkeypatch.setattr(generated, "_INLINE_NEW", inline_new)
    m: Model[Count] = Model("retired", init=Count())

    @m.step(when=lambda s: s.x < 4, reads={"x"}, writes={"x"})
    def up(s: Count) -> Count:
        return Count(s.x + 1)

    m.invariant(reads={"x"})(lambda s: s.x != 1 and 1 // (2 - s.x) >= 0)
    options = {"keep_going": True, "por": False, "incremental": incremental}
    fused, plain = both(lambda: check(m, **options), monkeypatch)
    assert fused == plain
    verdict, states, transitions, depth, _, _, violations, _ = fused
    assert (verdict.value, states, transitions, depth) == ("violated", 5, 4, 4)
    assert [(name, steps) for name, steps, _ in violations] == [
        ("<lambda>", ["up"]),
        ("deadlock", ["up"] * 4),
    ]


def test_progress_reports_count_the_firings_of_the_level_so_far(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A report made in the middle of a level counts the firings made in it (a fused
    level kept them in locals until its end, and reported 1980 of 2048)."""
    m: Model[State] = Model("grid", init=(0, 0))

    @m.step(when=lambda s: s[0] < 59)
    def right(s: State) -> State:
        return (s[0] + 1, s[1])

    @m.step(when=lambda s: s[1] < 59)
    def up(s: State) -> State:
        return (s[0], s[1] + 1)

    reports = []
    for value in ("", "1"):
        monkeypatch.setenv("KLPCHECK_NO_FUSE", value)
        seen: list[Progress] = []
        check(m, progress=seen.append, progress_interval=0)
        reports.append([(p.distinct_states, p.transitions, p.depth) for p in seen])
    assert reports[0] == reports[1]
    assert reports[0] == [(1070, 2048, 44), (2104, 4087, 63), (3104, 6088, 86)]
