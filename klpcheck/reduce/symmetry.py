"""Symmetry reduction: the visited map holds one state per orbit of a group of renamings.

A model declares a group ``G`` and how each ``g`` in it renames a state (typically by
permuting the per-task fields and the task ids stored in the state)::

    @model.symmetry(list(itertools.permutations(range(n))))
    def rename(s, g):
        return State(pc=tuple(s.pc[g.index(i)] for i in range(n)), ...)

The search keys each state by its orbit: the key of the *canonical representative*, the
state among ``s`` and every ``rename(s, g)`` whose canonical encoding
(:func:`klpcheck.model.fingerprint.encoder`: an injective byte string that depends on the value
only, never on the process or ``PYTHONHASHSEED``) is smallest in byte order. The
minimum over a whole orbit is the same from every state in it, provided ``G`` is a
group (closed under composition; the identity may be left out), not merely a set of
generators: list every element. With exact storage the
key is the exact key of the representative; with fingerprint storage it is the
fingerprint of the representative's encoding. Only the key changes: the search still
explores concrete successors, so every parent link joins two real states of consecutive
orbits, and a trace is rebuilt by re-executing steps, at each state taking the first
enabled step whose successor lies in the next orbit. Breadth-first, depth-first,
fingerprint storage and workers need nothing else. Distinct states are then orbits.

Soundness rests on two conditions the checker cannot prove, and which
``check(..., audit=True)`` tests on every expanded state and every ``g``:

- ``g`` is an automorphism of the transition system: the successors of
  ``rename(s, g)`` are, orbit for orbit and with their multiplicities, those of ``s``;
- every invariant, reachable target and the terminal predicate give the same answer on
  ``s`` and ``rename(s, g)``.

Then a state violates a property exactly when its representative does, so verdicts are
those of the full search. Computing the representative costs ``|G|`` renamings and
encodings per generated state; the orbit-enumeration method is exact but only pays off
when orbits are large. Partial-order reduction is not combined with symmetry: the
stubborn sets of a state and of its representative differ, and the combination needs
extra conditions (Emerson, Jha and Peled, TACAS 1997).

References: C. N. Ip and D. L. Dill, "Better verification through symmetry", Formal
Methods in System Design 9, 1996 (Murphi's scalarsets); E. A. Emerson and A. P. Sistla,
"Symmetry and model checking", FMSD 9, 1996; E. M. Clarke, R. Enders, T. Filkorn and
S. Jha, "Exploiting symmetry in temporal logic model checking", FMSD 9, 1996. TLC's
``SYMMETRY`` and stateright's ``symmetry()`` work the same way.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Hashable
from typing import Any

from klpcheck.base.errors import ModelError
from klpcheck.base.result import SymmetryUse
from klpcheck.model.definition import Model, Property, Symmetry, successors_of
from klpcheck.model.fingerprint import digest, encoder

__all__ = ["SymmetryAudit", "orbit_key", "symmetry_use", "uses_symmetry"]

Key = Callable[[Any], Hashable]


def orbit_key(model: Model[Any], base: Key | None, storage: str) -> Key:
    """The key of a state's orbit: ``base`` of its canonical representative.

    With ``storage="fingerprint"`` the representative's encoding is hashed directly
    (``base`` is not used), so the encoding is computed once per renaming.

    With a ``candidates`` function declared with the symmetry, the representative is
    the smallest encoding among ``rename(s, g)`` for the ``g`` it names only: for a
    model that sorts its tasks on their local state, usually one or two renamings
    instead of ``|G|``. Why that is still a function of the orbit: if ``candidates(s)``
    is exactly the set of ``g`` minimising ``f(rename(s, g))`` for some function ``f``
    of the state (any function: the sort order of local states, or even a constant),
    then the states ``rename(s, g)`` it names are the members of the orbit with the
    smallest ``f``, and from any other state ``rename(s, h)`` of the orbit the same
    members come out (``G`` is a group), so the smallest encoding among them is the
    same. The result always lies in the orbit of ``s``, so two keys are equal only for
    states of one orbit, whatever ``candidates`` answers: a function that is not such a
    minimiser can only split an orbit into several keys (more states, the same
    verdicts), never merge two, and ``audit=True`` reports it.

    Examples
    --------
    >>> m = Model("pair", init=(0, 1))
    >>> @m.symmetry([(1, 0)])
    ... def swap(s, g):
    ...     return (s[g[0]], s[g[1]])
    >>> key = orbit_key(m, None, "exact")
    >>> key((1, 0)), key((0, 1))
    ((0, 1), (0, 1))
    """
    sym = model.renaming
    assert sym is not None
    rename, group, types = sym.rename, sym.group, model.state_types
    fingerprints = storage == "fingerprint"
    encode = encoder(types)

    candidates = sym.candidates
    members = frozenset(group)

    def canonical(s: Any) -> Hashable:
        if candidates is None:
            best, best_code = s, encode(s)
            chosen: Any = group
        else:
            chosen = _chosen(sym, candidates, members, s)
            best, best_code = None, None
        for g in chosen:
            try:
                r = rename(s, g)
            except Exception as exc:
                raise _raised(sym, g, s, exc) from exc
            if type(r) not in types:
                raise _not_a_state(sym, g, s, r)
            code = encode(r)
            if best_code is None or code < best_code:
                best, best_code = r, code
        assert best_code is not None  # _chosen names at least one renaming
        if fingerprints:
            return digest(best_code)
        return best if base is None else base(best)

    if fingerprints:
        return canonical
    # Exact storage: remember the orbit key of recently seen concrete states. A
    # breadth-first search meets most successors several times (livepatch.py, 2 tasks:
    # 32,312 keys asked for 13,198 distinct states), and a lookup costs one hash where
    # canonicalising costs |G| renamings and encodings. Cleared when full, so memory
    # stays bounded; fingerprint storage, whose point is memory, does without.
    exact = (lambda s: s) if base is None else base
    memo: dict[Hashable, Hashable] = {}

    def key(s: Any) -> Hashable:
        ks = exact(s)
        found = memo.get(ks)
        if found is None:
            if len(memo) >= _MEMO_SIZE:
                memo.clear()
            found = memo[ks] = canonical(s)
        return found

    return key


_MEMO_SIZE = 1 << 17  # orbit keys remembered by exact storage


def _chosen(
    sym: Symmetry, candidates: Callable[[Any], Any], group: frozenset[Any], s: Any
) -> list[Any]:
    """The renamings ``candidates(s)`` names.

    ModelError when it raises, names none, or names something not in the group: a
    renaming outside the group could map ``s`` out of its orbit and merge two orbits.
    """
    try:
        chosen = list(candidates(s))
    except Exception as exc:
        raise ModelError(
            f"symmetry candidates of `{sym.name}` raised {type(exc).__name__}: {exc} in "
            f"state {s!r:.200}"
        ) from exc
    if not chosen:
        raise ModelError(
            f"symmetry candidates of `{sym.name}` named no group element for state "
            f"{s!r:.200}; it must name at least one (those that sort the state)"
        )
    if not group.issuperset(chosen):
        stray = next(g for g in chosen if g not in group)
        raise ModelError(
            f"symmetry candidates of `{sym.name}` named {stray!r:.60}, which is not an "
            f"element of the declared group, for state {s!r:.200}"
        )
    return chosen


def _raised(sym: Symmetry, g: Any, s: Any, exc: Exception) -> ModelError:
    return ModelError(
        f"symmetry rename `{sym.name}` raised {type(exc).__name__}: {exc} for g={g!r} "
        f"in state {s!r:.200}"
    )


def _not_a_state(sym: Symmetry, g: Any, s: Any, r: Any) -> ModelError:
    return ModelError(
        f"symmetry rename `{sym.name}` returned {type(r).__name__} {r!r:.80} for g={g!r}; "
        "it must return a state of the model's state type (did it forget to return?)"
    )


class SymmetryAudit:
    """Checks the two soundness conditions of the module docstring on each state given.

    Parameters
    ----------
    model
        The model, with a symmetry.
    key
        The orbit key the search uses.
    """

    def __init__(self, model: Model[Any], key: Key) -> None:
        sym = model.renaming
        assert sym is not None
        self.sym = sym
        self.model = model
        self.key = key
        self.successors = successors_of(model.instances())
        terminal = [model.terminal_property] if model.terminal_property else []
        self.props: list[Property] = [
            *model.invariants,
            *model.reachables,
            *terminal,
        ]
        self.states = 0

    def summary(self) -> str:
        """One line for the CLI."""
        return (
            f"symmetry audit: in {self.states:,} states, each of {len(self.sym.group):,} "
            "renamings kept every property's value and the successors' orbits"
        )

    def state(self, s: Any) -> None:
        """Raise ModelError when a renaming of ``s`` changes a property or the successors."""
        self.states += 1
        values = [bool(p.predicate(s)) for p in self.props]
        orbits = self._orbits(s)
        ks = self.key(s)
        for g in self.sym.group:
            try:
                r = self.sym.rename(s, g)
            except Exception as exc:
                raise _raised(self.sym, g, s, exc) from exc
            if type(r) not in self.model.state_types:
                raise _not_a_state(self.sym, g, s, r)
            for p, v in zip(self.props, values, strict=True):
                if bool(p.predicate(r)) != v:
                    raise ModelError(
                        f"symmetry audit: {p.kind} `{p.name}` is {v} in state "
                        f"{s!r:.120} but {not v} in its renaming by g={g!r}; every "
                        "property must give the same answer on a state and its renamings"
                    )
            if self.key(r) != ks:
                raise self._not_closed(g, s)
            renamed = self._orbits(r)
            if renamed != orbits:
                raise self._mismatch(g, s, r, orbits, renamed)

    def _orbits(self, s: Any) -> Counter[Hashable]:
        return Counter(self.key(ns) for _, ns in self.successors(s))

    def _not_closed(self, g: Any, s: Any) -> ModelError:
        return ModelError(
            f"symmetry audit: state {s!r:.120} and its renaming by g={g!r} have "
            "different canonical forms; the group must be closed under composition: "
            "list every element, not only generators"
            + (
                ""
                if self.sym.candidates is None
                else "; and candidates(s) must name exactly the elements g that "
                "minimise one function of rename(s, g)"
            )
        )

    def _mismatch(
        self,
        g: Any,
        s: Any,
        r: Any,
        orbits: Counter[Hashable],
        renamed: Counter[Hashable],
    ) -> ModelError:
        """Name a step of ``s`` (or of ``r``) that leads to an orbit the other lacks."""
        extra = orbits - renamed
        frm, diff = (s, extra) if extra else (r, renamed - orbits)
        k, ns = next((k, ns) for k, ns in self.successors(frm) if self.key(ns) in diff)
        label = self.model.instances()[k].label()
        for h in self.sym.group:  # a set of generators, not a group, misleads too
            if self.key(self.sym.rename(ns, h)) != self.key(ns):
                return self._not_closed(h, ns)
        where = (
            f"from state {s!r:.120} leads to an orbit that no step from its renaming "
            "reaches"
            if extra
            else f"from the renaming of state {s!r:.120} leads to an orbit that no step "
            "from the state reaches"
        )
        return ModelError(
            f"symmetry audit: g={g!r} is not an automorphism: step {label} {where}; "
            "renaming a state must rename its successors"
        )


def symmetry_use(model: Model[Any], used: bool, orbits: int) -> SymmetryUse | None:
    """What a search's result says about symmetry: None when it was not used."""
    if not used or model.renaming is None:
        return None
    return SymmetryUse(len(model.renaming.group), orbits)


def uses_symmetry(model: Model[Any], opts: Any) -> bool:
    """True when a search of ``model`` with options ``opts`` keys states by orbit."""
    return model.renaming is not None and opts.symmetry is not False
