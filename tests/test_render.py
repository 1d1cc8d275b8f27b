"""How traces read: kernel functions, only changes, enum names, lanes, 80 columns."""

from __future__ import annotations

import pytest

from klpcheck import check, load_model
from klpcheck.base.result import Result, Violation
from klpcheck.report.render import render_text
from klpcheck.trace.lanes import kernel_ref, lane_of, lane_plan, source_lane
from tests.conftest import MODELS
from tests.toy_models import flag_race


def _seed_violation() -> tuple[Result, Violation]:
    result = check(load_model(MODELS / "seed_rfc2015.py", {"clear_first": True}))
    return result, result.violations[0]


SEED, SEED_V = _seed_violation()


def test_kernel_reference_is_taken_from_the_docstring() -> None:
    doc = "Task t calls foo().\n\nkernel/trace/ftrace.c: ftrace_ops_list_func() -> x()"
    assert kernel_ref(doc) == "kernel/trace/ftrace.c: ftrace_ops_list_func()"
    assert kernel_ref("(no kernel function: the return)") is None


def test_flat_trace_at_80_columns() -> None:
    text = render_text(SEED, width=80)
    lines = text.splitlines()
    # the summary line is one unwrapped line by design (logs grep it)
    assert max(len(line) for line in lines if not line.startswith("violated")) <= 80
    assert "\x1b[" not in text
    assert (
        " 4  call_foo(t=0)                     pc[0]: OUTSIDE → HANDLER_ENTRY" in lines
    )
    assert "    ftrace.c: ftrace_ops_list_func()" in text
    # a step named after its kernel function shows only the file
    assert " 3  klp_update_task_universe(t=0)     klp_universe[0]: NEW → OLD" in lines
    assert "    transition.c" in lines
    # only changed fields, enum members by name, whole tuples in the initial state
    assert "func_stack = (FOO_2, FOO_1)" in text
    assert "<Pc." not in text
    assert text.count("func_stack =") == 1
    assert "func_stack[" not in text


def test_full_shows_every_field_and_marks_changes() -> None:
    text = render_text(SEED, width=100, full=True)
    assert text.count("func_stack = (FOO_2, FOO_1)") == 14
    assert "pc = (RUNNING, OUTSIDE)  ◂" in text


def test_lanes_give_each_task_a_column() -> None:
    plan = lane_plan(SEED_V.trace)  # type: ignore[arg-type]
    assert [lane.title for lane in plan.lanes] == ["admin", "task 0", "task 1"]
    assert plan.fields == {
        "klp_universe": "task",
        "pc": "task",
        "func": "task",
        "target": "task",
    }
    text = render_text(SEED, width=160)  # auto: wide enough for lanes
    header = next(line for line in text.splitlines() if line.lstrip().startswith("#"))
    assert header.split() == ["#", "admin", "task", "0", "task", "1"]
    row = next(line for line in text.splitlines() if line.startswith(" 7"))
    assert row.split() == ["7", "klp_update_task_universe"]
    assert row.index("klp_update") >= header.index("task 1")
    assert "klp_universe: NEW → OLD" in text
    assert render_text(SEED, width=80).splitlines()[5].split() == [
        "#",
        "step",
        "changes",
    ]


def test_lanes_can_be_forced_and_refused() -> None:
    r = check(flag_race())
    assert "task 0" in render_text(r, layout="lanes")
    assert "task 0" not in render_text(r, layout="flat", width=200)
    with pytest.raises(ValueError, match="layout must be one of"):
        render_text(r, layout="diagonal")


def test_cpu_and_other_parameters_name_lanes() -> None:
    assert lane_of({"cpu": 1, "t": 2}).title == "task 2"
    assert source_lane({"cpu": 1, "t": 2}).title == "CPU 1"
    assert lane_of({"r": 0}).title == "r=0"


class Program(tuple[str, ...]):
    """A tuple subclass that shows itself on one line (as models/livepatch.py does)."""

    __slots__ = ()
    _fields = ()

    def __repr__(self) -> str:
        return "[" + " ".join(self) + "]"


def test_a_tuple_subclass_with_its_own_repr_stays_one_cell() -> None:
    from klpcheck.trace.codec import encode
    from klpcheck.trace.lanes import changes, show

    before, after = (Program(("a", "b")), 0), (Program(("b",)), 0)
    assert changes(before, after) == [("[0]", before[0], after[0])]
    assert show(after[0]) == "[b]"
    assert encode(after) == [["b"], 0]
