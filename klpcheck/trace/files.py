"""Counterexample files: states encoded as JSON, saved atomically, loaded and replayed.

A counterexample file records the model file, its parameters, the klpcheck version, the
broken property, and the trace: the initial state, then for each step its name, its
parameters and the state it led to; a liveness counterexample adds where its lasso's
trigger and cycle are. :func:`replay` loads the model with the recorded
parameters, fires the recorded steps one by one, checks that each is enabled and leads to
exactly the saved state, and that the property is still broken at the end. The format is
described in ``docs-traces.md``; ``FORMAT`` and ``VERSION`` identify it.

States are encoded by :mod:`klpcheck.trace.codec`; replay compares encodings, never decoded
objects.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from klpcheck.base.errors import KlpcheckError, ModelError, TraceError
from klpcheck.base.fileio import write_atomically
from klpcheck.base.result import Lasso, Trace, TraceStep, Violation
from klpcheck.model.definition import Instance, Model
from klpcheck.trace.codec import (
    JSON,
    TAGS,
    canonical,
    describe_diff,
    diff_encodings,
    encode,
    encode_trace,
    param_value,
    show_encoded,
)

__all__ = [
    "FORMAT",
    "VERSION",
    "Counterexample",
    "Replay",
    "ReplayDivergence",
    "SavedStep",
    "counterexample_data",
    "dump",
    "file_name",
    "load_counterexample",
    "replay",
    "save_counterexample",
]

FORMAT = "klpcheck-counterexample"
VERSION = 2  # 2 added "lasso" (liveness counterexamples); version 1 files still load
READABLE = (1, 2)

_IDENT = re.compile(r"^[A-Za-z_]\w*$")


# -- saving ---------------------------------------------------------------------------


def file_name(model: Model[Any], prop: str) -> str:
    """``<model>-<property>-<params hash>.json``, the same for the same configuration.

    Examples
    --------
    >>> file_name(Model("flag race", init=0), "mutual_exclusion")
    'flag_race-mutual_exclusion.json'
    """
    stem = "-".join(
        re.sub(r"[^\w.-]+", "_", part).strip("_") for part in (model.name, prop)
    )
    if model.params:
        params = {k: param_value(v) for k, v in model.params.items()}
        digest = hashlib.sha256(canonical(params).encode()).hexdigest()[:8]
        stem += f"-{digest}"
    return stem + ".json"


def counterexample_data(
    model: Model[Any],
    violation: Violation,
    *,
    order: str,
    relative_to: Path | None = None,
) -> dict[str, JSON]:
    """The JSON document of one counterexample (see ``docs-traces.md``)."""
    from klpcheck.base.version import __version__

    if violation.trace is None:
        raise TraceError(
            f"{violation.kind} `{violation.property}` has no trace to save"
        )
    source = model.source or ""
    if source and relative_to is not None:
        with contextlib.suppress(ValueError):  # another drive: keep it absolute
            source = Path(os.path.relpath(source, relative_to)).as_posix()
    return {
        "format": FORMAT,
        "version": VERSION,
        "klpcheck": __version__,
        "model": {
            "name": model.name,
            "file": source,
            "params": {k: param_value(v) for k, v in model.params.items()},
        },
        "property": {
            "name": violation.property,
            "kind": violation.kind,
            "doc": violation.doc,
        },
        "search": {"order": order},
        "length": len(violation.trace),
        **({"lasso": _lasso_data(violation.lasso)} if violation.lasso else {}),
        **encode_trace(violation.trace),
    }


def _lasso_data(lasso: Lasso) -> dict[str, JSON]:
    return {
        "trigger": lasso.trigger,
        "cycle_start": lasso.cycle_start,
        "fairness": [
            {"instance": f.instance, "kind": f.kind, "taken": f.taken}
            if f.taken is not None
            else {"instance": f.instance, "kind": f.kind, "disabled": f.disabled}
            for f in lasso.fairness
        ],
        "never_enabled": lasso.never_enabled,
    }


def save_counterexample(
    model: Model[Any], violation: Violation, directory: str | Path, *, order: str
) -> Path:
    """Save a violation's trace as ``directory/<file_name>``, atomically; return the path."""
    directory = Path(directory)
    data = counterexample_data(
        model, violation, order=order, relative_to=directory.resolve()
    )
    path = directory / file_name(model, violation.property)
    return write_atomically(path, dump(data))


