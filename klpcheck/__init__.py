"""klpcheck: an explicit-state model checker for guarded atomic steps.

Built to check the Linux livepatch per-task consistency model; usable for any model whose
states are hashable immutable values.
"""

from klpcheck.api import check
from klpcheck.base.errors import KlpcheckError, ModelError, TraceError, UsageError
from klpcheck.base.options import Options, Progress
from klpcheck.base.result import (
    Reduction,
    Result,
    StepStats,
    SymmetryUse,
    Trace,
    TraceStep,
    Verdict,
    Violation,
    ViolationError,
    set_text_renderer,
)
from klpcheck.base.version import __version__
from klpcheck.model.definition import Model
from klpcheck.model.loader import load_model
from klpcheck.model.record import Record
from klpcheck.model.state import fields_of, set_at

__all__ = [
    "KlpcheckError",
    "Model",
    "ModelError",
    "Options",
    "Progress",
    "Record",
    "Reduction",
    "Result",
    "StepStats",
    "SymmetryUse",
    "Trace",
    "TraceError",
    "TraceStep",
    "UsageError",
    "Verdict",
    "Violation",
    "ViolationError",
    "__version__",
    "check",
    "fields_of",
    "load_model",
    "render_text",
    "set_at",
]


def render_text(result: Result, *, width: int = 100) -> str:
    """The result as plain text (summary and traces), as the CLI prints it without colour."""
    from klpcheck.report.render import render_text as _render

    return _render(result, width=width)


set_text_renderer(render_text)  # the message of ViolationError
