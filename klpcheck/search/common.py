"""What both search engines share: diagnosing model failures, the collector, step counts.

A search runs model code without a ``try`` per call; when something raises, the engine
re-runs the pure guards, effects and properties on the state it was expanding to name
the culprit (:func:`diagnose`). The hot loop pays nothing for it.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from klpcheck.base.errors import ModelError
from klpcheck.base.result import StepStats
from klpcheck.model.definition import Instance, Model
from klpcheck.model.state import describe_unhashable

__all__ = ["CLOCK_EVERY", "diagnose", "frozen_gc", "step_stats", "wrong_type"]

CLOCK_EVERY = 1024  # expansions between clock reads (time limit, memory, progress)


def wrong_type(inst: Instance, model: Model[Any], ns: Any) -> ModelError:
    """The error for a step that returned something that is not one of the model's states."""
    want = " or ".join(sorted(t.__name__ for t in model.state_types))
    hint = " (did the effect forget to return?)" if ns is None else ""
    return ModelError(
        f"step {inst.label()} returned {type(ns).__name__} {ns!r:.80}; steps must return a "
        f"new {want}{hint}"
    )


def diagnose(model: Model[Any], s: Any, exc: Exception) -> ModelError:
    """Find which guard, effect or property raised ``exc`` by re-running them on ``s``."""
    what = f"{type(exc).__name__}: {exc}"
    candidates = [s] if s is not None else list(model.init)
    for state in candidates:
        for inst in model.instances():
            guard = inst.step.guard
            try:
                on = guard is None or guard(state, *inst.args)
            except Exception as e:
                return ModelError(
                    f"guard of step {inst.label()} raised {_exc(e)} in state {state!r}"
                )
            if not on:
                continue
            try:
                ns = inst.step.effect(state, *inst.args)
            except Exception as e:
                return ModelError(
                    f"step {inst.label()} raised {_exc(e)} in state {state!r}"
                )
            if type(ns) not in model.state_types:  # a key could not read it
                return wrong_type(inst, model, ns)
            problem = describe_unhashable(ns)
            if problem is not None:
                return ModelError(
                    f"step {inst.label()} returned an unhashable state: {problem}"
                )
            for p in model.invariants + model.reachables:
                try:
                    p.predicate(ns)
                except Exception as e:
                    return ModelError(
                        f"{p.kind} `{p.name}` raised {_exc(e)} in state {ns!r}"
                    )
        for p in model.invariants + model.reachables:
            try:
                p.predicate(state)
            except Exception as e:
                return ModelError(
                    f"{p.kind} `{p.name}` raised {_exc(e)} in state {state!r}"
                )
        if model.terminal_property is not None:
            try:
                model.terminal_property.predicate(state)
            except Exception as e:
                return ModelError(
                    f"terminal `{model.terminal_property.name}` raised {_exc(e)}"
                )
    return ModelError(f"the model raised {what} (it could not be traced to one step)")


def step_stats(
    instances: Iterable[Instance], fired: Sequence[int], new: Sequence[int]
) -> dict[str, StepStats]:
    """Per-instance counters summed per step name."""
    stats: dict[str, StepStats] = {}
    for inst in instances:
        st = stats.setdefault(inst.step.name, StepStats())
        st.fired += fired[inst.index]
        st.new_states += new[inst.index]
    return stats


@contextlib.contextmanager
def frozen_gc() -> Iterator[Callable[[], None]]:
    """Yield a function that hides every object alive now from the cyclic collector.

    The visited map holds millions of objects that live until the search ends; each full
    collection would walk them all again, which doubled the time of the lock model at
    eight processes. The search calls the function every few thousand expansions
    (``gc.freeze``: the objects stay counted and are freed as usual when unreferenced;
    only cycles among them wait) and everything is unfrozen at the end. When the
    process has frozen objects of its own or disabled the collector, nothing is done.
    """
    if gc.get_freeze_count() or not gc.isenabled():
        yield lambda: None
        return
    try:
        yield gc.freeze
    finally:
        gc.unfreeze()


def _exc(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}"
