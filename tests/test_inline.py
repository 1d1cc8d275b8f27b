"""Inlined guards and effects: which are inlined, and that nothing a search finds changes.

The successor function (:func:`klpcheck.model.definition.successors_of`) writes a guard
or effect whose body is one expression, proven to be its own source, into its text
instead of calling it. Each test here says which functions are inlined (read from the
names the generated code loads: ``g3`` or ``e3`` left in it means that instance still
calls its guard or effect) and compares the two paths: the successors of every reachable
state, and the counts and verdicts of full searches.
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench import lock, lock_tuple
from klpcheck import Model, ModelError, check
from klpcheck.base.result import Result
from klpcheck.gate.manifest import compare, load_manifest, run_entry
from klpcheck.model.definition import successors_of
from klpcheck.model.loader import load_model
from tests import test_por_random, test_soundness
from tests.conftest import MODELS

# -- helpers -------------------------------------------------------------------------


def inlined(model: Model[Any]) -> tuple[set[int], set[int]]:
    """The instances whose guard, and whose effect, the generated function inlines."""
    instances = model.instances()
    names = set(successors_of(instances, inline=True).__code__.co_names)
    guards = {i.index for i in instances if i.step.guard and f"g{i.index}" not in names}
    effects = {i.index for i in instances if f"e{i.index}" not in names}
    return guards, effects


def agree(model: Model[Any]) -> int:
    """Explore ``model`` with both successor functions, requiring the same successors
    of every reachable state; the number of states."""
    inline = successors_of(model.instances(), inline=True)
    call = successors_of(model.instances(), inline=False)
    seen = set(model.init)
    frontier = list(model.init)
    while frontier:
        s = frontier.pop()
        out = call(s)
        assert inline(s) == out, s
        for _, t in out:
            if t not in seen:
                seen.add(t)
                frontier.append(t)
    return len(seen)


def outcome(result: Result) -> tuple[Any, ...]:
    return (
        result.verdict,
        result.distinct_states,
        sorted(
            (v.property, len(v.trace) if v.trace is not None else -1)
            for v in result.violations
        ),
    )


def both(
    run: Callable[[], Result], monkeypatch: pytest.MonkeyPatch
) -> tuple[Result, Result]:
    """``run()`` with inlining, then with ``KLPCHECK_NO_INLINE=1``."""
    monkeypatch.delenv("KLPCHECK_NO_INLINE", raising=False)
    on = run()
    monkeypatch.setenv("KLPCHECK_NO_INLINE", "1")
    off = run()
    monkeypatch.delenv("KLPCHECK_NO_INLINE")
    return on, off


def messages(
    path: Path, params: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> list[str]:
    """The ModelError of checking the model, with inlining and without."""
    out = []
    for off in [False, True]:
        monkeypatch.delenv("KLPCHECK_NO_INLINE", raising=False)
        if off:
            monkeypatch.setenv("KLPCHECK_NO_INLINE", "1")
        with pytest.raises(ModelError) as info:
            check(load_model(path, params))
        out.append(str(info.value))
    monkeypatch.delenv("KLPCHECK_NO_INLINE")
    return out


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / f"{name}.py"
    path.write_text(textwrap.dedent(text))
    return path


# -- the benchmark lock models and the models/ directory -------------------------------


@pytest.mark.parametrize("module", [lock, lock_tuple], ids=["record", "tuple"])
def test_every_guard_and_effect_of_the_lock_model_is_inlined(module: Any) -> None:
    model = module.build(7)
    assert len(model.instances()) == 21
    assert inlined(model) == (set(range(21)), set(range(21)))
    call = successors_of(model.instances(), inline=False)
    assert {f"g{i}" for i in range(21)} <= set(call.__code__.co_names)


def test_inlining_is_on_unless_the_environment_turns_it_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    instances = lock.build(2).instances()
    for value, on in [(None, True), ("0", True), ("", True), ("1", False)]:
        if value is None:
            monkeypatch.delenv("KLPCHECK_NO_INLINE", raising=False)
        else:
            monkeypatch.setenv("KLPCHECK_NO_INLINE", value)
        names = successors_of(instances).__code__.co_names
        assert ("g0" not in names and "e0" not in names) is on, value
        assert "g0" in successors_of(instances, inline=False).__code__.co_names


@pytest.mark.parametrize("module", [lock, lock_tuple], ids=["record", "tuple"])
def test_the_lock_model_finds_the_same_with_and_without_inlining(
    module: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert agree(module.build(4)) == 5**4 + 4 * 5**3
    on, off = both(lambda: check(module.build(4), por=False), monkeypatch)
    assert outcome(on) == outcome(off)
    assert on.distinct_states == 5**4 + 4 * 5**3 == 1125
    assert on.verdict.value == "holds"


def _smallest_entries() -> list[Any]:
    best: dict[str, Any] = {}
    for e in load_manifest(MODELS / "manifest.toml"):
        if e.model.name not in best or e.states < best[e.model.name].states:
            best[e.model.name] = e
    return [pytest.param(e, id=e.id) for _, e in sorted(best.items())]


@pytest.mark.parametrize("entry", _smallest_entries())
def test_each_model_finds_its_pin_with_and_without_inlining(
    entry: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = load_model(entry.model, entry.params)
    guards, effects = inlined(model)
    assert guards or effects  # the inline path is taken
    assert agree(model) == entry.states
    on, off = both(lambda: run_entry(entry), monkeypatch)
    assert compare(entry, on) == []
    assert compare(entry, off) == []
    assert outcome(on) == outcome(off)


# -- adversarial definitions -----------------------------------------------------------


def test_a_closure_variable_shadowing_a_global_reads_the_closure(
    tmp_path: Path,
) -> None:
    path = write(
        tmp_path,
        "shadow",
        """\
        from klpcheck import Model

        limit = 5

        def build():
            limit = 2
            model = Model("shadow", init=0)

            @model.step(when=lambda s: s < limit)
            def up(s):
                return s + 1

            return model
        """,
    )
    model = load_model(path)
    assert inlined(model) == ({0}, {0})
    assert agree(model) == 3
    assert check(model, deadlock=False).distinct_states == 3


def test_values_are_read_when_each_search_starts(tmp_path: Path) -> None:
    """A proof is reused for every function with the same code; the values its names
    stand for are read again for each function and each search."""
    path = write(
        tmp_path,
        "values",
        """\
        from klpcheck import Model

        LIMIT = 9

        def build(limit: int = 2):
            model = Model("values", init=0)
            model.step(when=lambda s: s < limit and s < LIMIT)(lambda s: s + 1)
            return model
        """,
    )
    small, large = load_model(path), load_model(path, {"limit": 4})
    assert inlined(small) == inlined(large) == ({0}, {0})
    assert (agree(small), agree(large)) == (3, 5)
    assert check(large, deadlock=False).distinct_states == 5
    module = large.steps[0].guard.__globals__  # type: ignore[union-attr]
    module["LIMIT"] = 1
    assert agree(large) == 2
    assert check(large, deadlock=False).distinct_states == 2


def test_a_builtin_the_module_shadows_reads_the_module_s(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "builtin",
        """\
        from klpcheck import Model

        def max(*values):
            return 1

        def build():
            model = Model("builtin", init=0)

            @model.step(when=lambda s: s < max(s, 3))
            def up(s):
                return s + 1

            return model
        """,
    )
    model = load_model(path)
    assert inlined(model) == ({0}, {0})
    assert agree(model) == 2  # 0 and 1, as max answers 1
    assert check(model, deadlock=False).distinct_states == 2


TWINS = """\
from klpcheck import Model

