"""The command line's reduction options: the summary line, --no-por and --shortest."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from klpcheck.cli import main
from tests.conftest import MODELS


def _run(*args: str) -> tuple[int, str]:
    r = CliRunner().invoke(
        main, [*args, "--no-save"], env={"NO_COLOR": "1", "COLUMNS": "200"}
    )
    return r.exit_code, r.output


def test_the_summary_says_reduction_was_used_and_what_it_cut() -> None:
    code, out = _run("run", str(MODELS / "seed_rfc2015.py"), "-D", "rcu_watching=false")
    assert code == 1
    assert "partial-order reduction" in out


def test_no_por_and_shortest_reach_the_search(tmp_path: Path) -> None:
    path = tmp_path / "detour.py"
    path.write_text("from tests.por_models import detour\nmodel = detour(3)\n")
    code, out = _run("run", str(path), "--no-por")
    assert code == 1
    assert "after 1 steps" in out
    assert "partial-order" not in out
    code, out = _run("run", str(path))
    assert code == 1
    assert "after 4 steps" in out
    assert "--shortest finds" in out
    code, out = _run("run", str(path), "--shortest")
    assert code == 1
    assert "after 1 steps" in out
    assert "re-found" in out


def test_audit_on_the_command_line_exits_2_with_the_message(tmp_path: Path) -> None:
    path = tmp_path / "liar.py"
    path.write_text(
        "from tests.test_audit import _flag_race\n"
        "model = _flag_race({'pc[t]'}, {'pc[t]', 'flag'})\n"
    )
    r = CliRunner().invoke(
        main, ["run", str(path), "--audit", "--no-save"], env={"NO_COLOR": "1"}
    )
    assert r.exit_code == 2
    assert "footprint audit: step claim(t=0) changed flag" in r.output
