"""Manifest entries that remove a protection, and the mutation score ``klpcheck check`` prints."""

from __future__ import annotations

from pathlib import Path

import pytest

from klpcheck.base.errors import UsageError
from klpcheck.gate.manifest import load_manifest, mutation_scores
from klpcheck.gate.runner import run_manifest
from tests.conftest import MODELS

JUG = f'model = "{MODELS / "water_jug.py"}"'
TPC = f'model = "{MODELS / "two_phase_commit.py"}"'

TOY = f"""
[[entry]]
{JUG}
variant = "base"
expect = "violated"
violates = ["big_is_not_goal"]
states = 16
shortest = {{ big_is_not_goal = 6 }}

[[entry]]
{JUG}
variant = "no_lid"
protection = "lid"
baseline = "base"
expect = "violated"
violates = ["big_is_not_goal"]
states = 16
shortest = {{ big_is_not_goal = 6 }}

[[entry]]
{TPC}
variant = "no_log"
params = {{ rms = 3 }}
protection = "log"
explained = "the coordinator never restarts"
expect = "holds"
states = 288

[[entry]]
{TPC}
variant = "plain"
params = {{ rms = 3 }}
expect = "holds"
states = 288
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "m.toml"
    path.write_text(text)
    return path


def test_a_removal_that_breaks_only_what_its_baseline_breaks_is_missed(
    tmp_path: Path,
) -> None:
    (jug, tpc) = mutation_scores(load_manifest(write(tmp_path, TOY)))
    assert (jug.caught, jug.explained, jug.missed) == ((), (), ("lid",))
    assert (tpc.caught, tpc.explained, tpc.missed) == ((), ("log",), ())


def test_check_prints_the_score_before_the_summary(tmp_path: Path) -> None:
    outcome = run_manifest(write(tmp_path, TOY))
    assert outcome.exit_code == 0
    assert outcome.line().splitlines() == [
        "water_jug.py: mutation score: 0 of 1 protections caught, "
        "0 explained as not needed, 1 missed (lid)",
        "two_phase_commit.py: mutation score: 0 of 1 protections caught, "
        "1 explained as not needed",
        "4 entries: 4 match",
    ]
    assert outcome.json()["mutation_scores"]["water_jug.py"]["missed"] == ["lid"]


def test_only_models_in_the_run_get_a_score(tmp_path: Path) -> None:
    outcome = run_manifest(write(tmp_path, TOY), only=["plain"])
    assert outcome.line().splitlines() == [
        "two_phase_commit.py: mutation score: 0 of 1 protections caught, "
        "1 explained as not needed",
        "1 entry: 1 match",
    ]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ('protection = "log"\n', ""),
            "entry 3: baseline and explained need protection = '<switch>'",
        ),
        (
            ('variant = "no_lid"\n', 'variant = "no_lid"\nexplained = "x"\n'),
            "entry 2: explained is for a protection whose removal holds; "
            "this entry expects 'violated'",
        ),
        (
            ('baseline = "base"', 'baseline = "nothing"'),
            "water_jug.py[no_lid] names baseline 'nothing', which is not a variant "
            "of water_jug.py",
        ),
        (('protection = "lid"', 'protection = ""'), "entry 2: protection must be"),
    ],
)
def test_bad_mutant_keys_are_one_clear_error(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    with pytest.raises(
        UsageError, match=message.replace("[", r"\[").replace("]", r"\]")
    ):
        load_manifest(write(tmp_path, TOY.replace(*change, 1)))


def test_every_livepatch_protection_is_caught_or_explained() -> None:
    (score,) = [
        s
        for s in mutation_scores(load_manifest(MODELS / "manifest.toml"))
        if s.model == "livepatch.py"
    ]
    assert score.missed == ()
    assert sorted(score.caught + score.explained) == sorted(PROTECTIONS)


PROTECTIONS = [
    "s1",
    "s2",
    "s3",
    "clear_first",
    "sync",
    "task_curr",
    "check_below",
    "reverse_clear_tif",
    "fork_recopy",
    "stack_buffer",
    "ups_preempt_off",
    "hook_preempt_off",
    "tasklist_lock",
    "init_idle",
    "mark_forced",
    "unregister_sync",
    "b1",
    "b2",
    "b3",
    "b4",
    "h2_rmb",
    "h4_rmb",
    "hook_rmb",
    "start_order",
]
"""The switches of models/livepatch.py's module docstring, "Protections" (the last
eight with ``memory="weak"``)."""
