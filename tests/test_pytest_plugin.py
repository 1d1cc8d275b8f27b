"""The pytest plugin collects manifest entries as test items."""

from __future__ import annotations

import pytest

from tests.conftest import ROOT

pytest_plugins = ["pytester"]

MODEL = "from tests.toy_models import flag_race\nmodel = flag_race()\n"
ENTRY = """
[[entry]]
model = "flag.py"
variant = "{variant}"
expect = "violated"
violates = ["mutual_exclusion"]
states = {states}
shortest = {{ mutual_exclusion = 4 }}
{extra}
"""


def test_manifest_entries_become_items(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(ROOT))
    pytester.makefile(".py", flag=MODEL)
    pytester.makefile(
        ".toml",
        manifest=ENTRY.format(variant="good", states=9, extra="")
        + ENTRY.format(variant="wrong", states=10, extra="")
        + ENTRY.format(variant="big", states=9, extra="slow = true"),
    )
    result = pytester.runpytest(
        "manifest.toml", "-m", "not slow", "-p", "no:cacheprovider"
    )
    result.assert_outcomes(passed=1, failed=1, deselected=1)
    result.stdout.fnmatch_lines(
        ["*flag.py?wrong?: mismatch*", "*9 distinct states, pinned 10*"]
    )


def test_manifests_named_in_the_ini_are_collected(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(ROOT))
    pytester.makefile(".py", flag=MODEL)
    pytester.makefile(".toml", pins=ENTRY.format(variant="good", states=9, extra=""))
    pytester.makeini("[pytest]\nklpcheck_manifests = pins.toml\n")
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
