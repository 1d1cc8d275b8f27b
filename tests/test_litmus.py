"""`klpcheck litmus` against the kernel's litmus tests: verdicts, counts, traces, errors."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from klpcheck import check
from klpcheck.cli import main
from klpcheck.model.litmus import LitmusError, build_model, load_litmus, parse_litmus
from klpcheck.model.loader import load_model
from tests.conftest import ROOT

LITMUS = ROOT / "tests" / "litmus"
MANIFEST: list[dict[str, Any]] = tomllib.loads((LITMUS / "manifest.toml").read_text())[
    "test"
]
FILES = sorted(LITMUS.rglob("*.litmus"))


def _outcome(path: Path, **options: Any) -> tuple[str, int, int | None]:
    result = check(build_model(load_litmus(path)), keep_going=True, **options)
    assert [v.property for v in result.violations] in ([], ["exists"])
    if result.violations:
        trace = result.violations[0].trace
        assert trace is not None
        return "Sometimes", result.distinct_states, len(trace)
    assert result.verdict.exit_code == 0
    return "Never", result.distinct_states, None


def _result_line(path: Path) -> str:
    m = re.search(r"Result:\s*(\w+)", path.read_text())
    assert m is not None, f"{path.name} has no Result: line"
    return m.group(1)


@pytest.mark.parametrize("entry", MANIFEST, ids=[e["file"] for e in MANIFEST])
def test_pinned_verdict_states_and_trace(entry: dict[str, Any]) -> None:
    word, states, length = _outcome(LITMUS / entry["file"], por=False)
    assert word == entry["klpcheck"]
    assert states == entry["states"]
    assert length == entry.get("trace")


@pytest.mark.parametrize("entry", MANIFEST, ids=[e["file"] for e in MANIFEST])
def test_pin_equals_lkmm_or_says_why_it_is_stronger(entry: dict[str, Any]) -> None:
    assert entry["lkmm"] == _result_line(LITMUS / entry["file"])
    if entry["klpcheck"] == entry["lkmm"]:
        assert "why" not in entry
    else:
        assert (entry["lkmm"], entry["klpcheck"]) == ("Sometimes", "Never")
        assert len(entry["why"]) > 100


def test_every_file_is_pinned() -> None:
    pinned = sorted(LITMUS / e["file"] for e in MANIFEST)
    assert pinned == FILES
    assert len(FILES) == 31


FORBIDDEN = [p for p in FILES if _result_line(p) == "Never"]
# The audit re-runs guards and effects on perturbed states: keep the default suite to the
# tests of under 300 states and mark the others slow.
AUDIT_SLOW = {e["file"].split("/")[-1] for e in MANIFEST if e["states"] >= 300}


@pytest.mark.parametrize("path", FORBIDDEN, ids=[p.name for p in FORBIDDEN])
def test_never_allows_what_lkmm_forbids(path: Path) -> None:
    """The soundness direction: LKMM's Never is klpcheck's Never, also with
    partial-order reduction (the pinned test runs the full search)."""
    assert _outcome(path)[0] == "Never"


@pytest.mark.parametrize(
    "path",
    [
        pytest.param(p, marks=[pytest.mark.slow] if p.name in AUDIT_SLOW else [])
        for p in FILES
    ],
    ids=[p.name for p in FILES],
)
def test_litmus_footprints_pass_the_audit(path: Path) -> None:
    """Every footprint the litmus steps and the memory steps declare is honest."""
    assert _outcome(path, audit=True)[0] == _outcome(path, por=False)[0]


def test_only_two_tests_are_stronger_than_lkmm() -> None:
    stronger = [e["file"] for e in MANIFEST if e["klpcheck"] != e["lkmm"]]
    assert stronger == [
        "LB+poonceonces.litmus",
        "Z6.0+pooncerelease+poacquirerelease+fencembonceonce.litmus",
    ]


# -- the command line ---------------------------------------------------------------------


def _run(*args: str) -> Any:
    return CliRunner().invoke(main, ["litmus", *args])


def test_never_exits_0_with_herd_word(tmp_path: Path) -> None:
    r = _run(
        str(LITMUS / "MP+fencewmbonceonce+fencermbonceonce.litmus"),
        "--save-dir",
        str(tmp_path),
    )
    assert r.exit_code == 0
    assert r.output == (
        "MP+fencewmbonceonce+fencermbonceonce: Never  (65 states; the file says Result: "
        "Never)\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_sometimes_exits_1_with_trace_saved_and_replayable(tmp_path: Path) -> None:
    r = _run(str(LITMUS / "MP+poonceonces.litmus"), "--save-dir", str(tmp_path))
    assert r.exit_code == 1
    assert "invariant exists violated after 7 steps" in r.output
    assert "drain(cpu=0, loc='flag')" in r.output
    assert (
        "MP+poonceonces: Sometimes  (46 states; the file says Result: Sometimes)"
        in r.output
    )
    saved = list(tmp_path.iterdir())
    assert [p.name for p in saved] == ["MP_poonceonces-exists.json"]
    replayed = CliRunner().invoke(main, ["replay", str(saved[0]), "--no-interactive"])
    assert replayed.exit_code == 1
    assert "replayed 7 steps" in replayed.output


def test_stronger_verdict_is_flagged(tmp_path: Path) -> None:
    r = _run(str(LITMUS / "LB+poonceonces.litmus"), "--no-save")
    assert r.exit_code == 0
    assert (
        "the file says Result: Sometimes, the store-buffer model is stronger"
        in r.output
    )


def test_json_report(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    files = [
        str(LITMUS / "SB+poonceonces.litmus"),
        str(LITMUS / "SB+fencembonceonces.litmus"),
    ]
    r = _run(*files, "--no-save", "--quiet", "--json", str(out))
    assert r.exit_code == 1
    data = json.loads(out.read_text())
    assert [(t["name"], t["outcome"], t["result_line"]) for t in data["tests"]] == [
        ("SB+poonceonces", "Sometimes", "Sometimes"),
        ("SB+fencembonceonces", "Never", "Never"),
    ]
    assert data["tests"][0]["report"]["verdict"] == "violated"
    assert data["tests"][1]["report"]["counts"]["distinct_states"] == 68


LOCKS = """C MP+polocks

