"""The state graph: the explorer's oracle, and its DOT export."""

from __future__ import annotations

from typing import Any

import networkx as nx
import pytest

from klpcheck import check, load_model
from klpcheck.trace.graph import state_graph, to_dot
from tests.conftest import MODELS
from tests.toy_models import chain, counters, flag_race, pair_target


@pytest.mark.parametrize(
    "model",
    [flag_race(), counters(2, 3), chain(3), pair_target(2, 1)],
    ids=["flag_race", "counters", "chain", "pair"],
)
def test_the_state_graph_is_what_the_explorer_visits(model: Any) -> None:
    graph = state_graph(model)
    result = check(model, keep_going=True, deadlock=False)
    assert graph.number_of_nodes() == result.distinct_states
    roots = list(model.init)
    assert set(graph) == set().union(*(nx.descendants(graph, r) | {r} for r in roots))


def test_two_phase_commit_graph_has_288_states() -> None:
    graph = state_graph(load_model(MODELS / "two_phase_commit.py"))
    assert graph.number_of_nodes() == 288


def test_dot_is_deterministic_and_marks_violations() -> None:
    a, b = to_dot(state_graph(flag_race())), to_dot(state_graph(flag_race()))
    assert a == b
    assert 's0 [label="flag = False\\npc = (IDLE, IDLE)", penwidth=2.5];' in a
