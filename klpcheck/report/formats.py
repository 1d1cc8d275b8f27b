"""Machine-readable reports for CI: a JSON document of a run, and JUnit XML.

Both are built as data here and written atomically by the caller
(:func:`klpcheck.base.fileio.write_atomically`). The JSON report embeds traces in the
counterexample encoding of :mod:`klpcheck.trace.files`; JUnit failures carry the trace as
``klpcheck run`` prints it.
"""

from __future__ import annotations

import json
import platform
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from klpcheck.base.result import Lasso, Result, Trace, Violation
from klpcheck.model.definition import Model
from klpcheck.report.coverage import coverage, warnings
from klpcheck.trace.codec import encode_trace, param_value
from klpcheck.trace.lanes import changes, kernel_ref, show

__all__ = [
    "REPORT_FORMAT",
    "REPORT_VERSION",
    "CaseOutcome",
    "json_report",
    "junit_cases",
    "junit_xml",
    "property_statuses",
]

REPORT_FORMAT = "klpcheck-result"
REPORT_VERSION = 1


@dataclass(frozen=True)
class PropertyStatus:
    """What a run established about one property."""

    name: str
    kind: str
    doc: str
    status: str  # "holds", "violated", "reached" or "unknown"
    trace: Trace | None = None


def property_statuses(
    model: Model[Any], result: Result, *, complete: bool, deadlock: bool
) -> list[PropertyStatus]:
    """Every property of the model (and ``deadlock`` when checked) with its status.

    ``unknown`` means the search ended before it could tell: a bound, an interrupt, or a
    stop at another property's violation.
    """
    out = []
    broken = {v.property: v for v in result.violations}
    for p in model.invariants:
        v = broken.get(p.name)
        status = "violated" if v else ("holds" if complete else "unknown")
        out.append(
            PropertyStatus(p.name, p.kind, p.doc, status, v.trace if v else None)
        )
    for p in model.reachables:
        if p.name in result.witnesses:
            out.append(
                PropertyStatus(
                    p.name, p.kind, p.doc, "reached", result.witnesses[p.name]
                )
            )
        else:
            status = "violated" if p.name in broken else "unknown"
            out.append(PropertyStatus(p.name, p.kind, p.doc, status))
    for p in model.livenesses:
        v = broken.get(p.name)
        status = "violated" if v else ("holds" if complete else "unknown")
        out.append(
            PropertyStatus(p.name, p.kind, p.doc, status, v.trace if v else None)
        )
    if deadlock:
        v = broken.get("deadlock")
        status = "violated" if v else ("holds" if complete else "unknown")
        doc = "Every state that is not terminal has an enabled step."
        out.append(
            PropertyStatus("deadlock", "deadlock", doc, status, v.trace if v else None)
        )
    return out


def _report_trace(trace: Trace) -> dict[str, Any]:
    data = encode_trace(trace)
    prev = trace.init
    for raw, step in zip(data["steps"], trace.steps, strict=True):
        raw["label"] = step.label()
        raw["kernel"] = kernel_ref(step.doc)
        raw["changes"] = [
            [k, show(a), show(b)] for k, a, b in changes(prev, step.state)
        ]
        prev = step.state
    return data


def _lasso_json(lasso: Lasso) -> dict[str, Any]:
    """Where a liveness trace's trigger and cycle are, and why its cycle is fair."""
    return {
        "trigger": lasso.trigger,
        "cycle_start": lasso.cycle_start,
        "fairness": [
            {
                "instance": f.instance,
                "kind": f.kind,
                "taken": f.taken,
                "disabled": f.disabled,
            }
            for f in lasso.fairness
        ],
        "never_enabled": lasso.never_enabled,
    }


def _model_data(model: Model[Any]) -> dict[str, Any]:
    return {
        "name": model.name,
        "file": model.source,
        "params": {k: param_value(v) for k, v in model.params.items()},
    }


