"""A search plan: what a search is made of, decided once from the model and the options.

:func:`compose` is the one place where options become parts: the visited map's storage
and key (exact states, fingerprints, or orbit keys under symmetry), partial-order
reduction (a :class:`~klpcheck.reduce.por.Reducer`, or the reason there is none),
incremental enabledness (:mod:`klpcheck.model.enabled`) and the audits. :func:`klpcheck.check` composes a plan and hands it to an engine; the sequential
engine (:mod:`klpcheck.search.explore`) and the workers (:mod:`klpcheck.search.parallel`)
read the same plan and never import each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from klpcheck.base.options import Options
from klpcheck.model.definition import Model
from klpcheck.model.enabled import Incremental, footprints, incremental, spares
from klpcheck.model.footprint import unseen_read
from klpcheck.model.state import field_names
from klpcheck.reduce.por import Reducer, plan
from klpcheck.reduce.symmetry import uses_symmetry
from klpcheck.search.storage import Key, Visited, new_visited, state_key

__all__ = ["Plan", "compose"]


@dataclass(frozen=True)
class Plan:
    """The parts of one search (see the module docstring)."""

    model: Model[Any]
    opts: Options
    symmetric: bool  # keys are the keys of orbits
    key: Key | None  # a state's key in the visited map; None: the state itself
    reducer: Reducer | None  # partial-order reduction, when it can cut anything
    reduction_reason: str  # why there is no reducer ("" when there is one)
    # Incremental enabledness, when it applies: in every search of one process.
    incremental: Incremental | None = None

    def visited(self) -> Visited:
        """A new, empty visited map for this plan's storage."""
        return new_visited(self.opts.storage)


def compose(model: Model[Any], opts: Options) -> Plan:
    """The plan of a search of ``model`` with validated ``opts``.

    Examples
    --------
    >>> m = Model("pair", init=(0, 0))
    >>> p = compose(m, Options())
    >>> p.symmetric, p.key, p.reducer, p.reduction_reason
    (False, None, None, 'states have no named fields (use a dataclass or NamedTuple)')
    """
    symmetric = uses_symmetry(model, opts)
    reducer, reason = plan(model, opts.por, symmetric)
    inc = None
    types = list(model.state_types)
    if (
        opts.incremental
        and not opts.audit
        and any(step.writes is not None for step in model.steps)
        # The writes it trusts are checked field by field on every new state: that
        # needs one state type with named fields (a model with several is searched
        # without it).
        and len(types) == 1
        and field_names(types[0]) is not None
    ):
        trust = opts.incremental is True
        instances = model.instances()
        paths = footprints(instances, types[0], trust=trust)
        if trust or spares(instances, paths):
            inc = incremental(instances, types[0], trust=trust, paths=paths)
    if reducer is not None or (inc is not None and opts.incremental is True):
        # Both trust declared reads: first the reads that the code shows.
        for state_type in model.state_types:
            fields = field_names(state_type)
            if fields is not None:
                error = unseen_read(
                    model.instances(), model.invariants + model.reachables, fields
                )
                if error is not None:
                    raise error
    return Plan(
        model=model,
        opts=opts,
        symmetric=symmetric,
        key=state_key(model, opts.storage, symmetric),
        reducer=reducer,
        reduction_reason=reason,
        incremental=inc,
    )
