"""Random simulation (``klpcheck run --simulate N``): reproducible by seed, finds a
shallow bug, and never says "holds"."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from klpcheck import UsageError, Verdict
from klpcheck.cli import main
from klpcheck.search.simulate import simulate
from klpcheck.trace.files import load_counterexample, replay
from tests.toy_models import chain, counters, flag_race

FLAG = "from tests.toy_models import flag_race\nmodel = flag_race()\n"


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        main, list(args), env={"NO_COLOR": "1", "COLUMNS": "200"}
    )
    return result.exit_code, result.output


@pytest.fixture(autouse=True)
def _in_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def _labels(result: object) -> list[list[str]]:
    return [
        [s.label() for s in v.trace.steps] if v.trace else []
        for v in result.violations  # type: ignore[attr-defined]
    ]


def test_the_same_seed_gives_the_same_walks() -> None:
    runs = [simulate(flag_race(), 20, depth=10, seed=7, deadlock=False) for _ in "ab"]
    a, b = runs
    assert (a.distinct_states, a.transitions, a.max_depth) == (
        b.distinct_states,
        b.transitions,
        b.max_depth,
    )
    assert _labels(a) == _labels(b)
    assert {n: s.fired for n, s in a.step_stats.items()} == {
        n: s.fired for n, s in b.step_stats.items()
    }
    other = [simulate(counters(3, 9), 5, depth=30, seed=s) for s in (1, 2)]
    assert other[0].step_stats != other[1].step_stats


def test_a_shallow_bug_is_found_and_its_walk_is_a_trace() -> None:
    r = simulate(flag_race(), 50, depth=10, seed=0, deadlock=False)
    assert r.verdict is Verdict.VIOLATED
    (v,) = r.violations
    assert v.property == "mutual_exclusion"
    assert v.trace is not None
    assert len(v.trace) >= 4
    assert [p.name for p in v.trace.states[-1].pc] == ["CRITICAL", "CRITICAL"]


def test_nothing_found_is_incomplete_with_the_counts() -> None:
    r = simulate(counters(2, 3), 4, depth=5, seed=3, deadlock=False)
    assert r.verdict is Verdict.INCOMPLETE
    assert (r.transitions, r.max_depth, r.distinct_states) == (20, 5, 9)
    assert r.incomplete_reason == (
        "random simulation: 4 walks of at most 5 steps, 20 steps, 9 distinct "
        "states; random walks prove nothing"
    )
    assert r.notes == ("simulation seed 3 (--seed 3 repeats this run)",)


def test_a_deadlock_on_a_walk_is_reported_unless_terminal() -> None:
    r = simulate(chain(3), 2, depth=10, seed=1)
    (v,) = r.violations
    assert (v.property, len(v.trace or ())) == ("deadlock", 3)
    r = simulate(chain(3, terminal=True), 2, depth=10, seed=1)
    assert (r.verdict, r.transitions) == (Verdict.INCOMPLETE, 6)


@pytest.mark.parametrize(("walks", "depth"), [(0, 5), (3, 0), (True, 5)])
def test_walks_and_depth_are_whole_numbers(walks: int, depth: int) -> None:
    with pytest.raises(UsageError, match="must be a whole number ≥ 1"):
        simulate(flag_race(), walks, depth=depth)


# -- the command line --------------------------------------------------------------------


def test_cli_finds_saves_and_replays_the_bug() -> None:
    Path("flag.py").write_text(FLAG)
    code, out = run(
        "run", "flag.py", "--no-deadlock", "--simulate", "50", "--seed", "0"
    )
    assert code == 1
    assert "invariant mutual_exclusion violated after" in out
    assert (
        "(random walk: traces are not shortest; --shortest re-finds shortest ones)"
        in out
    )
    assert "simulation seed 0 (--seed 0 repeats this run)" in out
    (saved,) = Path("counterexamples").iterdir()
    rp = replay(load_counterexample(saved))
    assert rp.violation.property == "mutual_exclusion"
    code, out = run(
        "run",
        "flag.py",
        "--no-deadlock",
        "--simulate",
        "50",
        "--seed",
        "0",
        "--shortest",
    )
    assert code == 1
    assert "invariant mutual_exclusion violated after 4 steps" in out
    assert len(load_counterexample(saved).steps) == 4


def test_cli_without_a_finding_is_incomplete_and_prints_the_seed() -> None:
    Path("c.py").write_text(
        "from tests.toy_models import counters\nmodel = counters(2, 3)\n"
    )
    code, out = run("run", "c.py", "--no-deadlock", "--simulate", "4", "--depth", "5")
    assert code == 3
    summary, seed = out.splitlines()
    assert summary.startswith("incomplete — ")
    assert re.search(
        r"— random simulation: 4 walks of at most 5 steps, 20 steps, \d distinct "
        r"states; random walks prove nothing$",
        summary,
    )
    match = re.fullmatch(
        r"simulation seed (\d+) \(--seed (\d+) repeats this run\)", seed
    )
    assert match is not None
    assert match.group(1) == match.group(2)


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--depth", "5"], "--depth and --seed go with --simulate N"),
        (["--simulate", "3", "--dfs"], "does not combine with --dfs"),
        (["--simulate", "3", "--workers", "2"], "does not combine with --workers"),
        (["--simulate", "0"], "Invalid value for '--simulate'"),
    ],
)
def test_cli_refuses_what_a_simulation_cannot_do(args: list[str], words: str) -> None:
    Path("flag.py").write_text(FLAG)
    code, out = run("run", "flag.py", *args)
    assert code == 2
    assert words in out


def test_the_readme_example_is_what_the_run_prints() -> None:
    from tests.conftest import MODELS, ROOT

    readme = (ROOT / "README.md").read_text()
    shown = readme[
        readme.index("$ klpcheck run models/two_phase_commit.py --simulate") :
    ]
    expected = shown.splitlines()[1:3]
    code, out = run(
        "run", str(MODELS / "two_phase_commit.py"), "--simulate", "50", "--seed", "3"
    )
    assert code == 3

    def untimed(line: str) -> str:
        return re.sub(r"depth 100, .*? states/s\)", "depth 100, …", line)

    assert [untimed(line) for line in out.splitlines()] == [
        untimed(line) for line in expected
    ]


def test_simulation_says_it_leaves_liveness_unchecked() -> None:
    from klpcheck import Model, Record
    from klpcheck.search.simulate import simulate

    class C(Record):
        x: int = 0

    model: Model[C] = Model("spin", init=C())

    @model.step(when=lambda s: s.x < 2, fair=True)
    def inc(s: C) -> C:
        return s.replace(x=s.x + 1)

    @model.eventually
    def two(s: C) -> bool:
        return s.x == 2

    @model.terminal
    def done(s: C) -> bool:
        return s.x == 2

    r = simulate(model, walks=2, depth=5, seed=1)
    assert r.verdict.value == "incomplete"
    assert r.notes[-1] == (
        "liveness properties not checked by simulation: two (they need the full state "
        "graph; run without --simulate)"
    )