def dump(data: dict[str, JSON]) -> str:
    """Lay out a counterexample document: one line per state, so diffs show steps."""
    lines = ["{"]
    for n, (key, value) in enumerate(data.items()):
        comma = "," if n < len(data) - 1 else ""
        if key == "steps" and value:
            rows = [f"  {json.dumps(s, ensure_ascii=False)}" for s in value]
            body = "[\n" + ",\n".join(rows) + "\n ]"
        elif key == "init":
            body = json.dumps(value, ensure_ascii=False)
        else:
            body = json.dumps(value, indent=1, ensure_ascii=False).replace("\n", "\n ")
        lines.append(f" {json.dumps(key)}: {body}{comma}")
    return "\n".join([*lines, "}"]) + "\n"


# -- loading --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SavedStep:
    """One recorded step: its name, its encoded parameters and the encoded state."""

    step: str
    params: dict[str, JSON]
    state: JSON


@dataclass(frozen=True)
class Counterexample:
    """A loaded counterexample file; states and parameters are still encoded."""

    path: Path
    model_name: str
    model_file: Path
    params: dict[str, JSON]
    property: str
    kind: str
    doc: str
    order: str
    version: str
    init: JSON
    steps: tuple[SavedStep, ...]
    trigger: int | None = None  # a liveness lasso: its trigger state
    cycle_start: int | None = None  # and the state its cycle starts in (None: none)

    def rerun_command(self) -> str:
        """The ``klpcheck run`` command that finds this counterexample again."""
        parts = ["klpcheck", "run", _relative(self.model_file)]
        for k, v in self.params.items():
            shown = str(v).lower() if isinstance(v, bool) else str(v)
            parts += ["-D", f"{k}={shown}"]
        if self.order == "dfs":
            parts.append("--dfs")
        parts += ["--continue", "--save-dir", _relative(self.path.parent)]
        return shlex.join(parts)


def _relative(path: Path) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:
        return str(path)


class _Bad(Exception):
    """A structural problem in a loaded file, with the JSON path where it is."""


