"""`Model`: a state type's initial states, guarded steps and properties, checked when built."""

from __future__ import annotations

import dataclasses
import inspect
import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, overload

from klpcheck.base.errors import ModelError
from klpcheck.model.inline import Body, body_of, inline_text, literal
from klpcheck.model.state import field_names, validate_state

__all__ = [
    "Instance",
    "Model",
    "Property",
    "Step",
    "Symmetry",
    "calls_of",
    "check_answers",
    "not_a_bool",
    "successors_of",
    "successors_text",
]

S = TypeVar("S")
F = TypeVar("F", bound=Callable[..., Any])

Footprint = frozenset[str] | None
_FOOTPRINT = re.compile(r"^([A-Za-z_]\w*)((?:\[(?:[A-Za-z_]\w*|-?\d+)\])*)$")
_INDEX = re.compile(r"\[([^\]]+)\]")


@dataclass(frozen=True, slots=True)
class Step:
    """A guarded atomic step: ``guard(state, *args)`` enables ``effect(state, *args)``.

    ``arguments`` holds one argument tuple per step instance (``((),)`` for a step without
    ``over``); ``param_names`` names the effect's parameters after the state.
    """

    name: str
    effect: Callable[..., Any]
    guard: Callable[..., bool] | None
    arguments: tuple[tuple[Any, ...], ...]
    param_names: tuple[str, ...]
    reads: Footprint
    writes: Footprint
    doc: str
    fair: str | None = None  # None, "weak" or "strong": fairness of each instance

    def params(self, args: tuple[Any, ...]) -> dict[str, Any]:
        """The parameters of one instance by name, e.g. ``{"t": 0}``."""
        return dict(zip(self.param_names, args, strict=True))


@dataclass(frozen=True, slots=True)
class Instance:
    """One step applied to one argument tuple: the unit the explorer fires."""

    index: int
    step: Step
    args: tuple[Any, ...]

    def label(self) -> str:
        """``name(p=v, …)`` as shown in traces."""
        inner = ", ".join(f"{k}={v!r}" for k, v in self.step.params(self.args).items())
        return f"{self.step.name}({inner})" if inner else self.step.name


@dataclass(frozen=True, slots=True)
class Property:
    """A named predicate over states: an invariant, a reachable target, the terminal set,
    or a liveness property (kind ``"eventually"``: ``predicate`` is the target;
    kind ``"leads_to"``: ``predicate`` is the trigger p and ``target`` is q)."""

    name: str
    kind: str
    predicate: Callable[[Any], bool]
    reads: Footprint
    doc: str
    target: Callable[[Any], bool] | None = None


@dataclass(frozen=True, slots=True)
class Symmetry:
    """A group acting on states: ``rename(state, g)`` for each ``g`` in ``group``."""

    name: str
    group: tuple[Any, ...]
    rename: Callable[[Any, Any], Any]
    doc: str
    candidates: Callable[[Any], Iterable[Any]] | None = None


def _doc(fn: Callable[..., Any]) -> str:
    return inspect.cleandoc(fn.__doc__) if fn.__doc__ else ""


FAIRNESS = ("weak", "strong")


def _fairness(fn: Callable[..., Any], fair: object) -> str | None:
    """``fair=`` as ``None``, ``"weak"`` or ``"strong"``."""
    if fair is None or fair is False:
        return None
    if fair is True:
        return "weak"
    if isinstance(fair, str) and fair in FAIRNESS:
        return fair
    raise ModelError(
        f"step `{getattr(fn, '__name__', fn)}`: fair= must be True (weak), 'weak', 'strong', None or False, "
        f"not {fair!r}"
    )


def _distinct_if_fair(
    name: str, arguments: tuple[tuple[Any, ...], ...], fair: str | None
) -> None:
    """A fair step's ``over=`` values must differ: fairness is per instance, and two
    instances with one value could not be told apart in a trace (nor on replay)."""
    if fair is None:
        return
    hashed: set[tuple[Any, ...]] = set()
    unhashable: list[tuple[Any, ...]] = []
    for args in arguments:
        try:
            repeated = args in hashed
            hashed.add(args)
        except TypeError:
            repeated = args in unhashable
            unhashable.append(args)
        if repeated:
            shown = args[0] if len(args) == 1 else args
            raise ModelError(
                f"step `{name}`: over= gives the value {shown!r:.60} twice; a fair step "
                "needs one instance per value (drop the repeated value)"
            )


