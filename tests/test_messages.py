"""Messages a newcomer meets: each says what is wrong in the user's terms, and the
options it names exist (issue: "A newcomer's first hour")."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from klpcheck import Model, ModelError, check
from klpcheck.base.options import Progress
from klpcheck.cli import main
from klpcheck.gate.manifest import Entry, load_manifest
from klpcheck.gate.runner import EntryOutcome, GateOutcome
from klpcheck.report.render import render_text, summary_line
from tests.conftest import MODELS


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


@dataclass(frozen=True)
class Buf:
    buf: tuple[object, ...] = ()


# -- bad input -------------------------------------------------------------------------


def test_a_directory_given_as_the_model_is_called_a_directory() -> None:
    Path("models").mkdir()
    code, out = run("run", "models")
    assert (code, out.strip()) == (
        2,
        "error: model models is a directory; give the path of a .py model file in it",
    )


def test_a_list_inside_a_tuple_is_named_not_the_tuple() -> None:
    with pytest.raises(ModelError) as err:
        Model("m", init=Buf(buf=(0, [1])))
    assert str(err.value) == (
        "model `m`: initial state 0: field `buf` of Buf holds a `list` at buf[1] "
        "(unhashable); use a tuple"
    )


def test_a_dict_as_the_whole_state_is_called_the_state() -> None:
    with pytest.raises(ModelError) as err:
        Model("m", init={"x": 1})
    assert str(err.value) == (
        "model `m`: initial state 0: the state is a `dict` (unhashable); use a "
        "frozen dataclass, a NamedTuple or a tuple of pairs"
    )


def test_a_wrong_typed_result_is_not_blamed_on_a_missing_return() -> None:
    m = Model("m", init=Buf())

    @m.step(when=lambda s: not s.buf)
    def grow(s: Buf) -> Buf:
        return (0,)  # type: ignore[return-value]

    with pytest.raises(ModelError) as err:
        check(m)
    assert str(err.value) == (
        "step grow returned tuple (0,); steps must return a new Buf"
    )


def test_a_parameter_of_the_wrong_type_takes_an_int() -> None:
    write(
        "m.py",
        "from klpcheck import Model\ndef build(n: int = 2):\n    return Model('m', init=n)\n",
    )
    code, out = run("run", "m.py", "-D", "n=two")
    assert (code, out.strip()) == (
        2,
        "error: parameter n takes an int, not 'two' (e.g. -D n=2)",
    )


def test_a_parameter_given_twice_is_an_error() -> None:
    write(
        "m.py",
        "from klpcheck import Model\ndef build(k: int = 2):\n    return Model('m', init=k)\n",
    )
    code, out = run("run", "m.py", "-D", "k=1", "-D", "k=2")
    assert (code, out.strip()) == (
        2,
        "error: -D k is given twice (k=1 and k=2); give each parameter once",
    )


@pytest.mark.parametrize(
    ("define", "words"),
    [
        ("tasks=0", "tasks must be at least 1, not 0"),
        ("cpus=0", "cpus must be at least 1, not 0"),
        ("tasks=-1", "tasks must be at least 1, not -1"),
        ("funcs=0", "funcs must be at least 1, not 0"),
    ],
)
def test_sizes_that_make_no_sense_are_refused_by_the_model(
    define: str, words: str
) -> None:
    code, out = run("run", str(MODELS / "livepatch.py"), "-D", define)
    assert code == 2
    (line,) = out.strip().splitlines()
    assert line.startswith("error: ")
    assert line.endswith(words)


def test_manifest_key_problems_name_only_what_is_wrong() -> None:
    write("m.toml", '[[entry]]\nmodel = "m.py"\nvariant = "v"\nexpect = "holds"\n')
    code, out = run("check", "m.toml")
    assert code == 2
    assert out.strip() == (
        "error: manifest m.toml, entry 1: missing key states (keys: baseline, expect, "
        "explained, model, note, orbits, params, protection, shortest, slow, states, "
        "variant, violates)"
    )


def test_por_is_a_flag_and_contradicting_no_por_is_an_error() -> None:
    path = str(MODELS / "two_phase_commit.py")
    code, out = run("run", path, "--por", "-q")
    assert (code, out.split(" — ")[0]) == (0, "holds")
    code, out = run("run", path, "--por", "--no-por")
    assert (code, out.strip()) == (
        2,
        "error: --por and --no-por contradict each other; give one",
    )
    code, out = run(
        "run",
        str(MODELS / "livepatch.py"),
        "-D",
        "loop_order=any",
        "-D",
        "symmetry=true",
        "--por",
    )
    assert code == 2
    assert "drop --por (por=True) or pass --no-symmetry" in out


# -- output ----------------------------------------------------------------------------


def test_one_of_a_kind_is_singular() -> None:
    r = check(Model("one", init=0))
    assert summary_line(r).plain.startswith(
        "violated — 1 distinct state, 0 transitions,"
    )
    entry = Entry(Path("m.py"), "v", {}, "holds", (), 1)
    assert GateOutcome([EntryOutcome(entry, "skipped")]).line() == (
        "1 entry: 0 match, 1 skipped"
    )


def test_a_tuple_that_grows_is_shown_growing() -> None:
    m = Model("grow", init=Buf())

    @m.step(when=lambda s: len(s.buf) < 2)
    def push(s: Buf) -> Buf:
        return Buf(buf=(*s.buf, len(s.buf)))

    @m.invariant
    def short(s: Buf) -> bool:
        return len(s.buf) < 2

    text = render_text(check(m))
    assert "buf: () → (0,)" in text
    assert "buf: (0,) → (0, 1)" in text
    assert "None" not in text


def test_terminal_takes_reads_like_every_property() -> None:
    m = Model("t", init=Buf())

    @m.terminal(reads={"buf"})
    def done(s: Buf) -> bool:
        return True

    assert m.terminal_property is not None
    assert m.terminal_property.reads == frozenset({"buf"})
    assert check(m).holds


def test_progress_shows_depth_and_level_sizes_in_a_reduced_search(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import klpcheck.search.explore
    from tests import por_models

    monkeypatch.setattr(
        klpcheck.search.explore, "CLOCK_EVERY", 1
    )  # report at every state
    seen: list[Progress] = []
    r = check(
        por_models.independent(3, 6),
        deadlock=False,
        progress=seen.append,
        progress_interval=0.0,
    )
    assert r.reduction.reduced > 0
    assert seen
    assert max(p.depth for p in seen) > 0
    assert all(p.level is not None and p.level > 0 for p in seen)
    dfs: list[Progress] = []
    check(
        por_models.independent(3, 6),
        order="dfs",
        deadlock=False,
        progress=dfs.append,
        progress_interval=0.0,
    )
    assert dfs
    assert all(p.level is None for p in dfs)


# -- saving and drawing ------------------------------------------------------------------

WATER = str(MODELS / "water_jug.py")


def test_a_longer_trace_never_replaces_a_shorter_saved_one() -> None:
    assert run("run", WATER)[0] == 1
    (saved,) = Path("counterexamples").iterdir()
    before = saved.read_text()
    assert len(json.loads(before)["steps"]) == 6
    code, out = run("run", WATER, "--dfs")
    assert code == 1
    assert saved.read_text() == before
    (line,) = [line for line in out.splitlines() if line.startswith("counterexample")]
    assert line.startswith(f"counterexample kept: {saved} has a 6-step trace of ")
    assert line.endswith("was not saved (--save-dir DIR keeps both)")
    assert "counterexample saved" not in out


def test_a_shorter_trace_replaces_a_longer_saved_one() -> None:
    assert run("run", WATER, "--dfs")[0] == 1
    (saved,) = Path("counterexamples").iterdir()
    dfs_steps = len(json.loads(saved.read_text())["steps"])
    assert dfs_steps > 6
    assert run("run", WATER)[1].endswith(f"counterexample saved: {saved}\n")
    assert len(json.loads(saved.read_text())["steps"]) == 6


def test_witness_prints_and_draws_each_reachable_target() -> None:
    path = str(MODELS / "seed_rfc2015.py")
    code, out = run(
        "run", path, "-D", "scenario=patch", "--witness", "-q", "--mermaid", "w.mmd"
    )
    assert code == 0
    assert "witness transition_completes: reachable target reached after " in out
    drawn = sorted(p.name for p in Path().glob("w-*.mmd"))
    assert "w-transition_completes.mmd" in drawn
    text = Path("w-transition_completes.mmd").read_text()
    assert text.startswith("sequenceDiagram")
    assert "witness of reachable transition_completes" in text


def test_mermaid_on_a_holding_run_says_why_nothing_was_written() -> None:
    code, out = run(
        "run", str(MODELS / "two_phase_commit.py"), "-q", "--mermaid", "x.mmd"
    )
    assert code == 0
    assert not Path("x.mmd").exists()
    assert out.splitlines()[-1] == (
        "holds: no counterexample to draw; x.mmd not written (--witness draws the "
        "reachable targets' traces)"
    )


def test_replay_against_another_model_file_advises_that_file() -> None:
    assert run("run", WATER)[0] == 1
    (saved,) = Path("counterexamples").iterdir()
    other = Path("other_jug.py")
    other.write_text(Path(WATER).read_text().replace("small + big", "big + small + 0"))
    data = json.loads(saved.read_text())
    data["steps"][2]["state"]["big"] = 99
    saved.write_text(json.dumps(data))
    code, out = run("replay", str(saved), "--model", str(other))
    assert code == 2
    assert "re-save: klpcheck run other_jug.py" in out
    assert "models/water_jug.py" not in out


def test_the_manifest_loads() -> None:
    assert load_manifest(MODELS / "manifest.toml")