{}

P0(int *x, int *y, spinlock_t *mylock)
{
\tWRITE_ONCE(*x, 1);
\tspin_lock(mylock);
\tWRITE_ONCE(*y, 1);
\tspin_unlock(mylock);
}

exists (x=1)
"""


def test_outside_the_subset_is_one_line_and_exit_2(tmp_path: Path) -> None:
    f = tmp_path / "locks.litmus"
    f.write_text(LOCKS.replace("spinlock_t *mylock", "int *mylock"))
    r = _run(str(f))
    assert r.exit_code == 2
    assert r.output == (
        f"error: {f}: P0: `spin_lock` is outside the subset klpcheck reads (it models "
        "READ_ONCE, WRITE_ONCE, acquire, release, RCU pointers, smp_wmb/rmb/mb and fully "
        "ordered atomics; see klpcheck/model/litmus.py)\n"
    )
    f.write_text(LOCKS)
    r = _run(str(f))
    assert r.exit_code == 2
    assert r.output == (
        f"error: {f}: P0: the parameter `spinlock_t *mylock` is outside the subset "
        "klpcheck reads (locks and structures are not modelled)\n"
    )


def test_missing_file_and_exit_2_wins(tmp_path: Path) -> None:
    missing = tmp_path / "nope.litmus"
    r = _run(str(missing), str(LITMUS / "MP+poonceonces.litmus"), "--no-save", "-q")
    assert r.exit_code == 2
    assert f"error: {missing}: no such litmus file\n" in r.output
    assert "MP+poonceonces: Sometimes" in r.output


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "X foo\n{}\nP0(int *x) { WRITE_ONCE(*x, 1); }\nexists (x=1)\n",
            "t: not a C litmus test (the first line must be `C <name>`)",
        ),
        ("C t\n{}\nP0(int *x) { WRITE_ONCE(*x, 1); }\n", "t: no `exists (...)` clause"),
        (
            "C t\n{}\nP0(int *x) { WRITE_ONCE(*x, 1); }\n~exists (x=1)\n",
            "t: `~exists` is outside the subset klpcheck reads; only `exists (...)` is "
            "supported",
        ),
        (
            "C t\n{}\nP0(int *x) { r0 = xchg_relaxed(x, 1); }\nexists (x=1)\n",
            "t: P0: `xchg_relaxed` is outside the subset klpcheck reads (atomics with a "
            "_relaxed, _acquire or _release ordering are not modelled)",
        ),
        (
            "C t\n{}\nP0(int *x) { WRITE_ONCE(*x, 1); }\nexists (0:r9=1)\n",
            "t: the exists clause names 0:r9, which P0 does not have",
        ),
        (
            "C t\n{}\nP0(int *x) { *x = 1; }\nexists (x=1)\n",
            "t: P0: a plain access (`*x ...`) is outside the subset klpcheck reads; use "
            "READ_ONCE() and WRITE_ONCE()",
        ),
        (
            "C t\n{}\nP0(int *x) { WRITE_ONCE(*q, 1); }\nexists (x=1)\n",
            "t: P0: `q` is neither a parameter nor a register",
        ),
    ],
)
def test_reader_errors_name_the_problem(text: str, message: str) -> None:
    with pytest.raises(LitmusError) as err:
        parse_litmus(text, "t")
    assert str(err.value) == message


def test_exists_with_or_and_not() -> None:
    base = (
        "C t\n{ x = 1; }\nP0(int *x, int *y) { int r0; r0 = READ_ONCE(*x); "
        "WRITE_ONCE(*y, r0 + 1); }\nexists (%s)\n"
    )
    # y ends 2 (read x=1, wrote x+1): true disjunct found, the impossible one not.
    for cond, word in [
        ("y=2 \\/ y=7", "Sometimes"),
        ("y=7 \\/ 0:r0=0", "Never"),
        ("~(y=2) /\\ x=1", "Never"),
        ("~y=7 /\\ (0:r0=1 \\/ false)", "Sometimes"),
    ]:
        result = check(build_model(parse_litmus(base % cond, "t")))
        assert ("Sometimes" if result.violations else "Never") == word, cond


def test_litmus_file_loads_as_a_model_for_replay() -> None:
    model = load_model(LITMUS / "SB+poonceonces.litmus")
    assert model.name == "SB+poonceonces"
    assert model.source == str((LITMUS / "SB+poonceonces.litmus").resolve())


# -- the livepatch barrier pairs ------------------------------------------------------

PAIRS = ROOT / "models" / "litmus"
PAIR_MANIFEST: list[dict[str, Any]] = tomllib.loads(
    (PAIRS / "manifest.toml").read_text()
)["test"]


@pytest.mark.parametrize("entry", PAIR_MANIFEST, ids=[e["file"] for e in PAIR_MANIFEST])
def test_livepatch_barrier_pair(entry: dict[str, Any]) -> None:
    word, states, length = _outcome(PAIRS / entry["file"], por=False)
    assert (word, states, length) == (
        entry["klpcheck"],
        entry["states"],
        entry.get("trace"),
    )
    assert entry["lkmm"] == word  # herd7's verdict, pinned by hand


def test_every_barrier_pair_is_pinned_and_only_b2_h2_are_redundant() -> None:
    assert sorted(PAIRS / e["file"] for e in PAIR_MANIFEST) == sorted(
        PAIRS.glob("*.litmus")
    )
    sometimes = {e["file"][4:-7] for e in PAIR_MANIFEST if e["klpcheck"] == "Sometimes"}
    # Removing B2 or H2 (or both) next to the real primitives changes nothing; removing
    # any other barrier, or B2 before a plain publish, reaches what it prevents.
    assert sometimes == {
        "noB1+H4",
        "B1+noH4",
        "noB1+update",
        "B1+noschedrmb",
        "noB2-plainpublish",
        "noB3+update",
        "noB4+update",
        "noB4+schedhook",
    }
