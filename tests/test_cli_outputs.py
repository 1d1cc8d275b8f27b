"""The command line's files and gates: counterexamples, JSON, JUnit, DOT, Mermaid,
coverage, progress, ``replay`` and ``check``."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import klpcheck.cli
from klpcheck.cli import main
from tests.conftest import MODELS, ROOT

FLAG = "from tests.toy_models import flag_race\nmodel = flag_race()\n"
WATER = str(MODELS / "water_jug.py")


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        main, list(args), env={"NO_COLOR": "1", "COLUMNS": "100"}
    )
    return result.exit_code, result.output


@pytest.fixture(autouse=True)
def _in_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def write(name: str, text: str) -> str:
    Path(name).write_text(text)
    return name


# -- run: saving ------------------------------------------------------------------------


def test_every_counterexample_is_saved_and_replays() -> None:
    code, out = run("run", WATER)
    assert code == 1
    (saved,) = Path("counterexamples").iterdir()
    assert f"counterexample saved: counterexamples/{saved.name}" in out
    code, out = run("replay", str(saved))
    assert code == 1
    assert "invariant big_is_not_goal violated after 6 steps" in out
    assert "replayed 6 steps: each enabled and leading to the saved state" in out


def test_save_dir_and_no_save(tmp_path: Path) -> None:
    flag = write("flag.py", FLAG)
    assert run("run", flag, "--continue", "--save-dir", "out")[0] == 1
    assert [p.name for p in Path("out").iterdir()] == [
        "flag_race-mutual_exclusion.json"
    ]
    assert run("run", flag, "--no-save")[0] == 1
    assert not Path("counterexamples").exists()


def test_a_holding_model_saves_nothing() -> None:
    code, out = run("run", str(MODELS / "two_phase_commit.py"))
    assert code == 0
    assert not Path("counterexamples").exists()
    assert "counterexample" not in out


# -- run: JSON and JUnit --------------------------------------------------------------


def test_json_report_has_verdict_counts_properties_trace_coverage() -> None:
    code, _ = run("run", WATER, "--json", "r.json", "--continue")
    assert code == 1
    data = json.loads(Path("r.json").read_text())
    assert (data["format"], data["version"], data["verdict"], data["exit_code"]) == (
        "klpcheck-result",
        1,
        "violated",
        1,
    )
    assert data["complete"] is True
    assert data["counts"]["distinct_states"] == 16
    props = {p["name"]: p for p in data["properties"]}
    assert props["big_is_not_goal"]["status"] == "violated"
    assert props["big_is_not_goal"]["trace_length"] == 6
    assert props["big_is_not_goal"]["counterexample"].startswith("counterexamples/")
    step = props["big_is_not_goal"]["trace"]["steps"][0]
    assert (step["label"], step["changes"]) == ("fill_big", [["big", "0", "5"]])
    assert step["kernel"] is None
    assert props["deadlock"]["status"] == "holds"
    cov = {c["step"]: c for c in data["coverage"]}
    assert set(cov) == {
        "fill_small",
        "fill_big",
        "empty_small",
        "empty_big",
        "small_to_big",
        "big_to_small",
    }
    assert all(c["fired"] > 0 and not c["never_enabled"] for c in cov.values())


def test_json_of_a_holding_model_lists_reached_targets() -> None:
    code, _ = run("run", str(MODELS / "two_phase_commit.py"), "--json", "r.json")
    assert code == 0
    data = json.loads(Path("r.json").read_text())
    statuses = {p["name"]: p["status"] for p in data["properties"]}
    assert statuses == {
        "consistent": "holds",
        "all_committed": "reached",
        "deadlock": "holds",
    }


def test_junit_has_one_case_per_property_with_the_trace() -> None:
    code, _ = run("run", WATER, "--junit", "r.xml")
    assert code == 1
    root = ET.parse("r.xml").getroot()
    assert root.tag == "testsuites"
    (suite,) = root
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == (
        "2",
        "1",
        "1",
    )
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    failure = cases["invariant big_is_not_goal"].find("failure")
    assert failure is not None
    assert failure.get("message") == "invariant big_is_not_goal violated after 6 steps"
    assert "6  big_to_small   big: 5 → 4" in (failure.text or "")
    skipped = cases["deadlock"].find("skipped")
    assert skipped is not None
    assert "--continue" in (skipped.get("message") or "")


def test_json_and_junit_of_an_incomplete_run() -> None:
    code, _ = run(
        "run",
        str(MODELS / "two_phase_commit.py"),
        "--max-states",
        "50",
        "--json",
        "r.json",
        "--junit",
        "r.xml",
    )
    assert code == 3
    data = json.loads(Path("r.json").read_text())
    assert (data["verdict"], data["complete"]) == ("incomplete", False)
    assert {p["status"] for p in data["properties"]} == {"unknown"}
    suite = ET.parse("r.xml").getroot()[0]
    assert (suite.get("errors"), suite.get("skipped")) == ("3", "0")
    messages = {e.get("message") for e in suite.iter("error")}
    assert messages == {"not proven: search incomplete (state bound of 50 reached)"}


def test_an_unwritable_report_is_one_line() -> None:
    Path("blocker").write_text("")
    code, out = run("run", WATER, "--no-save", "--json", "blocker/r.json")
    assert code == 2
    assert out.strip().splitlines()[-1].startswith("error: cannot write blocker/r.json")


# -- coverage and progress ------------------------------------------------------------

NEVER = '''
from klpcheck import Model
model = Model("never", init=0)

@model.step(when=lambda s: s < 2)
def tick(s):
    """Count up."""
    return s + 1

@model.step(when=lambda s: s > 5)
def jump(s):
    """Never enabled."""
    return 0

@model.terminal
def end(s):
    """The end."""
    return s == 2
'''


def test_coverage_table_and_never_enabled_warning() -> None:
    code, out = run("run", write("never.py", NEVER), "--coverage")
    assert code == 0
    lines = [line.split() for line in out.splitlines()]
    assert ["tick", "2", "2"] in lines
    assert ["jump", "0", "0"] in lines
    assert (
        "warning: step jump was never enabled; its guard may never hold "
        "(a modelling mistake?)" in out
    )


def test_never_enabled_warning_without_coverage_and_not_when_quiet() -> None:
    path = write("never.py", NEVER)
    assert "warning: step jump was never enabled" in run("run", path)[1]
    assert "warning" not in run("run", path, "-q")[1]


def test_no_warning_for_a_step_the_model_expects_never_to_fire() -> None:
    path = write("never.py", NEVER + 'model.never_enabled_is_expected("jump")\n')
    code, out = run("run", path, "--coverage", "--json", "r.json")
    assert code == 0
    assert ["jump", "0", "0"] in [line.split() for line in out.splitlines()]
    assert "warning" not in out
    assert json.loads(Path("r.json").read_text())["warnings"] == []
    path = write("bad.py", NEVER + 'model.never_enabled_is_expected("jmp")\n')
    code, out = run("run", path)
    assert code == 2
    assert out.strip().endswith(
        "never_enabled_is_expected names no step jmp; register the step first "
        "(steps: jump, tick)"
    )


COUNTERS = "from tests.toy_models import counters\nmodel = counters(4, 10)\n"


def test_progress_lines_when_not_a_terminal() -> None:
    code, out = run(
        "run", write("c.py", COUNTERS), "--progress-interval", "0", "--no-deadlock"
    )
    assert code == 0
    progress = [line for line in out.splitlines() if line.startswith("progress: ")]
    assert progress
    assert "distinct states" in progress[0]
    assert "states/s, queue " in progress[0]
    assert ", depth " in progress[0]
    assert "progress" not in run("run", "c.py", "-q", "--progress-interval", "0")[1]


def test_ctrl_c_gives_an_incomplete_summary_and_exit_3(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def interrupting(stream: Any) -> Any:
        def report(progress: Any) -> None:
            raise KeyboardInterrupt

        return report

    monkeypatch.setattr(klpcheck.cli, "plain_progress", interrupting)
    code, out = run(
        "run", write("c.py", COUNTERS), "--progress-interval", "0", "--json", "r.json"
    )
    assert code == 3
    assert "states/s) — interrupted" in out
    assert json.loads(Path("r.json").read_text())["verdict"] == "incomplete"


# -- DOT and Mermaid -------------------------------------------------------------------


def test_dot_of_a_small_model() -> None:
    code, _ = run("run", write("flag.py", FLAG), "--dot", "g.dot", "--no-save")
    assert code == 1
    text = Path("g.dot").read_text()
    assert text.startswith('digraph "flag_race" {')
    assert text.count(" -> ") == 10
    assert 'label="claim(t=1)"' in text
    assert "color=red" in text


def test_dot_refuses_a_large_model_politely() -> None:
    big = write(
        "big.py", "from tests.toy_models import counters\nmodel = counters(4, 8)\n"
    )
    code, out = run("run", big, "--dot", "g.dot")
    assert code == 2
    assert out.strip() == (
        "error: model `counters_4_8` has more than 2,000 states; the state graph is for "
        "small models: shrink it with -D (e.g. fewer tasks)"
    )
    assert not Path("g.dot").exists()


def test_mermaid_from_run_and_replay() -> None:
    code, _ = run("run", write("flag.py", FLAG), "--mermaid", "a.mmd")
    assert code == 1
    text = Path("a.mmd").read_text()
    assert text.startswith(
        "sequenceDiagram\n    title flag_race: invariant mutual_exclusion"
    )
    assert "participant task0 as task 0" in text
    assert "task1->>task1: 4. claim" in text
    (saved,) = Path("counterexamples").iterdir()
    assert run("replay", str(saved), "--mermaid", "b.mmd")[0] == 1
    assert Path("b.mmd").read_text() == text


# -- replay ---------------------------------------------------------------------------


def test_replay_of_a_stale_file_names_the_step_and_exits_2() -> None:
    run("run", WATER)
    (saved,) = Path("counterexamples").iterdir()
    data = json.loads(saved.read_text())
    data["steps"][3]["state"]["small"] = 1
    saved.write_text(json.dumps(data))
    code, out = run("replay", str(saved))
    assert code == 2
    (line,) = out.strip().splitlines()
    assert "step 4 of 6 diverged: big_to_small leads to another state" in line
    assert "small (saved 1, replayed 2)" in line
    assert "re-save or delete it" in line


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("{", "is truncated"),
        ("\x00\x01", "is not valid JSON"),
        ('{"format": "something-else"}', "is not a klpcheck counterexample"),
    ],
)
def test_replay_of_bad_input_is_one_line_exit_2(text: str, words: str) -> None:
    Path("x.json").write_text(text)
    code, out = run("replay", "x.json")
    assert code == 2
    (line,) = out.strip().splitlines()
    assert line.startswith("error: x.json ")
    assert words in line


def test_replay_prints_the_whole_trace_when_not_a_terminal() -> None:
    run("run", write("flag.py", FLAG), "--continue")
    (saved,) = Path("counterexamples").iterdir()
    code, out = run("replay", str(saved), "--full")
    assert code == 1
    assert "flag_race, saved by klpcheck" in out
    assert "flag = True  ◂" in out


# -- check ------------------------------------------------------------------------------

TOY_MANIFEST = """
[[entry]]
model = "flag.py"
variant = "default"
expect = "violated"
violates = ["mutual_exclusion"]
states = {states}
shortest = {{ mutual_exclusion = 4 }}

