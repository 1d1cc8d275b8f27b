"""klpcheck: an explicit-state model checker for guarded atomic steps.

Built to check the Linux livepatch per-task consistency model; usable for any model whose
states are hashable immutable values.
"""

from klpcheck.errors import KlpcheckError, ModelError, TraceError, UsageError
from klpcheck.explore import Options, Progress, check
from klpcheck.loader import load_model
from klpcheck.model import Model
from klpcheck.record import Record
from klpcheck.result import (
    Reduction,
    Result,
    StepStats,
    SymmetryUse,
    Trace,
    TraceStep,
    Verdict,
    Violation,
    ViolationError,
)
from klpcheck.state import fields_of, set_at

__version__ = "0.1.0"

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
    from klpcheck.render import render_text as _render

    return _render(result, width=width)
