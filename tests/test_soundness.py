"""Every mode says "violated" on models whose guards read the state through C code.

The reduced search once trusted a recording probe for the reads of a disabled guard: C
code reads a tuple's items without asking the tuple (``"%d%d" % s.p``), and ``type(s)``
sees the stand-in, so the guard of ``fire`` seemed to read nothing, and the step that
enables it was left out: "holds" on a model violated in two steps.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from klpcheck import Model, ModelError, Verdict, check


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


# -- initial states that are symmetric images of each other ----------------------------


@dataclass(frozen=True, slots=True)
class Ring:
    token: int  # which of the four positions holds the token
    moves: int = 0


def rotation(init_all: bool) -> Model[Ring]:
    """A token moving round a ring of four, at most five moves; the group rotates it.

    With ``init_all`` every rotation of the initial state is an initial state too: one
    orbit, so each is one initial state of the reduced search.
    """
    inits = [Ring(t) for t in range(4)] if init_all else [Ring(0)]
    model: Model[Ring] = Model("rotation", init=inits)

    @model.step(when=lambda s: s.moves < 5)
    def move(s: Ring) -> Ring:
        return Ring((s.token + 1) % 4, s.moves + 1)

    @model.step(when=lambda s: s.moves < 5)
    def jump(s: Ring) -> Ring:
        return Ring((s.token + 2) % 4, s.moves + 1)

    @model.terminal
    def done(s: Ring) -> bool:
        return s.moves == 5

    @model.symmetry(range(4))
    def rotate(s: Ring, g: int) -> Ring:
        return Ring((s.token + g) % 4, s.moves)

    return model


SYMMETRIC_MODES: list[dict[str, Any]] = [
    {},
    {"order": "dfs"},
    {"storage": "fingerprint"},
    {"workers": 2},
]


@pytest.mark.parametrize("init_all", [False, True])
@pytest.mark.parametrize("mode", SYMMETRIC_MODES, ids=lambda m: ",".join(m) or "bfs")
def test_symmetric_initial_states_are_expanded_once(
    init_all: bool, mode: dict[str, Any]
) -> None:
    r = check(rotation(init_all), **mode)
    # One orbit per number of moves: 6 orbits, 2 transitions out of each but the last.
    assert (r.verdict, r.distinct_states, r.transitions) == (Verdict.HOLDS, 6, 10)


@pytest.mark.parametrize("mode", SYMMETRIC_MODES, ids=lambda m: ",".join(m) or "bfs")
def test_without_symmetry_every_initial_state_counts(mode: dict[str, Any]) -> None:
    r = check(rotation(True), symmetry=False, **mode)
    assert (r.verdict, r.distinct_states, r.transitions) == (Verdict.HOLDS, 24, 40)


# -- a state bound gives the same verdict in every mode -------------------------------


def _two_phase_commit() -> Model[Any]:
    from klpcheck.model.loader import load_model

    return load_model("models/two_phase_commit.py")


@pytest.mark.parametrize("bound", [287, 288, 289])
@pytest.mark.parametrize(
    "mode",
    [{}, {"order": "dfs"}, {"storage": "fingerprint"}, {"workers": 2}, {"por": False}],
    ids=lambda m: ",".join(m) or "bfs",
)
def test_a_state_bound_gives_the_same_verdict_in_every_mode(
    bound: int, mode: dict[str, Any]
) -> None:
    r = check(_two_phase_commit(), max_states=bound, **mode)
    if bound >= 288:  # the model has 288 states
        assert (r.verdict, r.distinct_states) == (Verdict.HOLDS, 288)
    else:
        assert r.verdict is Verdict.INCOMPLETE
        assert r.incomplete_reason == "state bound of 287 reached"


# -- a predicate that answers something other than a bool ------------------------------


@dataclass(frozen=True, slots=True)
class Count:
    x: int = 0


def counter(broken: str) -> Model[Count]:
    model: Model[Count] = Model("counter", init=Count())

    @model.step(when=(lambda s: None) if broken == "guard" else (lambda s: s.x < 3))  # type: ignore[arg-type, return-value]
    def inc(s: Count) -> Count:
        return Count(s.x + 1)

    @model.invariant
    def small(s: Count) -> bool:
        if broken == "invariant" and s.x == 2:
            return None  # type: ignore[return-value]
        return s.x < 10

    @model.reachable
    def three(s: Count) -> bool:
        if broken == "reachable":
            return s.x  # type: ignore[return-value]
        return s.x == 3

    @model.terminal
    def done(s: Count) -> bool:
        return s.x == 3

    return model


def _message(broken: str, **options: Any) -> str:
    with pytest.raises(ModelError) as caught:
        check(counter(broken), **options)
    return str(caught.value)


@pytest.mark.parametrize("options", [{}, {"workers": 2}], ids=["one", "workers"])
def test_a_guard_that_answers_none_is_a_model_error(options: dict[str, Any]) -> None:
    assert _message("guard", **options) == (
        "the guard of step inc returned None (NoneType), not a bool, in state "
        "Count(x=0): did the predicate forget to return? Return True or False (wrap it "
        "in bool(...) if it computes a truth value)"
    )


@pytest.mark.parametrize(
    "options", [{}, {"order": "dfs"}, {"workers": 2}], ids=["bfs", "dfs", "workers"]
)
def test_an_invariant_that_answers_none_later_is_no_violation(
    options: dict[str, Any],
) -> None:
    assert _message("invariant", **options).startswith(
        "invariant small returned None (NoneType), not a bool, in state Count(x=2)"
    )


def test_a_reachable_target_that_answers_an_int_is_a_model_error() -> None:
    assert _message("reachable").startswith(
        "reachable three returned 0 (int), not a bool, in state Count(x=0)"
    )


def test_the_command_line_says_it_in_one_line(tmp_path: Any) -> None:
    model = tmp_path / "noret.py"
    model.write_text(
        "from klpcheck import Model, Record\n"
        "class S(Record):\n"
        "    x: int = 0\n"
        "model = Model('noret', init=S())\n"
        "@model.step(when=lambda s: s.x < 3)\n"
        "def inc(s): return s.replace(x=s.x + 1)\n"
        "@model.invariant\n"
        "def small(s):\n"
        "    s.x < 10\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "klpcheck", "run", str(model), "--no-save"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.splitlines() == [
        "error: invariant small returned None (NoneType), not a bool, in state S(x=0): "
        "did the predicate forget to return? Return True or False (wrap it in bool(...) "
        "if it computes a truth value)"
    ]


# -- a memory bound stops the search as incomplete, with everything reported ---------


@pytest.mark.parametrize(
    ("mode", "states"),
    # breadth-first reads the clock after the 1,024th state's successors are in
    [({}, 1264), ({"order": "dfs"}, 1024), ({"storage": "fingerprint"}, 1264)],
    ids=["bfs", "dfs", "fingerprint"],
)
def test_a_memory_bound_stops_at_the_first_clock_read(
    mode: dict[str, Any], states: int
) -> None:
    from klpcheck.model.loader import load_model

    r = check(
        load_model("models/two_phase_commit.py", {"rms": 4}), max_memory=1, **mode
    )
    assert (r.verdict, r.distinct_states) == (Verdict.INCOMPLETE, states)
    assert r.incomplete_reason is not None
    assert r.incomplete_reason.startswith("memory bound of 1 B reached (resident ")
    assert "--fingerprint" in r.incomplete_reason


def test_workers_read_their_resident_size_once_a_level() -> None:
    from klpcheck.model.loader import load_model

    r = check(load_model("models/two_phase_commit.py"), max_memory=1, workers=2)
    # Which level the first worker's report lands in varies between runs.
    assert r.verdict is Verdict.INCOMPLETE
    assert r.distinct_states < 288
    assert r.incomplete_reason is not None
    assert " in one of 2 workers); " in r.incomplete_reason


def test_the_command_line_reports_a_memory_bound(tmp_path: Any) -> None:
    report = tmp_path / "out.json"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "klpcheck",
            "run",
            "models/two_phase_commit.py",
            "-D",
            "rms=4",
            "--max-memory",
            "1K",
            "--json",
            str(report),
            "--no-save",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 3, done.stderr
    assert "memory bound of 1 KiB reached" in " ".join(done.stdout.split())
    written = json.loads(report.read_text())
    assert (written["verdict"], written["counts"]["distinct_states"]) == (
        "incomplete",
        1264,
    )


@pytest.mark.parametrize("size", ["4X", "-1G", "0", "lots"])
def test_a_malformed_memory_bound_is_a_usage_error(size: str) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "klpcheck",
            "run",
            "models/water_jug.py",
            "--max-memory",
            size,
            "--no-save",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (
        f"error: --max-memory: {size!r} is not a size; write a number of bytes with an "
        "optional unit K, M, G or T (e.g. 4G, 512M), or 'none' for no bound\n"
    )


def test_the_manifest_gate_stops_an_entry_at_the_memory_bound(tmp_path: Any) -> None:
    manifest = tmp_path / "m.toml"
    manifest.write_text(
        "[[entry]]\n"
        f'model = "{Path("models/two_phase_commit.py").resolve()}"\n'
        'variant = "rms4"\n'
        "params = { rms = 4 }\n"
        'expect = "holds"\n'
        "violates = []\n"
        "states = 1568\n"
    )
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "klpcheck",
            "check",
            str(manifest),
            "--max-memory",
            "1K",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 3, done.stderr
    text = " ".join(done.stdout.split())
    assert "incomplete" in text
    assert "memory bound of 1 KiB reached" in text
