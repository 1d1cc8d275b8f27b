"""The optional C speedups (``klpcheck._speedups``), or None.

The extension is compiled when klpcheck is installed with a C compiler at hand; every
function in it has a pure-Python twin that gives the same results, which klpcheck uses
where the extension is missing or ``KLPCHECK_PURE_PYTHON=1`` is set (the tests run both).
"""

from __future__ import annotations

import importlib
import os
from functools import cache
from types import ModuleType

__all__ = ["speedups", "speedups_status"]


@cache
def speedups() -> ModuleType | None:
    """The compiled module, or None when it is not built or turned off."""
    if os.environ.get("KLPCHECK_PURE_PYTHON"):
        return None
    try:
        return importlib.import_module("klpcheck._speedups")
    except ImportError:
        return None


def speedups_status() -> str:
    """One phrase for ``--version``: whether the C speedups are in use."""
    if os.environ.get("KLPCHECK_PURE_PYTHON"):
        return "C speedups off (KLPCHECK_PURE_PYTHON)"
    if speedups() is None:
        return "C speedups not built (pure Python: same results, slower)"
    return "C speedups on"
