"""Footprint paths and the probe: what counts as read, and when it gives up."""

from __future__ import annotations

from dataclasses import dataclass

from klpcheck.footprint import covers, overlaps, recorded_reads, resolve


@dataclass(frozen=True, slots=True)
class S:
    lock: int = -1
    pc: tuple[int, ...] = (0, 2, 5)
    stack: tuple[tuple[int, ...], ...] = ((1, 2), (3, 4))

    def free(self) -> bool:
        return self.lock == -1


def _reads(guard: object, *args: object) -> tuple[bool, list[tuple[object, ...]]]:
    got = recorded_reads(guard, S(), args)  # type: ignore[arg-type]
    assert got is not None
    return got[0], sorted(got[1], key=repr)


def test_the_probe_logs_one_element_and_stops_at_a_false_conjunct() -> None:
    assert _reads(lambda s, t: s.pc[t] == 1 and s.lock == -1, 1) == (False, [("pc", 1)])


def test_the_probe_logs_nested_elements_and_negative_indices_as_positions() -> None:
    assert _reads(lambda s: s.stack[1][0] == 3 and s.pc[-1] == 0) == (
        False,
        [("pc", 2), ("stack", 1, 0)],
    )


def test_whole_field_operations_log_the_field() -> None:
    assert _reads(lambda s: 7 in s.pc or len(s.stack) > 5) == (
        False,
        [("pc",), ("stack",)],
    )


def test_a_method_of_the_state_counts_as_reading_everything() -> None:
    assert _reads(lambda s: not s.free()) == (False, [()])


def test_isinstance_still_works_on_the_probe() -> None:
    value, paths = _reads(lambda s: isinstance(s, S) and s.lock == 0)
    assert value is False
    assert ("lock",) in paths


def test_a_guard_that_raises_on_the_probe_gives_nothing() -> None:
    assert recorded_reads(lambda s: s.pc[9] == 0, S(), ()) is None


def test_parameters_that_are_not_positions_cover_the_whole_field() -> None:
    paths = resolve(frozenset({"pc[t]"}), {"t": "left"})
    assert paths == frozenset({("pc",)})
    assert overlaps(paths, frozenset({("pc", 0)}))
    assert covers(paths, ("pc", 2))
