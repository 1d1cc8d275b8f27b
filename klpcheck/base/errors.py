"""The exceptions klpcheck raises, each carrying the exit code the CLI uses."""

from __future__ import annotations

__all__ = ["KlpcheckError", "ModelError", "TraceError", "UsageError"]


class KlpcheckError(Exception):
    """Base of every error klpcheck reports as one line (exit code 2)."""

    exit_code = 2


class ModelError(KlpcheckError):
    """A model is defined wrongly, or one of its guards, effects or properties failed."""


class UsageError(KlpcheckError):
    """The command line or an API call asked for something impossible."""


class TraceError(KlpcheckError):
    """A saved trace cannot be read or no longer replays against its model."""
