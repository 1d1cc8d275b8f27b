"""Workers as Ray actors: the same counts, verdicts and trace lengths as one process.

These start a local Ray cluster in the test process (``ray.init()``), so they are
marked ``ray`` and left out of the default run: ``pip install -e '.[ray]'`` and
``pytest -m ray``. Without Ray installed they are skipped.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from klpcheck import Model, ModelError, Result, Verdict, check
from klpcheck.gate.manifest import Entry, compare, load_manifest, run_entry
from tests.conftest import MODELS, full_search
from tests.toy_models import chain, counters, flag_race, pair_target

ray: Any = pytest.importorskip("ray")

pytestmark = pytest.mark.ray

# Every manifest entry the default test run checks: the small ones are compared with a
# search in this process too, the larger ones with their pins (one process's outcome).
# Liveness is checked by one process only (workers are refused for it): its entries
# are left out here.
_FAST = [
    e
    for e in load_manifest(MODELS / "manifest.toml")
    if not e.slow and not e.params.get("live")
]
ENTRIES = [e for e in _FAST if e.states < 5000]
LARGER = [e for e in _FAST if e.states >= 5000]


@pytest.fixture(scope="module", autouse=True)
def local_cluster() -> Iterator[None]:
    ray.init(
        num_cpus=4,
        include_dashboard=False,
        logging_level="ERROR",
        log_to_driver=False,
    )
    yield
    ray.shutdown()


def _outcome(r: Result) -> tuple[Any, ...]:
    return (
        r.verdict,
        r.distinct_states,
        r.transitions,
        r.max_depth,
        sorted((v.property, len(v.trace or ())) for v in r.violations),
        {n: len(t) for n, t in r.witnesses.items()},
    )


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.id)
def test_ray_workers_match_one_process_on_every_pin(entry: Entry) -> None:
    many = run_entry(entry, workers=2, backend="ray")
    assert compare(entry, many) == []
    assert _outcome(many) == _outcome(full_search(entry))
    assert "2 workers (Ray actors;" in many.notes[0]


@pytest.mark.parametrize("entry", LARGER, ids=lambda e: e.id)
def test_ray_workers_match_every_larger_pin(entry: Entry) -> None:
    assert compare(entry, run_entry(entry, workers=2, backend="ray")) == []


@pytest.mark.parametrize("workers", [1, 3])
@pytest.mark.parametrize(
    "model", [counters(3, 4), flag_race(), chain(3), pair_target(2, 3)]
)
def test_models_built_in_code_travel_to_the_actors(
    model: Model[object], workers: int
) -> None:
    one = check(model, keep_going=True)
    many = check(model, keep_going=True, workers=workers, backend="ray")
    assert _outcome(many) == _outcome(one)


def test_bounds_and_model_errors_as_with_one_process() -> None:
    r = check(counters(3, 4), max_states=10, workers=2, backend="ray")
    assert (r.verdict, r.incomplete_reason) == (
        Verdict.INCOMPLETE,
        "state bound of 10 reached",
    )
    m = Model[int]("m", init=0)

    @m.step(over=range(2), when=lambda s, t: s < 3)
    def divide(s: int, t: int) -> int:
        """Fails once s reaches 1."""
        return s + 1 + 0 // (1 - s)

    with pytest.raises(ModelError) as one:
        check(m)
    with pytest.raises(ModelError) as many:
        check(m, workers=2, backend="ray")
    assert str(many.value) == str(one.value)


def test_the_command_line_starts_its_own_ray() -> None:
    # A separate process: it starts and stops a private local Ray.
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "klpcheck",
            "run",
            str(MODELS / "water_jug.py"),
            "--backend",
            "ray",
            "--workers",
            "2",
            "--no-save",
            "-q",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 1, done.stderr
    # what one process reports (water_jug declares a symmetry, which workers keep)
    assert done.stdout.startswith(
        "violated — 14 distinct states, 72 transitions, depth 6,"
    )
    assert "2 workers (Ray actors;" in done.stdout


def test_an_address_where_no_cluster_answers_is_one_line() -> None:
    # Another process: this one has a Ray already. Port 1 refuses at once.
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "klpcheck",
            "run",
            str(MODELS / "water_jug.py"),
            "--backend",
            "ray",
            "--address",
            "127.0.0.1:1",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "error: no Ray cluster answers at 127.0.0.1:1 (Connection refused); start one "
        "with `ray start --head` there, or drop --address for a local Ray"
    )
