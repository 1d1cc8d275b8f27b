"""Run klpcheck on one model file from Python and print one JSON line of counts.

Usage: ``python bench/peer_klpcheck.py MODEL [name=value ...] [--storage S] [--workers N]
[--backend B] [--no-por] [--incremental]``.
"""

from __future__ import annotations

import argparse
import json
import time

from klpcheck import check, load_model


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("model")
    parser.add_argument("params", nargs="*", metavar="NAME=VALUE")
    parser.add_argument("--storage", default="exact")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--backend", default="local")
    parser.add_argument("--no-por", action="store_true")
    parser.add_argument("--incremental", action="store_true")
    args = parser.parse_args()
    params = dict(p.split("=", 1) for p in args.params)
    options: dict[str, object] = {"keep_going": True}
    if args.storage != "exact":
        options["storage"] = args.storage
    if args.workers != 1:
        options["workers"] = args.workers
    if args.no_por:
        options["por"] = False
    if args.incremental:
        options["incremental"] = True
    if args.backend != "local":
        options["backend"] = args.backend
    model = load_model(args.model, params)
    before = time.process_time()
    result = check(model, **options)
    search_cpu = time.process_time() - before
    print(
        json.dumps(
            {
                "states": result.distinct_states,
                "transitions": result.transitions,
                "verdict": result.verdict.value,
                "elapsed": result.elapsed,
                "cpu": time.process_time(),
                "search_cpu": search_cpu,
                "notes": result.notes,
            }
        )
    )


if __name__ == "__main__":
    main()
