"""Run klpcheck on one model file from Python and print one JSON line of counts.

Usage: ``python bench/peer_klpcheck.py MODEL [name=value ...] [--storage S] [--workers N]
[--backend B] [--no-por]``.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from klpcheck import check, load_model


def _stand_in_hash() -> None:
    """Replace the fingerprint by Python's ``hash()`` of the state's fields (C speed).

    For measuring only what a cheap 64-bit hash would give: ``hash()`` of a tuple is
    the same in forked workers (they share the string hash seed) but not across
    machines, and not a fingerprint to trust for a verdict.
    """
    import dataclasses
    from operator import attrgetter

    from klpcheck.search import storage

    def cheap(model: Any) -> Any:
        (kind,) = model.state_types
        names = [f.name for f in dataclasses.fields(kind) if f.compare]
        get = attrgetter(*names)
        return lambda s: hash(get(s)) & 0xFFFF_FFFF_FFFF_FFFF

    storage.fingerprint_function = cheap


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("model")
    parser.add_argument("params", nargs="*", metavar="NAME=VALUE")
    parser.add_argument("--storage", default="exact")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--backend", default="local")
    parser.add_argument("--no-por", action="store_true")
    parser.add_argument(
        "--stand-in-hash",
        action="store_true",
        help="measure with Python's hash() of the fields as the 64-bit state hash",
    )
    args = parser.parse_args()
    params = dict(p.split("=", 1) for p in args.params)
    options: dict[str, object] = {"keep_going": True}
    if args.storage != "exact":
        options["storage"] = args.storage
    if args.workers != 1:
        options["workers"] = args.workers
    if args.no_por:
        options["por"] = False
    if args.backend != "local":
        options["backend"] = args.backend
    if args.stand_in_hash:
        _stand_in_hash()
    result = check(load_model(args.model, params), **options)
    print(
        json.dumps(
            {
                "states": result.distinct_states,
                "transitions": result.transitions,
                "verdict": result.verdict.value,
                "elapsed": result.elapsed,
                "cpu": time.process_time(),
                "notes": result.notes,
            }
        )
    )


if __name__ == "__main__":
    main()
