"""The README's example model and its shown output are true."""

from __future__ import annotations

import re
from pathlib import Path

from klpcheck import check, load_model
from klpcheck.gate.manifest import load_manifest, markdown_table
from tests.conftest import MODELS, ROOT

README = (ROOT / "README.md").read_text()


def test_the_readme_example_gives_the_trace_it_shows(tmp_path: Path) -> None:
    match = re.search(r"```python\n(.*?)```", README, re.S)
    assert match is not None
    path = tmp_path / "flag_race.py"
    path.write_text(match.group(1))
    r = check(load_model(path), deadlock=False)
    (v,) = r.violations
    assert v.trace is not None
    labels = [s.label() for s in v.trace.steps]
    assert labels == ["observe(t=0)", "observe(t=1)", "claim(t=0)", "claim(t=1)"]
    for i, label in enumerate(labels, 1):
        assert f"\n{i}  {label}" in README
    assert (
        f"violated — {r.distinct_states} distinct states, {r.transitions} transitions"
        in README
    )


def test_the_readme_opens_with_the_two_setup_commands() -> None:
    block = re.search(r"```sh\n(.*?)```", README, re.S)
    assert block is not None
    lines = block.group(1).strip().splitlines()
    assert lines[0].startswith("pip install -e . && klpcheck run models/")
    assert lines[1] == "pip install -e '.[test]' && pytest -n 2"
    # CI runs that command as written (its options through PYTEST_ADDOPTS)
    ci = (ROOT / ".ci" / "run").read_text()
    assert "\npip install --quiet -e '.[test]'\n" in ci
    assert re.search(r"\n(\S+=\S+ )*pytest -n 2\n", ci)


def test_the_readme_models_table_is_the_manifest() -> None:
    table = markdown_table(load_manifest(MODELS / "manifest.toml"))
    assert table in README, "regenerate it: python -m klpcheck.gate.manifest"


def test_the_readme_symmetry_example_keeps_the_verdict(tmp_path: Path) -> None:
    example = re.search(r"```python\n(.*?)```", README, re.S)
    section = README[README.index("## Symmetry") :]
    block = re.search(r"```python\n(.*?)```", section, re.S)
    assert example is not None
    assert block is not None
    text = example.group(1).replace(
        "    return model\n", block.group(1) + "    return model\n"
    )
    path = tmp_path / "flag_race_symmetric.py"
    path.write_text("import itertools\n" + text + "\nmodel = build(3)\n")
    model = load_model(f"{path}:model")
    reduced = check(model, deadlock=False, audit=True, keep_going=True)
    full = check(model, deadlock=False, symmetry=False, keep_going=True)
    assert [v.property for v in reduced.violations] == ["mutual_exclusion"]
    assert [v.property for v in full.violations] == ["mutual_exclusion"]
    # orbits: multisets of 3 pcs over idle, saw with the flag clear, and with crit set
    assert (reduced.distinct_states, full.distinct_states) == (10, 27)
