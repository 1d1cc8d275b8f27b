"""A pytest plugin: every entry of a klpcheck manifest becomes a test item.

Installed with klpcheck (entry point ``pytest11``). Give pytest a manifest file
(``pytest models/manifest.toml``), or name manifests in the ini option
``klpcheck_manifests`` to collect them on every run. An item fails with the
differences from its pin and the traces of any violation the pin does not list; entries
marked ``slow`` carry pytest's ``slow`` marker.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from klpcheck.base.errors import KlpcheckError
from klpcheck.gate.manifest import Entry, load_manifest

__all__ = ["ManifestFile", "ManifestItem"]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        "klpcheck_manifests",
        type="paths",
        default=[],
        help="klpcheck manifest files whose entries are collected as tests",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: a slow klpcheck manifest entry")


def _wanted(config: pytest.Config, path: Path) -> bool:
    if path.suffix != ".toml":
        return False
    named = {Path(p).resolve() for p in config.getini("klpcheck_manifests")}
    given = {Path(a.split("::")[0]).resolve() for a in config.args}
    return path.resolve() in named | given


def pytest_collect_file(
    file_path: Path, parent: pytest.Collector
) -> ManifestFile | None:
    if _wanted(parent.config, file_path):
        return ManifestFile.from_parent(parent, path=file_path)
    return None


class ManifestFile(pytest.File):
    """A manifest: one item per entry."""

    def collect(self) -> Iterator[ManifestItem]:
        try:
            entries = load_manifest(self.path)
        except KlpcheckError as e:
            raise self.CollectError(str(e)) from None
        for entry in entries:
            item: ManifestItem = ManifestItem.from_parent(
                self, name=entry.id, entry=entry
            )
            if entry.slow:
                item.add_marker(pytest.mark.slow)
            yield item


class ManifestFailure(Exception):
    """An entry did not match its pin; the message is the report."""


class ManifestItem(pytest.Item):
    """One manifest entry: run its full search and compare with the pin."""

    def __init__(self, *, entry: Entry, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.entry = entry

    def runtest(self) -> None:
        from klpcheck.gate.runner import check_entry
        from klpcheck.report.render import render_trace_text

        outcome = check_entry(self.entry)
        if outcome.status == "match":
            return
        lines = [f"{self.entry.id}: {outcome.status}", *outcome.problems]
        for v in outcome.unexpected():
            lines += ["", render_trace_text(v)]
        raise ManifestFailure("\n".join(lines))

    def repr_failure(
        self,
        excinfo: pytest.ExceptionInfo[BaseException],
        style: Any = None,
    ) -> str:
        if isinstance(excinfo.value, ManifestFailure):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"klpcheck manifest entry {self.entry.id}"