def _positional_arity(fn: Callable[..., Any]) -> int | None:
    """Number of positional parameters, or None when it takes ``*args``."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return None
    count = 0
    for p in sig.parameters.values():
        if p.kind is p.VAR_POSITIONAL:
            return None
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            count += 1
    return count


def _ordered(values: Iterable[Any]) -> tuple[Any, ...]:
    """Materialise ``over``; sets are sorted so the order never depends on hash seeds."""
    if isinstance(values, (set, frozenset)):
        try:
            return tuple(sorted(values))
        except TypeError:
            return tuple(sorted(values, key=repr))
    return tuple(values)


class Model(Generic[S]):
    """A model: initial states, guarded steps, invariants, reachable targets.

    Parameters
    ----------
    name
        Shown in summaries and saved with counterexamples.
    init
        One initial state, or a ``list`` of them (duplicates count once). States are
        hashable immutable values with value equality; frozen dataclasses are best.
    doc
        Optional description (a model file usually passes its ``__doc__``).

    Examples
    --------
    >>> m = Model("counter", init=0)
    >>> @m.step(when=lambda s: s < 3)
    ... def tick(s: int) -> int:
    ...     "Count one up."
    ...     return s + 1
    >>> from klpcheck import check
    >>> check(m).distinct_states
    4
    """

    def __init__(self, name: str, init: S | list[S], *, doc: str | None = None) -> None:
        if not isinstance(name, str) or not name:
            raise ModelError(
                "Model name must be a non-empty string, e.g. Model('flag_race', …)"
            )
        self.name = name
        self.doc = inspect.cleandoc(doc) if doc else ""
        states = init if isinstance(init, list) else [init]
        if not states:
            raise ModelError(
                f"model `{name}`: init= is an empty list; give at least one state"
            )
        seen: dict[S, None] = {}
        for i, s in enumerate(states):
            validate_state(s, f"model `{name}`: initial state {i}")
            seen.setdefault(s, None)
        self.init: tuple[S, ...] = tuple(seen)
        self.state_types: frozenset[type] = frozenset(type(s) for s in self.init)
        self.steps: list[Step] = []
        self.invariants: list[Property] = []
        self.reachables: list[Property] = []
        self.livenesses: list[Property] = []
        self.terminal_property: Property | None = None
        self.renaming: Symmetry | None = None
        self.source: str | None = None
        self.params: dict[str, Any] = {}
        self.may_stay_disabled: frozenset[str] = frozenset()
        self._instances: tuple[Instance, ...] | None = None
        self._unapplied: list[str] = []  # leads_to(q) calls not yet applied to a p

    # -- registration ----------------------------------------------------------------

    @overload
    def step(self, fn: F) -> F: ...
    @overload
    def step(
        self,
        fn: None = None,
        *,
        when: Callable[..., bool] | None = None,
        over: Iterable[Any] | None = None,
        reads: Iterable[str] | None = None,
        writes: Iterable[str] | None = None,
        fair: bool | str | None = None,
    ) -> Callable[[F], F]: ...
    def step(
        self,
        fn: F | None = None,
        *,
        when: Callable[..., bool] | None = None,
        over: Iterable[Any] | None = None,
        reads: Iterable[str] | None = None,
        writes: Iterable[str] | None = None,
        fair: bool | str | None = None,
    ) -> Any:
        """Register a step; use as ``@model.step`` or ``@model.step(when=…, over=…)``.

        ``over`` gives one step instance per value. When the effect takes one parameter
        after the state, each value is passed as it is; when it takes k > 1, each value must
        be a k-tuple and is unpacked. The guard takes the same arguments.

        ``fair`` is the fairness assumed of each instance by the liveness properties
        (:mod:`klpcheck.search.liveness`): ``True`` or ``"weak"``, an instance enabled
        continuously from some point on is eventually taken; ``"strong"``, an instance
        enabled infinitely often is taken infinitely often; ``None`` or ``False`` (the
        default), no assumption.
        """

        def register(effect: F) -> F:
            self._add_step(effect, when, over, reads, writes, _fairness(effect, fair))
            return effect

        return register(fn) if fn is not None else register

    def _add_step(
        self,
        effect: Callable[..., Any],
        when: Callable[..., bool] | None,
        over: Iterable[Any] | None,
        reads: Iterable[str] | None,
        writes: Iterable[str] | None,
        fair: str | None = None,
    ) -> None:
        name = getattr(effect, "__name__", repr(effect))
        if not callable(effect):
            raise ModelError(f"step `{name}` is not a function")
        if when is not None and not callable(when):
            raise ModelError(
                f"step `{name}`: when= must be a function of the state, not {when!r}"
            )
        self._check_new_name(name)
        arity = _positional_arity(effect)
        names = list(inspect.signature(effect).parameters)[1:] if arity else []
        if arity is None:
            raise ModelError(
                f"step `{name}`: the effect must name its parameters, not take *args"
            )
        nparams = arity - 1
        if over is None:
            if nparams != 0:
                raise ModelError(
                    f"step `{name}` takes parameters {names[:nparams]} but has no over=; "
                    "give over= the values to run it with"
                )
            arguments: tuple[tuple[Any, ...], ...] = ((),)
        else:
            if nparams < 1:
                raise ModelError(
                    f"step `{name}` has over= but its effect takes only the state; "
                    f"add a parameter: def {name}(s, t)"
                )
            arguments = self._arguments(name, _ordered(over), nparams)
        guard_arity = _positional_arity(when) if when is not None else None
        if guard_arity is not None and guard_arity != nparams + 1:
            raise ModelError(
                f"step `{name}`: when= takes {guard_arity} argument(s) but the effect takes "
                f"{nparams + 1}; the guard gets the same arguments as the effect"
            )
        _distinct_if_fair(name, arguments, fair)
        param_names = tuple(names[:nparams])
        step = Step(
            name=name,
            effect=effect,
            guard=when,
            arguments=arguments,
            param_names=param_names,
            reads=self._footprint(name, "reads", reads, param_names),
            writes=self._footprint(name, "writes", writes, param_names),
            doc=_doc(effect),
            fair=fair,
        )
        self.steps.append(step)
        self._instances = None

    @staticmethod
    def _arguments(
        name: str, values: Sequence[Any], nparams: int
    ) -> tuple[tuple[Any, ...], ...]:
        if nparams == 1:
            return tuple((v,) for v in values)
        out = []
        for v in values:
            if not isinstance(v, tuple) or len(v) != nparams:
                raise ModelError(
                    f"step `{name}` takes {nparams} parameters, so each value of over= must be "
                    f"a {nparams}-tuple, not {type(v).__name__} {v!r:.60}"
                )
            out.append(v)
        return tuple(out)

    def _footprint(
        self, name: str, what: str, spec: Iterable[str] | None, params: tuple[str, ...]
    ) -> Footprint:
        if spec is None:
            return None
        if isinstance(spec, str):
            raise ModelError(
                f"`{name}`: {what}= must be a set of strings, e.g. {{{spec!r}}}"
            )
        items = frozenset(spec)
        fields = self._field_names()
        for item in sorted(items):
            m = _FOOTPRINT.match(item) if isinstance(item, str) else None
            if m is None:
                raise ModelError(
                    f"`{name}`: {what}= entry {item!r} is not a field name, 'field[param]' "
                    "or 'field[param][param]'"
                )
            if fields is not None and m.group(1) not in fields:
                raise ModelError(
                    f"`{name}`: {what}= names field `{m.group(1)}`, which the state does not "
                    f"have; its fields are {', '.join(fields)}"
                )
            for index in _INDEX.findall(m.group(2)):
                if not index.lstrip("-").isdigit() and index not in params:
                    raise ModelError(
                        f"`{name}`: {what}= entry {item!r} indexes by `{index}`, which is not a "
                        f"parameter of the step (parameters: {', '.join(params) or 'none'})"
                    )
        return items

    def _field_names(self) -> tuple[str, ...] | None:
        names = {field_names(t) for t in self.state_types}
        return names.pop() if len(names) == 1 else None

    def _check_new_name(self, name: str) -> None:
        taken = [s.name for s in self.steps] + [
            p.name for p in self.invariants + self.reachables + self.livenesses
        ]
        if name in taken or name == "deadlock":
            raise ModelError(
                f"model `{self.name}`: the name `{name}` is used twice (or reserved); "
                "step and property names must be unique"
            )

    def _property(
        self,
        kind: str,
        fn: Callable[[S], bool] | None,
        reads: Iterable[str] | None,
        target: Callable[[S], bool] | None = None,
    ) -> Any:
        def register(pred: Callable[[S], bool]) -> Callable[[S], bool]:
            name = getattr(pred, "__name__", repr(pred))
            if not callable(pred):
                raise ModelError(f"{kind} `{name}` is not a function")
            if _positional_arity(pred) not in (1, None):
                raise ModelError(
                    f"{kind} `{name}` must take exactly one argument, the state"
                )
            self._check_new_name(name)
            prop = Property(
                name,
                kind,
                pred,
                self._footprint(name, "reads", reads, ()),
                _doc(pred),
                target,
            )
            if kind == "invariant":
                self.invariants.append(prop)
            elif kind == "reachable":
                self.reachables.append(prop)
            elif kind in ("eventually", "leads_to"):
                self.livenesses.append(prop)
            else:
                if self.terminal_property is not None:
                    raise ModelError(f"model `{self.name}` declares @terminal twice")
                self.terminal_property = prop
            return pred

        return register(fn) if fn is not None else register

    @overload
    def invariant(self, fn: Callable[[S], bool]) -> Callable[[S], bool]: ...
    @overload
    def invariant(
        self, fn: None = None, *, reads: Iterable[str] | None = None
    ) -> Callable[[Callable[[S], bool]], Callable[[S], bool]]: ...
    def invariant(self, fn: Any = None, *, reads: Iterable[str] | None = None) -> Any:
        """Register a predicate that must hold in every reachable state."""
        return self._property("invariant", fn, reads)

    @overload
    def reachable(self, fn: Callable[[S], bool]) -> Callable[[S], bool]: ...
    @overload
    def reachable(
        self, fn: None = None, *, reads: Iterable[str] | None = None
    ) -> Callable[[Callable[[S], bool]], Callable[[S], bool]]: ...
    def reachable(self, fn: Any = None, *, reads: Iterable[str] | None = None) -> Any:
        """Register a predicate some reachable state must satisfy (catches vacuous models)."""
        return self._property("reachable", fn, reads)

    @overload
    def eventually(self, fn: Callable[[S], bool]) -> Callable[[S], bool]: ...
    @overload
    def eventually(
        self, fn: None = None, *, reads: Iterable[str] | None = None
    ) -> Callable[[Callable[[S], bool]], Callable[[S], bool]]: ...
    def eventually(self, fn: Any = None, *, reads: Iterable[str] | None = None) -> Any:
        """Register a target every fair behaviour from an initial state reaches.

        An initial state that satisfies it counts. Behaviours are the infinite paths of
        the state graph; a state without an enabled step ends one, which then stays
        there. Fairness comes from ``@model.step(fair=…)``; see :mod:`klpcheck.search.liveness`.
        """
        return self._property("eventually", fn, reads)

    def leads_to(
        self, q: Callable[[S], bool], *, reads: Iterable[str] | None = None
    ) -> Callable[[Callable[[S], bool]], Callable[[S], bool]]:
        """Register ``p ~> q`` on the decorated predicate p: in every fair behaviour,
        whenever a state satisfies p, that state or a later one satisfies ``q``.

        ``reads=`` names the fields p and q read. See :meth:`eventually` for what a
        behaviour is.
        """
        if not callable(q) or _positional_arity(q) not in (1, None):
            raise ModelError(
                f"model `{self.name}`: leads_to(q) needs q, a function of the state, "
                f"not {q!r:.60}; write @model.leads_to(lambda s: ...) above p"
            )

        pending = f"@model.leads_to({getattr(q, '__name__', 'q')})"
        self._unapplied.append(pending)

        def register(p: Callable[[S], bool]) -> Callable[[S], bool]:
            registered: Callable[[S], bool] = self._property("leads_to", p, reads, q)
            if pending in self._unapplied:
                self._unapplied.remove(pending)
            return registered

        return register

    def check_applied(self) -> None:
        """Raise ModelError for a ``leads_to(q)`` never applied to a predicate p: a bare
        ``@model.leads_to`` above p takes p for q and registers no property at all, so
        the model would hold without the property ever being checked."""
        if self._unapplied:
            raise ModelError(
                f"model `{self.name}`: {self._unapplied[0]} was applied to no predicate, "
                "so no property was registered; write @model.leads_to(q) above p, with "
                "q the target and p the trigger"
            )

    @overload
    def terminal(self, fn: Callable[[S], bool]) -> Callable[[S], bool]: ...
    @overload
    def terminal(
        self, fn: None = None, *, reads: Iterable[str] | None = None
    ) -> Callable[[Callable[[S], bool]], Callable[[S], bool]]: ...
    def terminal(self, fn: Any = None, *, reads: Iterable[str] | None = None) -> Any:
        """Register the predicate of states where having no enabled step is no deadlock."""
        return self._property("terminal", fn, reads)

    def never_enabled_is_expected(self, *steps: str) -> None:
        """Say that ``steps`` may never be enabled in this configuration, so a complete
        search that never fires them warns about nothing (a step that runs only after a
        race the model is meant to exclude, or one the chosen scenario never uses).

        Only the warning is affected: the search, its counts and its verdicts are not.
        Call it after the steps are registered.
        """
        known = {step.name for step in self.steps}
        unknown = [name for name in steps if name not in known]
        if unknown:
            raise ModelError(
                f"model `{self.name}`: never_enabled_is_expected names no step "
                f"{', '.join(unknown)}; register the step first (steps: "
                f"{', '.join(sorted(known)) or 'none'})"
            )
        self.may_stay_disabled = self.may_stay_disabled | set(steps)

    def symmetry(
        self,
        group: Iterable[Any],
        candidates: Callable[[S], Iterable[Any]] | None = None,
    ) -> Callable[[Callable[[S, Any], S]], Callable[[S, Any], S]]:
        """Register how each element ``g`` of ``group`` renames a state (see :mod:`klpcheck.reduce.symmetry`).

        The search then stores one state per orbit. Each ``g`` must be an automorphism of
        the model (renaming a state renames its successors) under which every property
        gives the same answer; ``check(..., audit=True)`` tests both on every state.

        ``candidates(s)``, optional, lists the elements ``g`` that minimise some function
        of ``rename(s, g)``, typically those that sort the tasks on their local state;
        the canonical form is then searched among those renamings only (see
        :func:`klpcheck.reduce.symmetry.orbit_key` for why that keeps every orbit count).
        """
        if candidates is not None and not callable(candidates):
            raise ModelError(
                f"model `{self.name}`: symmetry candidates= must be a function of the "
                f"state, not {candidates!r:.60}"
            )
        try:
            values = _ordered(group)
        except TypeError:
            raise ModelError(
                f"model `{self.name}`: symmetry needs a sequence of group elements, not "
                f"{group!r:.60}; write @model.symmetry(group) above the rename function"
            ) from None
        if not values:
            raise ModelError(
                f"model `{self.name}`: symmetry group is empty; give the group elements, "
                "e.g. @model.symmetry(itertools.permutations(range(n)))"
            )
        for g in values:
            try:
                hash(g)
            except TypeError:
                raise ModelError(
                    f"model `{self.name}`: symmetry group element {g!r:.60} is unhashable; "
                    "use tuples"
                ) from None

        def register(rename: Callable[[S, Any], S]) -> Callable[[S, Any], S]:
            name = getattr(rename, "__name__", repr(rename))
            if not callable(rename):
                raise ModelError(
                    f"model `{self.name}`: symmetry rename {name} is not a function"
                )
            if _positional_arity(rename) not in (2, None):
                raise ModelError(
                    f"symmetry rename `{name}` must take two arguments, the state and a "
                    "group element"
                )
            if self.renaming is not None:
                raise ModelError(
                    f"model `{self.name}` declares @symmetry twice (`{self.renaming.name}` "
                    f"and `{name}`); a model has at most one symmetry group"
                )
            self.renaming = Symmetry(name, values, rename, _doc(rename), candidates)
            return rename

        return register

    def set_fair(self, name: str, fair: bool | str | None) -> None:
        """Set the fairness of the registered step ``name``, as ``fair=`` would have.

        For models whose fairness assumptions depend on a parameter.
        """
        for i, step in enumerate(self.steps):
            if step.name == name:
                kind = _fairness(step.effect, fair)
                _distinct_if_fair(name, step.arguments, kind)
                self.steps[i] = dataclasses.replace(step, fair=kind)
                self._instances = None
                return
        raise ModelError(f"model `{self.name}` has no step `{name}` to make fair")

    # -- queries -------------------------------------------------------------------

    def instances(self) -> tuple[Instance, ...]:
        """Every step instance, in registration order then ``over`` order."""
        if self._instances is None:
            out: list[Instance] = []
            for step in self.steps:
                for args in step.arguments:
                    out.append(Instance(len(out), step, args))
            self._instances = tuple(out)
        return self._instances

    def property_names(self) -> list[str]:
        """Names of every checked property, invariants first."""
        return [p.name for p in self.invariants + self.reachables + self.livenesses]

    def __repr__(self) -> str:
        return (
            f"Model({self.name!r}, {len(self.init)} initial state(s), {len(self.steps)} steps, "
            f"{len(self.invariants)} invariants, {len(self.reachables)} reachable)"
        )


def calls_of(
    instances: Sequence[Instance],
) -> list[tuple[int, Callable[..., Any] | None, Callable[..., Any], Any]]:
    """Each instance as ``(index, guard, effect, a)``, both called as ``f(state, a)``.

    Most steps take one parameter after the state, and calling them with it directly is
    several times cheaper than unpacking an argument tuple on every call; steps with no
    or several parameters are wrapped to take the same two arguments.
    """
    out: list[tuple[int, Callable[..., Any] | None, Callable[..., Any], Any]] = []
    for inst in instances:
        guard, effect, args = inst.step.guard, inst.step.effect, inst.args
        if len(args) == 1:
            out.append((inst.index, guard, effect, args[0]))
            continue
        wrapped = None if guard is None else _spread(guard)
        out.append((inst.index, wrapped, _spread(effect), args))
    return out


def _spread(fn: Callable[..., Any]) -> Callable[[Any, tuple[Any, ...]], Any]:
    """``fn`` called as ``f(state, args)`` with its arguments unpacked."""
    return lambda s, args: fn(s, *args)


def successors_of(
    instances: Sequence[Instance], *, inline: bool | None = None
) -> Callable[[Any], list[tuple[int, Any]]]:
    """A function from a state to its ``(instance index, successor)`` pairs, in order.

    Generated from source text with one line per instance, each guard and effect called
    with its own arguments: no loop over a table, no argument tuple unpacked, no wrapper
    for steps with no or several parameters (on ``models/livepatch.py`` this expands a
    state about 20% faster than a loop over :func:`calls_of`). The functions and
    arguments are bound as globals of the generated function; its text holds only their
    names, the instance indices and the inlined expressions below.

    With ``inline`` (the default, unless the environment sets ``KLPCHECK_NO_INLINE=1``),
    a guard or effect whose body is one expression, proven to be the function's own
    source by :mod:`klpcheck.model.inline`, appears as that expression instead of a call
    (about twice as fast: the lock benchmark's search takes some 15% less time): its
    parameters renamed to the instance's arguments, every other name it reads bound to a
    global holding the value the function would read now. Anything that module cannot
    prove is called as before; an exception raised inline is diagnosed by re-running the
    real functions, as one raised by a call is.
    """
    env: dict[str, Any] = {}
    lines = successors_text(instances, instance_calls(instances, env, inline))
    exec("\n".join(lines), env)  # generated names, integers and proven expressions
    fn: Callable[[Any], list[tuple[int, Any]]] = env["successors"]
    return fn


def successors_text(
    instances: Sequence[Instance], calls: Sequence[tuple[str | None, str]]
) -> list[str]:
    """The lines of ``def successors(s)`` (see :func:`successors_of`), given each
    instance's guard and effect text from :func:`instance_calls`."""
    lines = ["def successors(s):", "    out = []", "    add = out.append"]
    for inst, (guard, effect) in zip(instances, calls, strict=True):
        i = inst.index
        if guard is None:
            lines.append(f"    add(({i}, {effect}))")
        else:
            lines.append(f"    if {guard}:")
            lines.append(f"        add(({i}, {effect}))")
    lines.append("    return out")
    return lines


def instance_calls(
    instances: Sequence[Instance], env: dict[str, Any], inline: bool | None = None
) -> list[tuple[str | None, str]]:
    """The text of each instance's guard (None without one) and effect, called on ``s``.

    The text a generated function holds for them (see :func:`successors_of`): a call of
    a global ``g{i}`` or ``e{i}`` with the state ``s`` and the arguments ``a{i}_{j}``,
    or the inlined expression. Binds those globals in ``env``.
    """
    texts = Inliner(env, inline, "n")
    out: list[tuple[str | None, str]] = []
    for inst in instances:
        i = inst.index
        env[f"g{i}"], env[f"e{i}"] = inst.step.guard, inst.step.effect
        args = ["s"]
        for j, value in enumerate(inst.args):
            env[f"a{i}_{j}"] = value
            args.append(f"a{i}_{j}")
        effect = texts.call(inst.step.effect, f"e{i}", args, inst.args)
        guard = None
        if inst.step.guard is not None:
            guard = texts.call(inst.step.guard, f"g{i}", args, inst.args)
        out.append((guard, effect))
    return out


def property_calls(
    properties: Sequence[Property], env: dict[str, Any], state: str
) -> list[str]:
    """The text of each property's predicate on the state named ``state``: the inlined
    expression, else a call of a global ``p{i}``. Binds those globals in ``env`` (and
    the names the expressions read as ``q{k}``, apart from :func:`instance_calls`')."""
    texts = Inliner(env, None, "q")
    out = []
    for i, prop in enumerate(properties):
        env[f"p{i}"] = prop.predicate
        out.append(texts.call(prop.predicate, f"p{i}", [state], ()))
    return out


class Inliner:
    """Texts of calls, with functions inlined where :mod:`klpcheck.model.inline` can
    prove their one expression (unless ``inline`` is false, or None and the environment
    sets ``KLPCHECK_NO_INLINE=1``). The values the expressions read are bound in
    ``env`` as globals named ``prefix`` and a number, one per object."""

    def __init__(self, env: dict[str, Any], inline: bool | None, prefix: str) -> None:
        if inline is None:
            inline = os.environ.get("KLPCHECK_NO_INLINE", "") in ("", "0")
        self.env, self.inline, self.prefix = env, inline, prefix
        self.bodies: dict[int, tuple[Callable[..., Any], Body | None]] = {}
        self.bound: dict[int, tuple[Any, str]] = {}

    def bind(self, value: Any) -> str:
        """The global name holding ``value`` (one per object)."""
        if id(value) not in self.bound:
            name = f"{self.prefix}{len(self.bound)}"
            self.bound[id(value)] = (value, name)
            self.env[name] = value
        return self.bound[id(value)][1]

    def call(
        self,
        fn: Callable[..., Any],
        name: str,
        args: list[str],
        values: tuple[Any, ...],
    ) -> str:
        """``(expr)`` when ``fn`` inlines with the arguments ``args`` (the state's name,
        then the names of globals holding ``values``), else the call ``name(args)``."""
        if self.inline:
            if id(fn) not in self.bodies:
                self.bodies[id(fn)] = (fn, body_of(fn))
            body = self.bodies[id(fn)][1]
            if body is not None:
                expr = inline_text(body, _literals(args, values), self.bind)
                if expr is not None:
                    return f"({expr})"
        return f"{name}({', '.join(args)})"


def _literals(names: list[str], values: tuple[Any, ...]) -> list[str]:
    """The state's name, then each argument's literal where it has one, else its name."""
    return [
        names[0],
        *(literal(v) or n for n, v in zip(names[1:], values, strict=True)),
    ]


def check_answers(model: Model[Any], s: Any) -> None:
    """Every guard and property must answer a bool in an initial state.

    A predicate that forgot to ``return`` answers None, which would read as "false"
    everywhere: a step never enabled, an invariant violated in a state where it holds.
    Checked once per initial state, and again on each state a verdict rests on, so
    that the search loop pays nothing.
    """
    for inst in model.instances():
        if inst.step.guard is not None:
            answer = inst.step.guard(s, *inst.args)
            if type(answer) is not bool:
                raise not_a_bool(f"the guard of step {inst.label()}", answer, s)
    terminal = model.terminal_property
    for prop in [
        *model.invariants,
        *model.reachables,
        *([terminal] if terminal is not None else []),
    ]:
        answer = prop.predicate(s)
        if type(answer) is not bool:
            raise not_a_bool(f"{prop.kind} {prop.name}", answer, s)


def not_a_bool(what: str, answer: object, s: Any) -> ModelError:
    """The error for a predicate that answered something other than True or False."""
    return ModelError(
        f"{what} returned {answer!r:.60} ({type(answer).__name__}), not a bool, in "
        f"state {s!r:.200}: did the predicate forget to return? Return True or False "
        "(wrap it in bool(...) if it computes a truth value)"
    )
