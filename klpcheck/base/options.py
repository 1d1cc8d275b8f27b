"""Search options and progress snapshots: the small types every layer may import."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from klpcheck.base.errors import UsageError

__all__ = ["BACKENDS", "ORDERS", "PROVEN", "STORAGES", "Options", "Progress"]

STORAGES = ("exact", "fingerprint")
PROVEN = "proven"  # incremental enabledness by the reads proven from code alone
ORDERS = ("bfs", "dfs")
BACKENDS = ("local", "ray")  # where workers run: forked processes, or Ray actors


@dataclass(frozen=True, slots=True)
class Progress:
    """A snapshot handed to the progress callback about once per ``progress_interval``.

    ``depth`` is that of the state being expanded. Breadth-first, ``level`` is the
    number of states at that depth and ``next_level`` the number found so far one
    deeper (None depth-first).
    """

    distinct_states: int
    transitions: int
    queue: int
    depth: int
    elapsed: float
    level: int | None = None
    next_level: int | None = None


@dataclass(frozen=True, slots=True)
class Options:
    """Search options; see :func:`klpcheck.check`."""

    order: str = "bfs"
    max_depth: int | None = None
    max_states: int | None = None
    time_limit: float | None = None
    deadlock: bool = True
    keep_going: bool = False
    progress: Callable[[Progress], None] | None = None
    progress_interval: float = 1.0
    por: bool | None = None
    audit: bool = False
    shortest: bool = False
    storage: str = "exact"
    workers: int = 1
    symmetry: bool | None = None
    max_memory: int | None = None
    backend: str = "local"
    address: str | None = None
    incremental: bool | str | None = None

    @property
    def distributed(self) -> bool:
        """Whether the search runs on workers (several, or any on Ray)."""
        return self.workers > 1 or self.backend == "ray"

    def but(self, **changes: Any) -> Options:
        """A copy with ``changes``."""
        return dataclasses.replace(self, **changes)

    def validate(self) -> None:
        """Raise UsageError on an impossible option value."""
        if self.order not in ORDERS:
            raise UsageError(
                f"order must be one of {', '.join(ORDERS)}, not {self.order!r}"
            )
        if self.storage not in STORAGES:
            raise UsageError(
                f"storage must be one of {', '.join(STORAGES)}, not {self.storage!r}"
            )
        if not isinstance(self.workers, int) or self.workers < 1:
            raise UsageError(
                f"workers must be a whole number ≥ 1, not {self.workers!r}"
            )
        if self.backend not in BACKENDS:
            raise UsageError(
                f"backend must be one of {', '.join(BACKENDS)}, not {self.backend!r}"
            )
        if self.address is not None and self.backend != "ray":
            raise UsageError(
                "an address names a Ray cluster: add --backend ray (backend='ray') "
                "or drop --address"
            )
        if self.distributed and self.order != "bfs":
            raise UsageError(
                "workers (more than one, or on Ray) need breadth-first order "
                "(no --dfs, no order='dfs')"
            )
        if self.symmetry not in (None, True, False):
            raise UsageError(
                f"symmetry must be True, False or None, not {self.symmetry!r}"
            )
        if self.incremental not in (None, True, False, PROVEN):
            raise UsageError(
                f"incremental must be True, False, {PROVEN!r} or None, "
                f"not {self.incremental!r}"
            )
        for name in ("max_depth", "max_states", "max_memory"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 0):
                raise UsageError(f"{name} must be a whole number ≥ 0, not {value!r}")
        if self.time_limit is not None and not self.time_limit > 0:
            raise UsageError(
                f"time_limit must be a number of seconds > 0, not {self.time_limit!r}"
            )