[[entry]]
model = "flag.py"
variant = "slow"
expect = "violated"
violates = ["mutual_exclusion"]
states = 9
shortest = {{ mutual_exclusion = 4 }}
slow = true
"""


def test_check_runs_the_real_manifest() -> None:
    manifest = str(MODELS / "manifest.toml")
    # A slice keeps this fast; tests/test_manifest.py runs every entry.
    slice_ = ["-k", "two_phase_commit.py", "-k", "water_jug", "-k", "tasks4"]
    code, out = run("check", manifest, *slice_, "--junit", "m.xml")
    assert code == 0, out
    assert "match      two_phase_commit.py[default]  holds, 288 states" in out
    assert "skipped    seed_rfc2015.py[tasks4]  slow (run with --slow)" in out
    assert out.strip().splitlines()[-1].endswith("match, 1 skipped")
    suite = ET.parse("m.xml").getroot()[0]
    assert suite.get("failures") == "0"


def test_check_fails_on_a_wrong_pin_and_on_a_vanished_violation() -> None:
    write("flag.py", FLAG)
    write("m.toml", TOY_MANIFEST.format(states=10))
    code, out = run("check", "m.toml", "--json", "m.json", "--junit", "m.xml")
    assert code == 1
    assert "mismatch   flag.py[default]  9 distinct states, pinned 10" in out
    data = json.loads(Path("m.json").read_text())
    assert [e["status"] for e in data["entries"]] == ["mismatch", "skipped"]
    failure = ET.parse("m.xml").getroot()[0].find("testcase/failure")
    assert failure is not None
    assert "pinned 10" in (failure.get("message") or "")

    write(
        "flag.py", FLAG.replace("flag_race()", "flag_race()\nmodel.invariants.clear()")
    )
    write("m.toml", TOY_MANIFEST.format(states=9))
    code, out = run("check", "m.toml", "--slow")
    assert code == 1
    assert "violated nothing, pinned ['mutual_exclusion']" in out
    assert "2 entries: 0 match, 2 mismatch" in out


def test_check_shows_the_trace_of_an_unpinned_violation() -> None:
    write("flag.py", FLAG)
    write(
        "m.toml",
        '[[entry]]\nmodel = "flag.py"\nvariant = "v"\nexpect = "holds"\nstates = 9\n',
    )
    code, out = run("check", "m.toml")
    assert code == 1
    assert "invariant mutual_exclusion violated after 4 steps" in out


def test_check_exit_codes_for_bad_input_and_incomplete_runs() -> None:
    code, out = run("check", "missing.toml")
    assert (code, out.strip()) == (2, "error: manifest missing.toml does not exist")
    write(
        "m.toml",
        '[[entry]]\nmodel = "nope.py"\nvariant = "v"\nexpect = "holds"\nstates = 1\n',
    )
    code, out = run("check", "m.toml")
    assert code == 2
    assert "error      nope.py[v]  model file" in out
    write("c.py", COUNTERS.replace("(4, 10)", "(5, 10)"))
    write(
        "m.toml",
        '[[entry]]\nmodel = "c.py"\nvariant = "v"\nexpect = "holds"\nstates = 1\n',
    )
    code, out = run("check", "m.toml", "--time-limit", "0.001")
    assert code == 3
    assert "incomplete c.py[v]  the search was incomplete (time limit" in out
    code, out = run("check", "m.toml", "-k", "zzz")
    assert (code, out.strip()) == (2, "error: no entry of m.toml matches 'zzz'")


def test_check_saves_counterexamples_on_request() -> None:
    write("flag.py", FLAG)
    write("m.toml", TOY_MANIFEST.format(states=9))
    assert run("check", "m.toml", "--save-dir", "cx")[0] == 0
    assert [p.name for p in Path("cx").iterdir()] == ["flag_race-mutual_exclusion.json"]


def test_the_readme_documents_the_new_commands() -> None:
    readme = (ROOT / "README.md").read_text() + (
        ROOT / "docs" / "traces.md"
    ).read_text()
    for words in (
        "klpcheck replay",
        "klpcheck check",
        "--junit",
        "--coverage",
        '"version": 2',
    ):
        assert words in readme


def test_json_trace_steps_carry_their_kernel_reference() -> None:
    seed = str(MODELS / "seed_rfc2015.py")
    assert run("run", seed, "-D", "clear_first=true", "--json", "r.json")[0] == 1
    props = json.loads(Path("r.json").read_text())["properties"]
    (prop,) = [p for p in props if p["status"] == "violated"]
    step = prop["trace"]["steps"][3]
    assert (step["label"], step["kernel"]) == (
        "call_foo(t=0)",
        "kernel/trace/ftrace.c: ftrace_ops_list_func()",
    )


def test_no_colour_when_not_a_terminal() -> None:
    result = CliRunner().invoke(
        main, ["run", WATER, "--no-save"], env={"COLUMNS": "80"}
    )
    assert result.exit_code == 1
    assert "violated after 6 steps" in result.output
    assert "\x1b[" not in result.output