def build():
    model = Model("twins", init=(0, 0))
    low, high = (lambda s: s[0] < 2), (lambda s: s[1] < 3)

    @model.step(when=low)
    def first(s):
        return (s[0] + 1, s[1])

    @model.step(when=high)
    def second(s):
        return (s[0], s[1] + 1)

    return model
"""
# The same at the module's top level: no closure around the functions.
TWIN_LINE = "low, high = (lambda s: s[0] < 2), (lambda s: s[1] < 3)\n"
TOP_TWINS = TWINS.replace(f"    {TWIN_LINE}", "").replace(
    "def build():", f"{TWIN_LINE}\n\ndef build():"
)


@pytest.mark.parametrize("text", [TWINS, TOP_TWINS], ids=["nested", "top"])
def test_two_lambdas_on_one_line_are_told_apart(tmp_path: Path, text: str) -> None:
    model = load_model(write(tmp_path, "twins", text))
    assert inlined(model) == ({0, 1}, {0, 1})
    assert agree(model) == 12
    assert check(model, deadlock=False).distinct_states == 12


def test_a_def_under_decorators_is_inlined_and_a_wrapped_one_is_called(
    tmp_path: Path,
) -> None:
    path = write(
        tmp_path,
        "decorated",
        """\
        import functools
        from klpcheck import Model

        def same(fn):
            return fn

        def logged(fn):
            @functools.wraps(fn)
            def wrapper(*args):
                return fn(*args)
            return wrapper

        def build():
            model = Model("decorated", init=(0, 0))

            @same
            @same
            def low(s):
                \"\"\"The first counter is small.\"\"\"
                return s[0] < 2

            @logged
            def high(s):
                return s[1] < 3

            @model.step(when=low)
            def first(s):
                return (s[0] + 1, s[1])

            @model.step(when=high)
            def second(s):
                return (s[0], s[1] + 1)

            return model
        """,
    )
    model = load_model(path)
    assert inlined(model) == ({0}, {0, 1})
    assert agree(model) == 12


def test_defaults_keyword_only_parameters_and_star_args_keep_the_call(
    tmp_path: Path,
) -> None:
    path = write(
        tmp_path,
        "params",
        """\
        from klpcheck import Model

        def build():
            model = Model("params", init=(0, 0, 0))

            @model.step(when=lambda s, p=7: s[p] < 2, over=[0])
            def first(s, p):
                return (s[0] + 1, s[1], s[2])

            @model.step(when=lambda s, *, k=3: s[1] < k)
            def second(s):
                return (s[0], s[1] + 1, s[2])

            @model.step(when=lambda *a: a[0][2] < 1)
            def third(s, *, k=1):
                return (s[0], s[1], s[2] + k)

            return model
        """,
    )
    model = load_model(path)
    assert inlined(model) == (set(), {0, 1})
    assert agree(model) == 3 * 4 * 2


def test_source_that_is_not_the_file_s_is_never_inlined(tmp_path: Path) -> None:
    """Code exec'd from a string has no file; code compiled under the name of a file it
    did not come from meets a different lambda there, and the proof refuses it."""
    path = write(
        tmp_path,
        "decoy",
        """\
        from klpcheck import Model

        def build(guard, effect):
            model = Model("decoy", init=0)
            model.step(when=guard)(effect)
            return model
        guard = lambda s: s < 3
        """,
    )
    text = "guard = lambda s: s < 2\ndef effect(s):\n    return s + 1\n"
    spaces: list[dict[str, Any]] = [{}, {}]
    exec(compile(text, "<string>", "exec"), spaces[0])
    # Line 7 of the file holds the decoy lambda; ours goes there too.
    exec(compile("\n" * 6 + text, str(path), "exec"), spaces[1])
    for space in spaces:
        m = Model("exec", init=0)
        m.step(when=space["guard"])(space["effect"])
        assert inlined(m) == (set(), set())
        assert agree(m) == 3
        assert check(m, deadlock=False).distinct_states == 3


def test_a_model_file_edited_after_the_import_is_not_inlined(tmp_path: Path) -> None:
    text = """\
        from klpcheck import Model

        def build():
            model = Model("edited", init=0)

            @model.step(when=lambda s: s < 3)
            def up(s):
                return s + 1

            return model
        """
    path = write(tmp_path, "edited", text)
    model = load_model(path)
    assert inlined(model) == ({0}, {0})
    edits: list[tuple[str, str, tuple[set[int], set[int]]]] = [
        ("s < 3", "s < 5", (set(), {0})),  # same length and place: another constant
        ("s < 3", "s > 3", (set(), {0})),  # another operator
        ("s + 1", "s + 2", ({0}, set())),
        ("lambda s: s < 3", "lambda t: t < 3", (set(), {0})),  # a parameter's name
        ("from klpcheck", "\nfrom klpcheck", (set(), set())),  # one line lower
    ]
    for old, new, expected in edits:
        path.write_text(textwrap.dedent(text).replace(old, new))
        stat = path.stat()
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
        assert inlined(model) == expected, new
        assert agree(model) == 4
        assert check(model, deadlock=False).distinct_states == 4
    # An edit elsewhere leaves the function's text and place: still inlined.
    path.write_text(textwrap.dedent(text).replace('"edited"', '"EDITED"'))
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 2 * 10**9))
    assert inlined(model) == ({0}, {0})
    assert agree(model) == 4


def test_bodies_that_are_not_one_movable_expression_keep_the_call(
    tmp_path: Path,
) -> None:
    path = write(
        tmp_path,
        "shapes",
        """\
        from klpcheck import Model

        class Probe:
            __never = False
            mangled = staticmethod(lambda s: s[0] == 3 or Probe.__never)

        def build():
            model = Model("shapes", init=(0, 0))

            @model.step(when=Probe.mangled)
            def fourth(s):
                return (0, s[1])

            @model.step(when=lambda s: any(x < 2 for x in s[:1]))
            def first(s):
                a, b = s
                return (a + 1, b)

            @model.step(when=lambda s: (n := s[1]) < 2 and n >= 0)
            def second(s):
                return (lambda a, b: (a, b + 1))(*s)

            @model.step(when=lambda s: locals()["s"][0] == s[0] and s[1] == 2)
            def third(s):
                return (s[0], 3)

            return model
        """,
    )
    model = load_model(path)
    assert inlined(model) == (set(), {0, 3})
    assert agree(model) == 3 * 4


def test_an_argument_written_as_a_literal_that_would_warn_keeps_the_call(
    tmp_path: Path,
) -> None:
    path = write(
        tmp_path,
        "warns",
        """\
        from klpcheck import Model

        def build():
            model = Model("warns", init=0)

            @model.step(when=lambda s, p: s < 2 and (p == 0 or p[0] == 1), over=[0, (1,)])
            def up(s, p):
                return s + 1

            return model
        """,
    )
    model = load_model(path)
    assert inlined(model) == ({1}, {0, 1})  # `0[0]` would warn: instance 0 calls
    assert agree(model) == 3


def test_names_unbound_at_generation_keep_the_call_and_the_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(
        tmp_path,
        "unbound",
        """\
        from klpcheck import Model

        def build(which: int = 0):
            model = Model("unbound", init=0)
            if which == 0:
                model.step(when=lambda s: s < MISSING)(lambda s: s + 1)
            else:
                model.step(when=lambda s: s < later)(lambda s: s + 1)
                if which == 2:
                    later = 3
            return model
        """,
    )
    for which, message in [
        (0, "NameError: name 'MISSING' is not defined"),
        (1, "NameError: cannot access free variable 'later'"),
    ]:
        model = load_model(path, {"which": which})
        assert inlined(model) == (set(), {0})
        on, off = messages(path, {"which": which}, monkeypatch)
        assert on == off
        assert message in on
    model = load_model(path, {"which": 2})
    assert inlined(model) == ({0}, {0})
    assert agree(model) == 4


def test_a_raising_inlined_guard_or_effect_is_diagnosed_as_before(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(
        tmp_path,
        "raising",
        """\
        from klpcheck import Model

        def build(where: str = "guard"):
            model = Model("raising", init=(0,))
            if where == "guard":
                model.step(over=range(2), when=lambda s, t: 1 // t > 0)(lambda s, t: s)
            else:
                model.step(over=["a"])(lambda s, k: (s[1],))
            return model
        """,
    )
    for where, message in [
        (
            "guard",
            "guard of step <lambda>(t=0) raised ZeroDivisionError: integer division or "
            "modulo by zero in state (0,)",
        ),
        (
            "effect",
            "step <lambda>(k='a') raised IndexError: tuple index out of range in state "
            "(0,)",
        ),
    ]:
        model = load_model(path, {"where": where})
        guards, effects = inlined(model)
        assert (guards, effects) == (
            ({0, 1}, {0, 1}) if where == "guard" else (set(), {0})
        )
        assert messages(path, {"where": where}, monkeypatch) == [message, message]


def test_a_guard_that_answers_a_non_bool_is_still_refused(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "nonbool",
        """\
        from klpcheck import Model

        def build():
            model = Model("nonbool", init=0)
            model.step(when=lambda s: 3 - s)(lambda s: s + 1)
            return model
        """,
    )
    model = load_model(path)
    assert inlined(model) == ({0}, {0})
    with pytest.raises(
        ModelError, match=r"^the guard of step <lambda> returned 3 \(int\)"
    ):
        check(model)


@given(spec=test_por_random.model_specs())
@settings(test_por_random.CI, max_examples=30)
def test_the_partial_order_tests_random_models_run_inlined(
    spec: dict[str, Any],
) -> None:
    """Their guards and effects are closures calling closures: inlined as calls of
    the closure, with the instance's argument."""
    model = test_por_random.build(spec)
    n = len(model.instances())
    assert inlined(model) == (set(range(n)), set(range(n)))
    agree(model)
    on = check(model, por=True, keep_going=True)
    os.environ["KLPCHECK_NO_INLINE"] = "1"
    try:
        off = check(model, por=True, keep_going=True)
    finally:
        del os.environ["KLPCHECK_NO_INLINE"]
    assert outcome(on) == outcome(off)


@pytest.mark.parametrize("style", ["percent", "type", "helper"])
def test_the_soundness_probes_run_inlined(
    style: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Guards that read the state through C code (``%``, ``type(s) is P``)."""
    model = test_soundness._model(style)
    assert inlined(model) == ({0, 1, 2}, {0, 1, 2})
    on, off = both(lambda: check(model), monkeypatch)
    assert outcome(on) == outcome(off)
    assert on.verdict.value == "violated"


# -- random models written to a file ----------------------------------------------------

ATOMS = [
    "s.x {op} {c}",
    "s.y {op} {c}",
    "s.v[p] {op} {c}",
    "s.v[{i}] {op} {c}",
    "len(str(s.v[p])) == 1 and s.v[p] {op} {c}",
    "LIMIT > s.x {op} {c} - 1",
    "limit > s.y",
    "min(s.v) {op} {c}",
    "bound(s.x) {op} {c}",
    "(s.x if p % 2 else s.y) {op} {c}",
]
EFFECTS = [
    "replace(s, x=(s.x + 1) % 3)",
    "replace(s, y=(s.y + p) % 3)",
    "replace(s, v=(*s.v[:p], (s.v[p] + 1) % 3, *s.v[p + 1 :]))",
    "replace(s, v=(*s.v[:p], {c}, *s.v[p + 1 :]), x={c})",
    "G(s.x, (s.y + s.v[p]) % 3, s.v)",
]


@st.composite
def expressions(draw: st.DrawFn, parts: list[str], most: int) -> str:
    chosen = draw(st.lists(st.sampled_from(parts), min_size=1, max_size=most))
    filled = [
        part.format(
            op=draw(st.sampled_from(["==", "!=", "<", "<="])),
            c=draw(st.integers(0, 2)),
            i=draw(st.integers(0, 1)),
        )
        for part in chosen
    ]
    joiner = draw(st.sampled_from([" and ", " or "]))
    return joiner.join(f"({f})" for f in filled)


@st.composite
def model_sources(draw: st.DrawFn) -> str:
    """A model file: two to four steps over p in 0..1, guards and effects written as
    lambdas, one-line defs, defs with a docstring, or two statements (called)."""
    steps = []
    for n in range(draw(st.integers(2, 4))):
        guard = draw(expressions(ATOMS, 2))
        effect = draw(expressions(EFFECTS, 1))
        form = draw(st.sampled_from(["lambda", "def", "doc", "two"]))
        if form == "lambda":
            steps.append(
                f"    model.step(when=lambda s, p: {guard}, over=range(2))"
                f"(named('step{n}', lambda s, p: {effect}))\n"
            )
            continue
        body = {
            "def": f"return {effect}",
            "doc": f'"""Step {n}."""\n        return {effect}',
            "two": f"out = {effect}\n        return out",
        }[form]
        steps.append(
            f"    def when{n}(s, p):\n        return {guard}\n\n"
            f"    @model.step(when=when{n}, over=range(2))\n"
            f"    def step{n}(s, p):\n        {body}\n"
        )
    invariant = draw(expressions(ATOMS[:4], 2)).replace("p", "0")
    return (
        "from dataclasses import dataclass, replace\n\n"
        "from klpcheck import Model\n\n"
        "LIMIT = 2\n\n\n"
        "@dataclass(frozen=True)\nclass G:\n    x: int = 0\n    y: int = 0\n"
        "    v: tuple[int, ...] = (0, 0)\n\n\n"
        "def bound(value):\n    return min(value, 1)\n\n\n"
        "def named(name, fn):\n    fn.__name__ = name\n    return fn\n\n\n"
        "def build():\n"
        "    model = Model('random', init=G())\n"
        "    limit = 2\n" + "\n".join(steps) + "\n"
        f"    @model.invariant\n    def inv(s):\n        return not ({invariant})\n\n"
        "    return model\n"
    )


RANDOM = settings(
    derandomize=True,
    max_examples=100,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def _random_model_agrees(source: str, where: Path, counter: list[int]) -> None:
    counter[0] += 1
    path = where / f"random_{counter[0]}.py"  # a new file: nothing cached for it
    path.write_text(source)
    model = load_model(path)
    guards, effects = inlined(model)
    calls = source.count("out = ")
    assert len(guards) == len(model.instances())
    assert len(effects) == len(model.instances()) - 2 * calls
    states = agree(model)
    on = check(model, por=False, keep_going=True)
    os.environ["KLPCHECK_NO_INLINE"] = "1"
    try:
        off = check(model, por=False, keep_going=True)
    finally:
        del os.environ["KLPCHECK_NO_INLINE"]
    assert outcome(on) == outcome(off)
    assert on.distinct_states == states


@given(source=model_sources())
@RANDOM
def test_random_models_find_the_same_with_and_without_inlining(
    source: str, tmp_path: Path
) -> None:
    _random_model_agrees(source, tmp_path, COUNTER)


COUNTER = [0]


@pytest.mark.slow
@given(source=model_sources())
@settings(RANDOM, max_examples=3000)
def test_random_models_find_the_same_on_many_models(
    source: str, tmp_path: Path
) -> None:
    _random_model_agrees(source, tmp_path, COUNTER)
