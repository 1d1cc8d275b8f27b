"""``python -m bench.scale``: workers against one process, wall and CPU, in one run.

Each row runs ``bench/peer_klpcheck.py`` in a fresh process (with this checkout's
klpcheck first on ``PYTHONPATH``) and reads its JSON line:
states, transitions, wall time of the search, and CPU seconds of the coordinator and of
every worker (from the result's note; Ray actors are not children of the process, so
``getrusage`` could not count them). The last column, "× free", estimates the states/s
ratio on free cores, which a machine shared with other jobs cannot show in wall time:
the base row's CPU seconds over the critical path's (the coordinator's CPU plus, summed
over the rounds of each level, the busiest worker's; a process's own CPU for one
process). Ratios are taken against the one-process row of the
same model from the same run (rows with incremental enabledness against the one-process
row with it; ``--incremental`` changes nothing for a model whose steps declare no
writes, such as the lock). Ray rows start a private local Ray per run; its start is
not part of the search's wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from array import array
from pathlib import Path

HERE = Path(__file__).parent
ROOT = HERE.parent

CASES = {
    "lock": (HERE / "lock.py", ["procs=8"]),
    "livepatch3": (ROOT / "models" / "livepatch.py", ["tasks=3"]),
}
# (row, options, the row its ratios are taken against)
ROWS: list[tuple[str, list[str], str]] = [
    ("one process", [], "one process"),
    ("one process --fingerprint", ["--storage", "fingerprint"], "one process"),
    ("2 local workers", ["--workers", "2"], "one process"),
    ("one process --incremental", ["--incremental"], "one process --incremental"),
    (
        "2 local workers --incremental",
        ["--workers", "2", "--incremental"],
        "one process --incremental",
    ),
    ("1 Ray actor", ["--workers", "1", "--backend", "ray"], "one process"),
    ("2 Ray actors", ["--workers", "2", "--backend", "ray"], "one process"),
]


def _cpu(out: dict[str, object]) -> tuple[float, float]:
    """The search's CPU seconds, and those of its critical path.

    The first is the workers' and the coordinator's, or the process's during the search
    (not loading the model). The second is
    the coordinator's plus, summed over rounds, the busiest worker's: about the wall
    time on free cores (the process's CPU for one process).
    """
    for note in out["notes"]:  # type: ignore[attr-defined]
        m = re.search(
            r"coordinator CPU seconds: ([\d.]+); (?:CPU seconds of the busiest worker, "
            r"summed over rounds: ([\d.]+); )?CPU seconds per worker: (.*)",
            note,
        )
        if m:
            coordinator = float(m.group(1))
            workers = sum(float(c) for c in m.group(3).split(", "))
            busiest = float(m.group(2)) if m.group(2) else float("nan")  # older notes
            return coordinator + workers, coordinator + busiest
    cpu = float(out.get("search_cpu", out["cpu"]))  # type: ignore[arg-type]
    return cpu, cpu


class _Echo:
    """A worker that answers a batch of hashes with one flag byte per hash."""

    def __init__(self, index: int, size: int) -> None:
        self.seen: set[int] = set()

    def check(self, batch: bytes) -> bytes:
        hashes = array("Q")
        hashes.frombytes(batch)
        return bytes(len(hashes))


def transport_costs(backend: str, rounds: int = 200, batch: int = 10_000) -> None:
    """Round-trip time of one request to two workers: empty, and with ``batch`` hashes.

    What the coordinator pays per level and round, and per hash routed.
    """
    from klpcheck.search.transport import LocalTransport, Transport

    transport: Transport
    if backend == "ray":
        from klpcheck.search.ray_transport import RayTransport

        transport = RayTransport(_Echo, 2, None, [__name__])
    else:
        transport = LocalTransport(_Echo, 2)
    try:
        blob = array("Q", range(batch)).tobytes()
        for payload, label in ((b"", "empty"), (blob, f"{batch:,} hashes")):
            transport.call([("check", payload)] * 2)  # warm up
            start = time.perf_counter()
            for _ in range(rounds):
                transport.call([("check", payload)] * 2)
            per_call = (time.perf_counter() - start) / rounds
            per_hash = per_call / (2 * batch) if payload else 0.0
            print(
                f"{backend:5} round trip to 2 workers, {label:>14}: "
                f"{per_call * 1e6:8.0f} µs per call"
                + (f", {per_hash * 1e6:.3f} µs per hash" if payload else ""),
                flush=True,
            )
    finally:
        transport.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.scale")
    parser.add_argument("--cases", nargs="*", default=list(CASES))
    parser.add_argument("--rows", nargs="*", default=[r for r, _, _ in ROWS])
    parser.add_argument(
        "--transport-costs",
        action="store_true",
        help="only measure the round trip of each transport (local, ray)",
    )
    args = parser.parse_args()
    if args.transport_costs:
        for backend in ("local", "ray"):
            transport_costs(backend)
        return
    pythonpath = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    print(
        f"{'model':11} {'row':29} {'states':>9} {'wall s':>7} {'CPU s':>7} "
        f"{'states/s':>9} {'× states/s':>10} {'× CPU':>6} {'× free':>6}"
    )
    # this checkout's klpcheck, not whichever one is installed
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), *pythonpath])}
    for case in args.cases:
        path, params = CASES[case]
        bases: dict[str, tuple[float, float, int]] = {}
        for row, extra, against in ROWS:
            if row not in args.rows:
                continue
            cmd = [sys.executable, str(HERE / "peer_klpcheck.py"), str(path), *params]
            cmd.append("--no-por")  # workers search the full graph; so does every row
            done = subprocess.run(
                cmd + extra,
                capture_output=True,
                text=True,
                check=True,
                cwd=ROOT,
                env=env,
            )
            out = json.loads(done.stdout.strip().splitlines()[-1])
            wall = float(out["elapsed"])
            cpu, critical = _cpu(out)
            rate = out["states"] / wall
            if not bases:
                bases[""] = (rate, cpu, out["states"])  # when a row's own is not run
            if row == against:
                bases[row] = (rate, cpu, out["states"])
            base = bases.get(against, bases[""])
            wrong = "" if out["states"] == base[2] else " (!) count differs"
            print(
                f"{case:11} {row:29} {out['states']:>9,} {wall:>7.2f} {cpu:>7.2f} "
                f"{rate:>9,.0f} {rate / base[0]:>10.2f} {cpu / base[1]:>6.2f} "
                f"{base[1] / critical:>6.2f}{wrong}",
                flush=True,
            )


if __name__ == "__main__":
    main()
