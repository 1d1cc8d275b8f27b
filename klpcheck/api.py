"""``check()``: the one entry point to a search, above the engines.

It turns keyword options into :class:`~klpcheck.base.options.Options`, refuses the
combinations that cannot be sound, and hands the model to one engine: the sequential
search of :mod:`klpcheck.search.explore` or the workers of
:mod:`klpcheck.search.parallel`. The engines share that interface and never import each
other; what a search is made of (storage, expander, reduction, symmetry, audit) is
composed in one place, :mod:`klpcheck.search.plan`.
"""

from __future__ import annotations

import time
from typing import Any

from klpcheck.base.errors import UsageError
from klpcheck.base.options import PROVEN, Options
from klpcheck.base.result import Result
from klpcheck.model.definition import Model
from klpcheck.reduce.por import shortest_traces
from klpcheck.reduce.symmetry import uses_symmetry
from klpcheck.search import explore
from klpcheck.search.plan import compose

__all__ = ["check"]


def check(model: Model[Any], **options: Any) -> Result:
    """Explore every reachable state of ``model`` and check its properties.

    Parameters
    ----------
    model
        The model to check.
    order
        ``"bfs"`` (default: the first counterexample is a shortest one) or ``"dfs"``.
    max_depth, max_states, time_limit
        Bounds. A search cut short by one reports ``Verdict.INCOMPLETE``, never HOLDS.
    deadlock
        Report a non-terminal state without an enabled step as a violation (default True).
    keep_going
        Do not stop at the first violation; report one trace per broken property.
    por
        Partial-order reduction (:mod:`klpcheck.reduce.por`). ``None`` (default): on when a step
        declares ``reads=`` or ``writes=``; ``False``: off. Verdicts are the same; traces
        are shortest in the reduced state graph only. Off (when not asked for) with
        fingerprint storage or several workers, which search the full state graph.
    audit
        Check every fired step against its declared footprints (:mod:`klpcheck.reduce.audit`);
        a wrong declaration raises ModelError.
    shortest
        After a reduced search found violations, search again without reduction for
        each, so that its trace is a shortest one.
    incremental
        Incremental enabledness (:mod:`klpcheck.model.enabled`): after a step fires, only
        the guards that read what it declares it writes are evaluated again, and only
        the invariants and targets that read it are checked. It takes the declared
        reads, widened by those proven from the code (as below), as partial-order
        reduction does, and checks the declared writes on every new state (a
        ModelError names a step that changed more). ``"proven"`` trusts
        no declaration: a guard or property counts as reading what its code is proven
        to read (following the helpers it calls; anything, where that cannot be
        proven), and a new state whose step changed more than it declares has every
        guard and property evaluated. ``None`` (default): ``True``, or ``"proven"``
        with ``por=False``; ``False``: off. Every search uses it, breadth- or
        depth-first, reduced or not, in one process or on workers, where the model has
        one state type, with named fields, and steps that declare ``writes=``; not
        with ``audit``, and ``"proven"`` not where it would spare no guard.
    storage
        ``"exact"`` (default) keeps the states; ``"fingerprint"`` keeps 64-bit fingerprints
        (see :mod:`klpcheck.search.storage`).
    symmetry
        Symmetry reduction (:mod:`klpcheck.reduce.symmetry`): one state per orbit of the group
        declared with ``@model.symmetry``. ``None`` (default): on when declared;
        ``False``: off. Partial-order reduction is then off, and ``por=True`` with it
        is a UsageError. With ``audit`` every renaming is checked to be sound.
    workers
        Explore with this many workers (level-synchronous breadth-first search over
        64-bit state hashes; see :mod:`klpcheck.search.parallel`). Counts, verdicts and
        trace lengths are those of one process, up to a hash collision whose
        probability the result notes.
    backend, address
        Where the workers run: ``"local"`` (default: forked processes) or ``"ray"``
        (Ray actors; ``pip install 'klpcheck[ray]'``), on the Ray cluster at
        ``address`` (e.g. ``"auto"`` or ``"ray://head:10001"``; default: a private
        local Ray, or the one this process already started with ``ray.init()``).
    progress, progress_interval
        A callback given a :class:`Progress` about every ``progress_interval`` seconds.

    Returns
    -------
    Result
        Verdict, violations with traces, distinct states, transitions, depth, time.

    Raises
    ------
    ModelError
        A guard, effect or property raised, or a step returned something that is not a state.
    UsageError
        An option has an impossible value.

    Examples
    --------
    >>> from klpcheck import Model
    >>> m = Model("pair", init=(0, 0))
    >>> @m.step(over=range(2), when=lambda s, i: s[i] < 2)
    ... def bump(s, i):
    ...     return s[:i] + (s[i] + 1,) + s[i + 1 :]
    >>> r = check(m, deadlock=False)
    >>> r.verdict.value, r.distinct_states, r.transitions, r.max_depth
    ('holds', 9, 12, 4)
    """
    unknown = set(options) - set(Options.__dataclass_fields__)
    if unknown:
        raise UsageError(
            f"unknown option(s) {', '.join(sorted(unknown))}; "
            f"known: {', '.join(Options.__dataclass_fields__)}"
        )
    opts = Options(**options)
    opts.validate()
    if opts.incremental is None:
        # Trusting the footprints as far as reduction would; --no-por (por=False)
        # trusts none: only the reads proven from the code, and no write unchecked.
        opts = opts.but(incremental=True if opts.por is not False else PROVEN)
    if not isinstance(model, Model):
        raise UsageError(f"check() needs a klpcheck.Model, not {type(model).__name__}")
    model.check_applied()
    if model.livenesses:
        opts = _for_liveness(model, opts)
    if opts.symmetry and model.renaming is None:
        raise UsageError(
            f"symmetry=True, but model `{model.name}` declares no @model.symmetry(group)"
        )
    if opts.por and uses_symmetry(model, opts):
        raise UsageError(
            "partial-order reduction and symmetry reduction do not combine soundly in "
            "general; drop --por (por=True) or pass --no-symmetry (symmetry=False)"
        )
    if opts.storage != "exact" or opts.distributed:
        if opts.por or opts.audit or opts.shortest:
            raise UsageError(
                "partial-order reduction, --audit and --shortest run with exact storage "
                "and one worker; drop the fingerprint or workers option"
            )
        opts = opts.but(por=False)
    if opts.distributed:
        # Liveness properties need the whole state graph in one process: once the model
        # API has them, a model that declares any must be refused here with a
        # UsageError ("liveness is checked by one process: drop --workers/--backend").
        # imported here: multiprocessing costs a one-process run about 15 ms to import
        from klpcheck.search import parallel

        return parallel.search(compose(model, opts))
    started = time.perf_counter()
    result = explore.search(compose(model, opts))
    if model.livenesses:
        from klpcheck.search.liveness import check_liveness

        return check_liveness(
            model,
            result,
            keep_going=opts.keep_going,
            time_limit=opts.time_limit,
            started=started,
            max_memory=opts.max_memory,
        )
    if opts.shortest and result.reduction.used:
        result = shortest_traces(
            model, result, lambda m, **o: explore.search(compose(m, opts.but(**o)))
        )
    return result


def _for_liveness(model: Model[Any], opts: Options) -> Options:
    """The options of a model with liveness properties: a full search, exactly stored.

    The analysis needs every edge of the state graph (:mod:`klpcheck.search.liveness`), so
    asking for a reduction, fingerprints or workers is a usage error.
    """
    asked = [
        what
        for what, on in (
            ("partial-order reduction (--por, por=True)", opts.por is True),
            ("symmetry reduction (symmetry=True)", opts.symmetry is True),
            ("fingerprint storage (--fingerprint)", opts.storage != "exact"),
            (f"{opts.workers} workers (--workers)", opts.workers > 1),
        )
        if on
    ]
    if asked:
        names = ", ".join(p.name for p in model.livenesses)
        raise UsageError(
            f"model `{model.name}` has liveness properties ({names}), which need the full "
            f"state graph: drop {' and '.join(asked)}"
        )
    return opts.but(por=False, symmetry=False)
