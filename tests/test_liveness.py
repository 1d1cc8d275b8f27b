"""Liveness under fairness: hand-computed verdicts, lassos, options and reports."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from klpcheck import Model, ModelError, UsageError, Verdict, check, render_text
from klpcheck.cli import main
from klpcheck.search.liveness import build_graph, strongly_connected
from klpcheck.trace.files import load_counterexample, replay, save_counterexample
from tests.liveness_models import (
    dead_end,
    fair_self_loop,
    lock,
    peterson,
    philosophers,
    two_starts,
    unfair_loop_only,
)


def lassos(model: Model[Any]) -> dict[str, tuple[int, int, int | None] | None]:
    """Per violated property: (trace length, trigger, cycle start); None for safety."""
    result = check(model, keep_going=True)
    assert result.verdict is not Verdict.INCOMPLETE
    out = {}
    for v in result.violations:
        assert v.trace is not None
        out[v.property] = (
            (len(v.trace), v.lasso.trigger, v.lasso.cycle_start) if v.lasso else None
        )
    return out


# -- hand-computed models ----------------------------------------------------------------


def test_peterson_starves_without_fairness() -> None:
    # Process 0 raises its flag; process 1 thinks forever: 1-step stem, 1-step cycle.
    assert lassos(peterson(None)) == {"starvation_free": (2, 1, 1)}
    result = check(peterson(None))
    assert (result.distinct_states, result.transitions) == (20, 46)
    v = result.violation("starvation_free")
    assert v is not None
    assert v.trace is not None
    assert [s.label() for s in v.trace.steps] == ["request(i=0)", "think(i=1)"]


@pytest.mark.parametrize("fair", [True, "weak", "strong"])
def test_peterson_is_starvation_free_under_fairness(fair: str | bool) -> None:
    result = check(peterson(fair))
    assert (result.verdict, result.distinct_states) == (Verdict.HOLDS, 20)


def test_a_waiter_starves_under_weak_but_not_strong_fairness() -> None:
    # request(0); then process 1 requests, acquires and releases, forever: acquire(0)
    # is disabled while process 1 holds the lock, so weak fairness allows it.
    assert lassos(lock("weak")) == {"waiter_gets_lock": (4, 1, 1)}
    v = check(lock("weak")).violation("waiter_gets_lock")
    assert v is not None
    assert v.lasso is not None
    assert v.trace is not None
    assert [s.label() for s in v.trace.steps] == [
        "request(i=0)",
        "request(i=1)",
        "acquire(i=1)",
        "release(i=1)",
    ]
    why = {f.instance: (f.kind, f.taken, f.disabled) for f in v.lasso.fairness}
    assert why == {
        "request(i=1)": ("weak", 2, None),
        "acquire(i=0)": ("weak", None, 3),  # process 1 holds the lock in state 3
        "acquire(i=1)": ("weak", 3, None),
        "release(i=1)": ("weak", 4, None),
    }
    assert v.lasso.never_enabled == 2  # request(0) and release(0)
    result = check(lock("strong"))
    assert (result.verdict, result.distinct_states, result.transitions) == (
        Verdict.HOLDS,
        8,
        14,
    )


@pytest.mark.parametrize("fair", [None, "weak", "strong"])
def test_dining_philosophers_deadlock_ends_a_starving_behaviour(
    fair: str | None,
) -> None:
    # All take their left fork: a dead state where philosopher 0 never eats.
    assert lassos(philosophers(3, asymmetric=False, fair=fair)) == {
        "deadlock": None,
        "zero_eats": (3, 1, None),
    }
    assert check(philosophers(3, asymmetric=False, fair=fair)).distinct_states == 14


def test_asymmetric_philosophers_starve_under_weak_fairness_only() -> None:
    # Philosopher 1 eats forever while 0 holds its left fork: 0's right fork is free
    # only between 1's meals.
    assert lassos(philosophers(3, asymmetric=True, fair="weak")) == {
        "zero_eats": (4, 1, 1)
    }
    assert lassos(philosophers(3, asymmetric=True, fair=None)) == {
        "zero_eats": (4, 1, 1)
    }
    result = check(philosophers(3, asymmetric=True, fair="strong"))
    assert (result.verdict, result.distinct_states) == (Verdict.HOLDS, 12)


def test_a_model_whose_only_violating_cycle_is_unfair_holds() -> None:
    result = check(unfair_loop_only(fair=True))
    assert (result.verdict, result.distinct_states) == (Verdict.HOLDS, 3)
    assert lassos(unfair_loop_only(fair=False)) == {"reaches_two": (2, 0, 1)}


def test_a_taken_self_loop_counts_as_taking_its_instance() -> None:
    assert lassos(fair_self_loop()) == {"reaches_two": (2, 0, 1)}


def test_a_terminal_state_where_the_target_never_holds_is_a_violation() -> None:
    assert lassos(dead_end()) == {"reaches_three": (1, 0, None)}


def test_every_initial_state_must_reach_the_target_and_counts_itself() -> None:
    # From 5 the behaviour loops forever; 3 meets the target at once.
    assert lassos(two_starts(5)) == {"goal": (1, 0, 0)}
    v = check(two_starts(5)).violation("goal")
    assert v is not None
    assert v.trace is not None
    assert v.trace.init == 5
    assert check(two_starts(3)).verdict is Verdict.HOLDS


def test_a_dead_state_meeting_the_target_is_a_deadlock_only() -> None:
    m = Model("stop", init=0)

    @m.step(when=lambda s: s == 0, fair=True)
    def go(s: int) -> int:
        return 1

    @m.eventually
    def one(s: int) -> bool:
        return s == 1

    assert lassos(m) == {"deadlock": None}


def test_leads_to_counts_the_trigger_state_itself() -> None:
    m = Model("both", init=0)

    @m.step
    def spin(s: int) -> int:
        return s

    @m.leads_to(lambda s: s == 0)
    def zero(s: int) -> bool:
        return s == 0

    assert check(m).verdict is Verdict.HOLDS


# -- the machinery -----------------------------------------------------------------------


def test_tarjan_is_iterative_on_a_long_cycle() -> None:
    n = 50_000  # far deeper than the recursion limit
    comps = strongly_connected(
        range(n), lambda v: True, lambda v: [(v + 1) % n] + ([v - 1] if v else [])
    )
    assert [len(c) for c in comps] == [n]
    chain = strongly_connected(
        range(5), lambda v: True, lambda v: [v + 1] if v < 4 else []
    )
    assert sorted(map(tuple, chain)) == [(0,), (1,), (2,), (3,), (4,)]


def test_the_state_graph_keeps_every_enabled_instance_as_an_edge() -> None:
    graph = build_graph(lock("weak"))
    assert (len(graph), len(graph.targets), len(graph.fair)) == (8, 14, 6)
    assert graph.enabled[0] == graph.bit(0) | graph.bit(1)  # request(0), request(1)


def test_fairness_flags_are_checked() -> None:
    m = Model("bad", init=0)
    with pytest.raises(ModelError, match=r"step `tick`: fair= must be True \(weak\)"):

        @m.step(fair="sometimes")
        def tick(s: int) -> int:
            return s

    with pytest.raises(ModelError, match=r"leads_to\(q\) needs q, a function"):
        m.leads_to(3)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"por": True}, "drop partial-order reduction (--por, por=True)"),
        ({"storage": "fingerprint"}, "drop fingerprint storage (--fingerprint)"),
        ({"workers": 2}, "drop 2 workers (--workers)"),
    ],
)
def test_reductions_with_liveness_are_usage_errors(
    options: dict[str, object], words: str
) -> None:
    with pytest.raises(UsageError, match=words.replace("(", r"\(").replace(")", r"\)")):
        check(lock("weak"), **options)


def test_a_declared_symmetry_is_not_used_for_liveness() -> None:
    m = lock("weak")

    @m.symmetry([(0, 1), (1, 0)])
    def rename(s: Any, g: tuple[int, ...]) -> Any:
        return s

    with pytest.raises(UsageError, match=r"symmetry reduction \(symmetry=True\)"):
        check(m, symmetry=True)
    result = check(m)
    assert result.symmetry is None
    assert result.distinct_states == 8
    assert any(n.startswith("liveness: full search") for n in result.notes)


@pytest.mark.parametrize("options", [{"max_states": 5}, {"max_depth": 1}])
def test_a_bounded_search_leaves_liveness_unknown(options: dict[str, int]) -> None:
    result = check(lock("strong"), **options)
    assert result.verdict is Verdict.INCOMPLETE
    assert "liveness (waiter_gets_lock) not checked: the search was incomplete" in (
        result.notes
    )


def test_stopping_at_a_safety_violation_skips_liveness() -> None:
    result = check(philosophers(3, asymmetric=False, fair=None))
    assert [v.property for v in result.violations] == ["deadlock"]
    assert any("--continue checks it" in n for n in result.notes)


def test_the_rendered_lasso_marks_trigger_cycle_and_fairness() -> None:
    text = render_text(check(lock("weak")))
    assert text.startswith(
        "leads_to waiter_gets_lock violated: a 1-step stem, then a 3-step cycle repeated "
        "forever\nProcess 0, once waiting, gets the lock.\n"
    )
    for line in (
        "▶ `waiter_gets_lock` holds in state 1; its target holds in no state from here on",
        "↻ the cycle starts in state 1: steps 2–4 return to it and repeat forever",
        "fairness on the cycle",
        "  acquire(i=0)  weak  disabled in state 3",
        "  release(i=1)  weak  taken at step 4",
        "  (2 other fair instance(s) enabled in no state of the cycle)",
    ):
        assert line in text, line
    dead = render_text(check(dead_end()))
    assert "■ state 1 has no enabled step: the behaviour stays there forever" in dead


# -- saving, replay and reports ------------------------------------------------------------


def test_a_saved_lasso_replays_and_a_broken_one_does_not(tmp_path: Path) -> None:
    model = lock("weak")
    v = check(model).violation("waiter_gets_lock")
    assert v is not None
    path = save_counterexample(model, v, tmp_path, order="bfs")
    data = json.loads(path.read_text())
    assert (
        data["version"],
        data["lasso"]["trigger"],
        data["lasso"]["cycle_start"],
    ) == (
        2,
        1,
        1,
    )
    rp = replay(load_counterexample(path), lock("weak"))
    assert rp.violation.lasso == v.lasso
    # Under strong fairness the same cycle is unfair.
    with pytest.raises(
        Exception, match=r"the cycle is unfair: acquire\(i=0\) \(strong\) is enabled"
    ):
        replay(load_counterexample(path), lock("strong"))
    # A cycle that does not close.
    data["lasso"]["cycle_start"] = 2
    path.write_text(json.dumps(data))
    with pytest.raises(Exception, match="the last state is not state 2"):
        replay(load_counterexample(path), model)


CLI_MODEL = '''
from klpcheck import Model

def build(fair: bool = False) -> Model:
    m = Model("spinner", init=0)

    @m.step(when=lambda s: s < 2, fair=fair)
    def go(s):
        """Move on."""
        return s + 1

    @m.step(when=lambda s: s == 1)
    def spin(s):
        """Stay."""
        return s

    @m.step(when=lambda s: s == 2)
    def rest(s):
        """Done."""
        return s

    @m.eventually
    def done(s):
        """State 2 is reached."""
        return s == 2

    return m
'''


def _cli(*args: str) -> tuple[int, str]:
    r = CliRunner().invoke(main, list(args), env={"NO_COLOR": "1", "COLUMNS": "100"})
    return r.exit_code, r.output


def test_cli_run_replay_json_junit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "spin.py").write_text(CLI_MODEL)
    code, out = _cli("run", "spin.py", "--json", "r.json", "--junit", "r.xml")
    assert code == 1
    assert "eventually done violated: a 1-step stem, then a 1-step cycle" in out
    assert "State 2 is reached." in out
    report = json.loads((tmp_path / "r.json").read_text())
    done = next(p for p in report["properties"] if p["name"] == "done")
    assert (done["status"], done["trace_length"], done["lasso"]["cycle_start"]) == (
        "violated",
        2,
        1,
    )
    assert "eventually done violated after 2 steps" in (tmp_path / "r.xml").read_text()
    (saved,) = (tmp_path / "counterexamples").glob("spinner-done-*.json")
    code, out = _cli("replay", str(saved), "--no-interactive")
    assert code == 1
    assert (
        "eventually done still violated (the target never holds from the trigger on; the cycle closes and is fair)"
        in out.replace("\n", " ")
    )
    code, out = _cli("replay", str(saved), "--no-interactive", "--model", "spin.py")
    assert code == 1
    assert _cli("run", "spin.py", "-D", "fair=true")[0] == 0


@pytest.mark.parametrize("flag", [["--fingerprint"], ["--workers", "2"]])
def test_cli_refuses_reductions_with_liveness(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, flag: list[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "spin.py").write_text(CLI_MODEL)
    code, out = _cli("run", "spin.py", *flag)
    assert code == 2
    assert out.count("\n") == 1
    assert out.startswith(
        "error: model `spinner` has liveness properties (done), which need the full "
        "state graph: drop "
    )


def test_cli_bound_is_incomplete(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "spin.py").write_text(CLI_MODEL)
    code, out = _cli("run", "spin.py", "-D", "fair=true", "--max-depth", "1")
    assert code == 3
    assert "liveness (done) not checked: the search was incomplete" in out


def test_the_readme_liveness_example_gives_the_lasso_it_shows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = readme[readme.index("## Liveness") : readme.index("## The manifest")]
    code = section.split("```python\n")[1].split("```")[0]
    shown = section.split("$ klpcheck run lock.py\n")[1].split("```")[0]
    monkeypatch.chdir(tmp_path)
    (tmp_path / "lock.py").write_text(code)
    status, out = _cli("run", "lock.py", "--no-save")
    assert status == 1
    printed = "\n".join(line.rstrip() for line in out.splitlines())
    assert printed.startswith(shown.rstrip("\n")), printed
    assert _cli("run", "lock.py", "-D", "fair=strong")[0] == 0


def test_set_fair_changes_a_registered_step() -> None:
    model = unfair_loop_only(fair=False)
    model.set_fair("go", True)
    assert check(model).verdict is Verdict.HOLDS
    with pytest.raises(ModelError, match="model `unfair_loop` has no step `nope`"):
        model.set_fair("nope", "weak")


def test_an_interrupted_liveness_analysis_is_incomplete(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import klpcheck.search.liveness

    def interrupted(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(klpcheck.search.liveness, "build_graph", interrupted)
    result = check(lock("weak"))
    assert (result.verdict, result.incomplete_reason) == (
        Verdict.INCOMPLETE,
        "interrupted during the liveness analysis",
    )


def test_a_time_limit_during_the_liveness_analysis_is_incomplete() -> None:
    # A limit far shorter than any search: the search itself may finish (the clock
    # is read every 1,024 states), the analysis then finds the time spent.
    result = check(peterson(True), time_limit=1e-9)
    assert result.verdict is Verdict.INCOMPLETE
    assert result.violations == ()


def test_a_liveness_predicate_that_raises_is_a_model_error() -> None:
    m = Model("broken", init=0)

    @m.step
    def spin(s: int) -> int:
        return s

    @m.leads_to(lambda s: 1 // s > 0)
    def zero(s: int) -> bool:
        return True

    with pytest.raises(
        ModelError, match="leads_to `zero` raised ZeroDivisionError: integer division"
    ):
        check(m)


def _counter(top: int) -> Model[int]:
    """0 -> 1 -> ... -> top, which loops on itself."""
    m = Model("counter", init=0)

    @m.step(when=lambda s: s < top)
    def up(s: int) -> int:
        return s + 1

    @m.step(when=lambda s: s == top)
    def stay(s: int) -> int:
        return s

    return m


def test_a_leads_to_trigger_that_answers_none_is_a_model_error() -> None:
    # p forgot to return: read as false everywhere, it would make p ~> q hold.
    m = _counter(2)

    @m.leads_to(lambda s: s == 9)
    def one(s: int) -> bool:
        s == 1  # noqa: B015
        return None  # type: ignore[return-value]

    with pytest.raises(
        ModelError, match=r"^leads_to one returned None \(NoneType\), not a bool, in "
    ):
        check(m)


def test_a_liveness_target_that_answers_no_bool_is_a_model_error() -> None:
    m = _counter(2)

    @m.leads_to(lambda s: [s] if s == 2 else [])  # type: ignore[arg-type,return-value]
    def zero(s: int) -> bool:
        return s == 0

    with pytest.raises(
        ModelError,
        match=r"^the target of leads_to zero returned \[\] \(list\), not a bool, in state 0",
    ):
        check(m)
    m = _counter(2)

    @m.eventually
    def two(s: int) -> bool:
        return 1 if s == 2 else 0  # type: ignore[return-value]

    with pytest.raises(
        ModelError, match=r"^eventually two returned 0 \(int\), not a bool, in state 0"
    ):
        check(m)


def test_a_fair_step_with_a_repeated_over_value_is_a_model_error() -> None:
    # Two instances with one label: a lasso taking one of them would not replay.
    m = Model("twice", init=0)
    with pytest.raises(
        ModelError,
        match=r"^step `spin`: over= gives the value 0 twice; a fair step needs one "
        "instance per value",
    ):

        @m.step(when=lambda s, i: s == 0, over=[0, 0], fair=True)
        def spin(s: int, i: int) -> int:
            return s

    @m.step(over=[1, 1])
    def spin2(s: int, i: int) -> int:
        return s

    with pytest.raises(
        ModelError, match=r"^step `spin2`: over= gives the value 1 twice"
    ):
        m.set_fair("spin2", "strong")
    with pytest.raises(
        ModelError, match=r"^step `spin3`: over= gives the value \[1\] twice"
    ):

        @m.step(over=[[1], [1]], fair="weak")  # unhashable values are compared too
        def spin3(s: int, i: list[int]) -> int:
            return s

    m.set_fair("spin2", None)  # no fairness: repeated values stay allowed
    assert [inst.label() for inst in m.instances()] == ["spin2(i=1)", "spin2(i=1)"]


def test_a_bare_leads_to_that_registers_nothing_is_a_model_error() -> None:
    # `@model.leads_to` without q takes p for q and returns a decorator nobody calls:
    # no property at all, and the model would hold.
    m = _counter(1)

    @m.leads_to
    def zero(s: int) -> bool:
        return s == 0

    assert m.livenesses == []
    with pytest.raises(
        ModelError,
        match=r"^model `counter`: @model.leads_to\(zero\) was applied to no predicate",
    ):
        check(m)


def test_a_predicate_raising_on_replay_is_a_model_error(tmp_path: Path) -> None:
    model = lock("weak")
    v = check(model).violation("waiter_gets_lock")
    assert v is not None
    path = save_counterexample(model, v, tmp_path, order="bfs")
    changed = lock("weak")
    (prop,) = changed.livenesses
    changed.livenesses = [
        dataclasses.replace(prop, target=lambda s: 1 // (s.holder - 1) > 5)
    ]
    with pytest.raises(
        ModelError,
        match=r"every step replays, but checking that it still violates leads_to "
        r"`waiter_gets_lock` raised ZeroDivisionError: integer division or modulo by "
        r"zero \(a property or guard of the model raised on a state of the trace\)$",
    ):
        replay(load_counterexample(path), changed)


def test_a_missed_reachable_target_does_not_skip_liveness() -> None:
    # The target is known missed only once every state was visited: the search did
    # not stop, and the state graph is whole.
    m = _counter(2)

    @m.reachable
    def five(s: int) -> bool:
        return s == 5

    @m.eventually
    def three(s: int) -> bool:
        return s == 3

    result = check(m)
    assert [(v.property, v.kind) for v in result.violations] == [
        ("five", "reachable"),
        ("three", "eventually"),
    ]
    assert not any("not checked" in n for n in result.notes)
    v = result.violation("three")
    assert v is not None
    assert v.trace is not None
    assert v.lasso is not None
    assert (len(v.trace), v.lasso.cycle_start) == (3, 2)


def test_a_memory_bound_reached_while_building_the_graph_is_incomplete() -> None:
    r = check(peterson("weak"), max_memory=1)
    assert r.verdict is Verdict.INCOMPLETE
    assert r.incomplete_reason is not None
    assert r.incomplete_reason.startswith("memory bound of 1 B reached (resident ")
    assert r.incomplete_reason.endswith("(while building the liveness graph)")