def load_counterexample(path: str | Path) -> Counterexample:
    """Read and validate a counterexample file.

    Raises
    ------
    TraceError
        The file is missing, not JSON (corrupt or truncated), not a klpcheck
        counterexample, of an unknown format version, or malformed; the message is one
        line naming the file and the problem.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TraceError(f"{path} does not exist") from None
    except (OSError, UnicodeDecodeError) as e:
        raise TraceError(f"{path} cannot be read: {e}") from None
    if not text.strip():
        raise TraceError(f"{path} is empty; re-save it with klpcheck run or delete it")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        # A file cut short (a copy interrupted, a disk full) no longer ends its object.
        cut = text.lstrip().startswith("{") and not text.rstrip().endswith("}")
        what = "is truncated" if cut else "is not valid JSON"
        raise TraceError(
            f"{path} {what} (line {e.lineno}, column {e.colno}: {e.msg}); "
            "re-save it with klpcheck run or delete it"
        ) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise TraceError(
            f'{path} is not a klpcheck counterexample (no "format": "{FORMAT}")'
        )
    version = data.get("version")
    if version not in READABLE or isinstance(version, bool):
        raise TraceError(
            f"{path} has format version {version!r}; this klpcheck reads versions "
            f"{' and '.join(map(str, READABLE))}"
        )
    try:
        return _parse(path, data)
    except _Bad as e:
        raise TraceError(f"{path} is malformed: {e}") from None


def _get(data: Mapping[str, Any], key: str, kind: type, where: str) -> Any:
    if key not in data:
        raise _Bad(f"{where}{key} is missing")
    value = data[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise _Bad(f"{where}{key} is not a {kind.__name__}")
    return value


def _parse(path: Path, data: dict[str, Any]) -> Counterexample:
    model = _get(data, "model", dict, "")
    prop = _get(data, "property", dict, "")
    search = data.get("search", {})
    if not isinstance(search, dict):
        raise _Bad("search is not an object")
    params = _get(model, "params", dict, "model.")
    for k, v in params.items():
        _check_encoding(v, f"model.params.{k}")
    _check_encoding(_get_any(data, "init"), "init")
    steps = []
    for i, raw in enumerate(_get(data, "steps", list, "")):
        where = f"steps[{i}]."
        if not isinstance(raw, dict):
            raise _Bad(f"steps[{i}] is not an object")
        step_params = _get(raw, "params", dict, where)
        for k, v in step_params.items():
            _check_encoding(v, f"{where}params.{k}")
        state = _get_any(raw, "state", where)
        _check_encoding(state, f"{where}state")
        steps.append(SavedStep(_get(raw, "step", str, where), step_params, state))
    length = data.get("length", len(steps))
    if length != len(steps):
        raise _Bad(f"length is {length!r} but there are {len(steps)} steps")
    file = Path(_get(model, "file", str, "model."))
    if not file.is_absolute():
        file = path.parent / file
    trigger = cycle_start = None
    if "lasso" in data:
        lasso = _get(data, "lasso", dict, "")
        trigger = _get(lasso, "trigger", int, "lasso.")
        cycle_start = lasso.get("cycle_start")
        if cycle_start is not None and (
            not isinstance(cycle_start, int) or isinstance(cycle_start, bool)
        ):
            raise _Bad("lasso.cycle_start is neither an int nor null")
    return Counterexample(
        path=path,
        model_name=_get(model, "name", str, "model."),
        model_file=file,
        params=params,
        property=_get(prop, "name", str, "property."),
        kind=_get(prop, "kind", str, "property."),
        doc=prop.get("doc", "") if isinstance(prop.get("doc", ""), str) else "",
        order=str(search.get("order", "bfs")),
        version=str(data.get("klpcheck", "?")),
        init=data["init"],
        steps=tuple(steps),
        trigger=trigger,
        cycle_start=cycle_start,
    )


def _get_any(data: Mapping[str, Any], key: str, where: str = "") -> Any:
    if key not in data:
        raise _Bad(f"{where}{key} is missing")
    return data[key]


def _check_encoding(value: JSON, where: str) -> None:
    """Raise _Bad unless ``value`` is a well-formed encoding."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return
    if isinstance(value, list):
        for i, v in enumerate(value):
            _check_encoding(v, f"{where}[{i}]")
        return
    if not isinstance(value, dict):
        raise _Bad(f"{where} is not an encoded value")
    tags = [k for k in value if k.startswith("$")]
    if len(tags) != 1 or tags[0] not in TAGS:
        raise _Bad(f"{where} is an object without one known $-tag ({', '.join(TAGS)})")
    tag = tags[0]
    body = value[tag]
    if tag in ("$enum", "$bytes"):
        if not isinstance(body, str) or len(value) != 1:
            raise _Bad(f"{where}.{tag} is not a string")
    elif tag == "$frozenset":
        if not isinstance(body, list) or len(value) != 1:
            raise _Bad(f"{where}.$frozenset is not a list")
        for i, v in enumerate(body):
            _check_encoding(v, f"{where}.$frozenset[{i}]")
    else:
        if not isinstance(body, str):
            raise _Bad(f"{where}.{tag} is not a class name")
        for k, v in value.items():
            if k == tag:
                continue
            if not _IDENT.match(k):
                raise _Bad(f"{where}: {k!r} is not a field name")
            _check_encoding(v, f"{where}.{k}")


# -- replay ---------------------------------------------------------------------------