def json_report(
    model: Model[Any],
    result: Result,
    *,
    options: Mapping[str, Any],
    complete: bool,
    counterexamples: Mapping[str, Path] | None = None,
) -> dict[str, Any]:
    """The JSON report of one run (see the README for the fields).

    ``options`` are the search options as passed to :func:`klpcheck.check`;
    ``counterexamples`` maps a property to the file its trace was saved in.
    """
    from klpcheck.base.version import __version__

    saved = counterexamples or {}
    props = []
    for st in property_statuses(
        model, result, complete=complete, deadlock=bool(options.get("deadlock", True))
    ):
        props.append(
            {
                "name": st.name,
                "kind": st.kind,
                "doc": st.doc,
                "status": st.status,
                "trace_length": len(st.trace) if st.trace is not None else None,
                "counterexample": str(saved[st.name]) if st.name in saved else None,
                "trace": _report_trace(st.trace) if st.trace is not None else None,
            }
        )
        v = result.violation(st.name)
        if v is not None and v.lasso is not None:
            props[-1]["lasso"] = _lasso_json(v.lasso)
    return {
        "format": REPORT_FORMAT,
        "version": REPORT_VERSION,
        "klpcheck": __version__,
        "model": _model_data(model),
        "search": {
            k: v
            for k, v in options.items()
            if v is None or isinstance(v, (bool, int, float, str))
        }
        | {"order": result.order},
        "verdict": result.verdict.value,
        "exit_code": result.verdict.exit_code,
        "complete": complete,
        "incomplete_reason": result.incomplete_reason,
        "counts": {
            "distinct_states": result.distinct_states,
            "transitions": result.transitions,
            "max_depth": result.max_depth,
            "elapsed_s": round(result.elapsed, 6),
            "states_per_second": round(result.states_per_second, 1),
        },
        "symmetry": (
            {
                "used": True,
                "renamings": result.symmetry.renamings,
                "orbits": result.symmetry.orbits,
            }
            if result.symmetry is not None
            else {"used": False}
        ),
        "properties": props,
        "coverage": [
            {
                "step": row.step,
                "fired": row.fired,
                "new_states": row.new_states,
                "never_enabled": row.never_enabled,
            }
            for row in coverage(result)
        ],
        "warnings": warnings(
            result, complete=complete, expected=model.may_stay_disabled
        ),
        "notes": list(result.notes),
    }


def dumps(data: Mapping[str, Any]) -> str:
    """The JSON text of a report."""
    return json.dumps(data, indent=1, ensure_ascii=False) + "\n"


# -- JUnit ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CaseOutcome:
    """One JUnit test case: ``outcome`` is passed, failure, error or skipped."""

    classname: str
    name: str
    outcome: str
    message: str = ""
    body: str = ""
    kind: str = ""
    seconds: float = 0.0
    properties: dict[str, str] = field(default_factory=dict)


def junit_cases(
    model: Model[Any],
    result: Result,
    *,
    complete: bool,
    deadlock: bool,
    render: Callable[[Violation], str],
) -> list[CaseOutcome]:
    """One case per property of a run; ``render(violation)`` gives a failure's body."""
    classname = model.name + (
        "[" + ", ".join(f"{k}={show(v)}" for k, v in model.params.items()) + "]"
        if model.params
        else ""
    )
    cases = []
    stop = (
        f"search incomplete ({result.incomplete_reason})"
        if result.incomplete_reason
        else "the search stopped at the first violation (run with --continue)"
    )
    for st in property_statuses(model, result, complete=complete, deadlock=deadlock):
        name = f"{st.kind} {st.name}" if st.kind != "deadlock" else "deadlock"
        v = result.violation(st.name)
        if st.status == "violated" and v is not None:
            if v.trace is not None:
                message = f"{name} violated after {len(v.trace)} steps"
            else:
                message = f"{name} was never reached by a complete search"
            cases.append(
                CaseOutcome(classname, name, "failure", message, render(v), st.kind)
            )
        elif st.status == "unknown":
            # Cut short by a bound, a time limit or an interrupt: an error a dashboard
            # shows; stopped at the first violation on purpose: skipped.
            kind = "error" if result.incomplete_reason else "skipped"
            cases.append(CaseOutcome(classname, name, kind, f"not proven: {stop}"))
        else:
            cases.append(CaseOutcome(classname, name, "passed"))
    return cases


def junit_xml(suite: str, cases: Sequence[CaseOutcome], *, seconds: float = 0.0) -> str:
    """A JUnit XML document with one test suite."""
    counts = {
        o: sum(c.outcome == o for c in cases) for o in ("failure", "error", "skipped")
    }
    attrs = {
        "name": suite,
        "tests": str(len(cases)),
        "failures": str(counts["failure"]),
        "errors": str(counts["error"]),
        "skipped": str(counts["skipped"]),
        "time": f"{seconds:.3f}",
    }
    root = ET.Element("testsuites", {k: v for k, v in attrs.items() if k != "name"})
    node = ET.SubElement(root, "testsuite", attrs | {"hostname": platform.node()})
    for case in cases:
        el = ET.SubElement(
            node,
            "testcase",
            {
                "classname": case.classname,
                "name": case.name,
                "time": f"{case.seconds:.3f}",
            },
        )
        if case.properties:
            props = ET.SubElement(el, "properties")
            for k, v in case.properties.items():
                ET.SubElement(props, "property", {"name": k, "value": v})
        if case.outcome in ("failure", "error"):
            child = ET.SubElement(
                el,
                case.outcome,
                {"message": case.message, "type": case.kind or case.outcome},
            )
            child.text = case.body
        elif case.outcome == "skipped":
            ET.SubElement(el, "skipped", {"message": case.message})
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
