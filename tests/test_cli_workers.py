"""`klpcheck run --fingerprint`, `--workers N`, `--backend` and `--address`."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.conftest import MODELS
from tests.test_cli import FLAG, run


def test_fingerprint_prints_the_collision_estimate() -> None:
    code, out = run("run", str(MODELS / "two_phase_commit.py"), "--fingerprint")
    assert code == 0
    assert out.startswith("holds — 288 distinct states, 1,145 transitions, depth 10, ")
    assert "probability that a collision hid a state is about " in out


def test_workers_keep_counts_and_exit_codes(tmp_path: Path) -> None:
    code, out = run("run", str(MODELS / "two_phase_commit.py"), "--workers", "2")
    assert code == 0
    assert out.startswith("holds — 288 distinct states, 1,145 transitions, depth 10, ")
    assert "2 workers" in out
    flag = tmp_path / "flag.py"
    flag.write_text(FLAG)
    code, out = run(
        "run",
        str(flag),
        "--workers",
        "2",
        "--fingerprint",
        "--no-deadlock",
        "--no-save",
    )
    assert code == 1
    assert "mutual_exclusion" in out
    assert "4  claim(t=" in out


def test_workers_refuse_depth_first_order() -> None:
    code, out = run("run", str(MODELS / "water_jug.py"), "--workers", "2", "--dfs")
    assert code == 2
    assert "breadth-first" in out


def test_an_address_needs_the_ray_backend() -> None:
    code, out = run("run", str(MODELS / "water_jug.py"), "--address", "auto")
    assert code == 2
    assert out.strip() == (
        "error: an address names a Ray cluster: add --backend ray (backend='ray') "
        "or drop --address"
    )


def test_the_ray_backend_without_ray_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError
    code, out = run("run", str(MODELS / "water_jug.py"), "--backend", "ray")
    assert code == 2
    assert out.strip() == (
        "error: --backend ray needs Ray, which is not installed: "
        "pip install 'klpcheck[ray]' (or drop --backend ray)"
    )