class ReplayDivergence(TraceError):
    """A counterexample no longer replays: ``step`` is the first step that diverged
    (0 for the initial state) and ``fields`` the fields whose values differ."""

    def __init__(self, message: str, step: int, fields: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.step = step
        self.fields = fields


@dataclass(frozen=True)
class Replay:
    """A counterexample re-executed against its model: real states, step docs."""

    counterexample: Counterexample
    model: Model[Any]
    trace: Trace
    violation: Violation


def replay(cx: Counterexample, model: Model[Any] | None = None) -> Replay:
    """Re-execute a counterexample and check every step and state against the file.

    Parameters
    ----------
    cx
        A loaded counterexample.
    model
        The model to replay against; by default the recorded file is loaded with the
        recorded parameters.

    Raises
    ------
    ReplayDivergence
        A step no longer exists, is not enabled, or leads to another state than the saved
        one, or the property is no longer broken at the end. The message names the first
        step that diverged and the fields that differ, and says to re-save or delete.
    KlpcheckError
        The model cannot be loaded (UsageError or ModelError).
    """
    if model is None:
        model = _load(cx)
    elif model.source is not None and Path(model.source) != cx.model_file.resolve():
        # Replayed against another file (--model): messages and the re-save command
        # name that file.
        cx = dataclasses.replace(cx, model_file=Path(model.source))
    start = _initial(cx, model)
    instances: dict[str, list[Instance]] = {}
    for inst in model.instances():
        instances.setdefault(inst.step.name, []).append(inst)
    state = start
    steps = []
    fired = []
    for i, saved in enumerate(cx.steps, 1):
        inst = _instance(cx, i, saved, instances)
        fired.append(inst)
        label = inst.label()
        try:
            enabled = inst.step.guard is None or inst.step.guard(state, *inst.args)
            if not enabled:
                raise _diverged(cx, i, f"{label} is not enabled in the state before it")
            state = inst.step.effect(state, *inst.args)
        except KlpcheckError:
            raise
        except Exception as e:
            raise _diverged(cx, i, f"{label} raised {type(e).__name__}: {e}") from e
        got = encode(state, f"the state after step {i}")
        if canonical(got) != canonical(saved.state):
            diff = diff_encodings(saved.state, got)
            raise _diverged(
                cx,
                i,
                f"{label} leads to another state than the saved one: "
                + describe_diff(diff),
                tuple(d[0] for d in diff),
            )
        steps.append(
            TraceStep(inst.step.name, inst.step.params(inst.args), state, inst.step.doc)
        )
    trace = Trace(start, tuple(steps))
    try:
        if cx.kind in ("eventually", "leads_to"):
            violation = _still_live(cx, model, trace, fired)
        else:
            violation = _still_broken(cx, model, trace)
    except KlpcheckError:
        raise
    except Exception as e:
        raise ModelError(
            f"{cx.path}: every step replays, but checking that it still violates "
            f"{cx.kind} `{cx.property}` raised {type(e).__name__}: {e} (a property or "
            "guard of the model raised on a state of the trace)"
        ) from e
    return Replay(cx, model, trace, violation)


def _load(cx: Counterexample) -> Model[Any]:
    from klpcheck.model.loader import load_model

    if not cx.model_file.is_file():
        raise TraceError(
            f"{cx.path}: its model file {cx.model_file} does not exist; "
            "pass the model's current path with --model"
        )
    params: dict[str, object] = {}
    for k, v in cx.params.items():
        if isinstance(v, (dict, list)):
            raise TraceError(
                f"{cx.path}: parameter {k} was saved as {canonical(v)}, "
                "which cannot be passed back to build()"
            )
        params[k] = v
    return load_model(cx.model_file, params)


def _diverged(
    cx: Counterexample, step: int, what: str, fields: tuple[str, ...] = ()
) -> ReplayDivergence:
    where = "the initial state" if step == 0 else f"step {step} of {len(cx.steps)}"
    return ReplayDivergence(
        f"{cx.path} no longer replays: {where} diverged: {what}. The model (or the file) changed since "
        f"the trace was saved; re-save or delete it (re-save: {cx.rerun_command()})",
        step,
        fields,
    )


def _initial(cx: Counterexample, model: Model[Any]) -> Any:
    want = canonical(cx.init)
    encoded = [encode(s, "initial state") for s in model.init]
    for state, enc in zip(model.init, encoded, strict=True):
        if canonical(enc) == want:
            return state
    diff = diff_encodings(cx.init, encoded[0])
    raise _diverged(
        cx,
        0,
        "the model has no such initial state: " + describe_diff(diff),
        tuple(d[0] for d in diff),
    )


def _instance(
    cx: Counterexample, i: int, saved: SavedStep, instances: dict[str, list[Instance]]
) -> Instance:
    candidates = instances.get(saved.step)
    if candidates is None:
        raise _diverged(
            cx,
            i,
            f"the model has no step `{saved.step}` any more "
            f"(its steps: {', '.join(instances)})",
        )
    want = canonical(saved.params)
    for inst in candidates:
        params = inst.step.params(inst.args)
        enc = {k: encode(v, f"parameter {k}") for k, v in params.items()}
        if canonical(enc) == want:
            return inst
    shown = ", ".join(f"{k}={show_encoded(v)}" for k, v in saved.params.items())
    raise _diverged(
        cx, i, f"step `{saved.step}` has no instance with parameters ({shown}) any more"
    )


def _still_live(
    cx: Counterexample, model: Model[Any], trace: Trace, fired: list[Instance]
) -> Violation:
    """Check that a replayed liveness trace is still a lasso violating its property:
    the target never holds from the trigger on, and the cycle closes and is fair (or
    the last state has no enabled step)."""
    from klpcheck.search.liveness import lasso_problem

    n = len(cx.steps)
    prop = next(
        (p for p in model.livenesses if p.name == cx.property and p.kind == cx.kind),
        None,
    )
    if prop is None:
        raise _diverged(cx, n, f"the model has no {cx.kind} `{cx.property}` any more")
    if cx.trigger is None:
        raise TraceError(f"{cx.path}: a {cx.kind} counterexample without its lasso")
    problem, lasso = lasso_problem(
        model, prop, trace, cx.trigger, cx.cycle_start, fired
    )
    if problem is not None:
        raise _diverged(
            cx,
            n,
            f"every step replays, but the trace no longer violates {cx.kind} "
            f"`{cx.property}`: {problem}",
        )
    return Violation(prop.name, prop.kind, prop.doc, trace, lasso)


def _still_broken(cx: Counterexample, model: Model[Any], trace: Trace) -> Violation:
    last = trace.last
    n = len(cx.steps)
    if cx.kind == "invariant":
        prop = next((p for p in model.invariants if p.name == cx.property), None)
        if prop is None:
            raise _diverged(
                cx, n, f"the model has no invariant `{cx.property}` any more"
            )
        if prop.predicate(last):
            raise _diverged(
                cx,
                n,
                f"every step replays, but invariant `{cx.property}` holds in the last "
                "state: the trace no longer breaks it",
            )
        return Violation(prop.name, prop.kind, prop.doc, trace)
    if cx.kind == "deadlock":
        enabled = [
            inst.label()
            for inst in model.instances()
            if inst.step.guard is None or inst.step.guard(last, *inst.args)
        ]
        terminal = model.terminal_property
        if enabled or (terminal is not None and terminal.predicate(last)):
            why = (
                f"{enabled[0]} is enabled there"
                if enabled
                else f"the last state is terminal ({terminal.name if terminal else ''})"
            )
            raise _diverged(
                cx, n, f"every step replays, but the last state is no deadlock: {why}"
            )
        doc = "A state that is not terminal has no enabled step."
        return Violation("deadlock", "deadlock", doc, trace)
    raise TraceError(
        f"{cx.path}: property kind {cx.kind!r} cannot be replayed "
        "(only invariant, deadlock and liveness traces are saved)"
    )
