"""The memory bound: sizes as people write them, the process's resident size, a default.

A search that outgrows the machine is killed by the kernel's out-of-memory killer, and a
killed run reports nothing. The searches read the resident size with their clock (every
:data:`klpcheck.search.explore._CLOCK_EVERY` expansions, a few microseconds each time) and stop
as incomplete at the bound, with their counts, reports and counterexamples intact.
"""

from __future__ import annotations

import os
import re
import resource
import sys

__all__ = [
    "MEMORY_HINT",
    "default_max_memory",
    "describe_size",
    "memory_over",
    "parse_size",
    "resident_bytes",
]

# The default bound: this share of what the machine had available at the start, on top
# of what the process already holds. The rest is the margin for the kernel, the other
# processes and the search's last allocations between two clock reads.
DEFAULT_SHARE = 0.8

MEMORY_HINT = (
    "--fingerprint keeps a 64-bit fingerprint of each state instead of the state, a declared "
    "symmetry keeps one state per orbit, and a smaller model (fewer tasks, CPUs) "
    "shrinks the search; --max-memory sets the bound"
)

_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:I?B)?\s*$", re.IGNORECASE)


def parse_size(text: str) -> int | None:
    """Bytes from ``4G``, ``512MiB``, ``1.5g`` or ``1000000``; None for ``none``/``off``.

    Raises ValueError naming the accepted forms otherwise.

    Examples
    --------
    >>> parse_size("4G"), parse_size("512MiB"), parse_size("1.5g"), parse_size("off")
    (4294967296, 536870912, 1610612736, None)
    """
    if text.strip().lower() in {"none", "off", "unlimited"}:
        return None
    m = _SIZE.match(text)
    if m is None or float(m.group(1)) <= 0:
        raise ValueError(
            f"{text!r} is not a size; write a number of bytes with an optional unit "
            "K, M, G or T (e.g. 4G, 512M), or 'none' for no bound"
        )
    return int(float(m.group(1)) * _UNITS[m.group(2).upper()])


def describe_size(n: int) -> str:
    """``1610612736`` → ``1.5 GiB``.

    Examples
    --------
    >>> describe_size(1610612736), describe_size(512 << 20), describe_size(100)
    ('1.5 GiB', '512 MiB', '100 B')
    """
    for unit, size in (
        ("TiB", 1 << 40),
        ("GiB", 1 << 30),
        ("MiB", 1 << 20),
        ("KiB", 1 << 10),
    ):
        if n >= size:
            return f"{n / size:.1f}".removesuffix(".0") + f" {unit}"
    return f"{n} B"


def resident_bytes() -> int:
    """The process's resident set size now (Linux), else its peak so far."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024


def default_max_memory() -> int | None:
    """:data:`DEFAULT_SHARE` of the memory available now, plus what this process holds;
    None where the available memory cannot be read."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    available = int(line.split()[1]) * 1024
                    return int(available * DEFAULT_SHARE) + resident_bytes()
    except (OSError, ValueError, IndexError):
        pass
    return None


def memory_over(bound: int | None, share: int = 1) -> str | None:
    """The reason to stop when the resident size has reached ``bound / share``, else
    None. A worker of ``share`` workers holds about that share of the search."""
    if bound is None:
        return None
    resident = resident_bytes()
    if resident < bound // share:
        return None
    return (
        f"memory bound of {describe_size(bound)} reached (resident "
        f"{describe_size(resident)}{' in one of ' + str(share) + ' workers' if share > 1 else ''}); "
        f"{MEMORY_HINT}"
    )


_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
