"""Guards and effects written as one expression, inlined into the generated successor function.

A call ``g(s, 3)`` to ``lambda s, p: s.pc[p] == 0 and not s.locked`` costs about twice
the expression itself, and the successor function of :mod:`klpcheck.model.definition`
makes one such call per step instance and state. This module gives that function the
expression's text instead, with every name in it renamed, when it can prove the text is
the function's own:

1. Find the source. The function's code object names its file and first line; the file
   is read through :mod:`linecache` (as :mod:`inspect` reads it) and parsed whole, and the
   candidates are the lambdas, or the ``def`` statements of the function's name, that
   start on that line (a ``def``'s first line is its first decorator's).
2. Prove it. Each candidate is compiled alone, nested in a function that defines the
   original's free variables when the original is nested, with the original's
   ``__future__`` flags and its positions in the file. It is the function only if the
   new code object equals the original in bytecode, constants (type for type: ``1``,
   ``1.0``, ``True`` and ``-0.0``, ``0.0`` differ), names, local, free and cell
   variables, flags, argument counts, first line and line table (so column for column:
   two lambdas on one line differ there). Exactly one candidate must pass. A file edited
   after the import compiles differently, unless the function's own text and position are
   untouched, in which case the text is still the function's.
3. Check it can be moved. Only a body that is one expression (a lambda, or a ``def``
   holding an optional docstring and ``return <expr>``) with exactly the positional
   parameters the instance passes (no defaults, keyword-only parameters, ``*args`` or
   ``**kwargs``), and no scope of its own or binding (no lambda, comprehension, generator
   expression, ``:=``, ``yield``, ``await``): such an expression only reads names. None of
   them may be ``super``, ``__class__`` or ``__debug__``, or be bound to a builtin that
   acts on the frame calling it (``locals``, ``eval``, ``sys._getframe``, …), and no
   attribute may be named like one (``builtins.eval``, ``f_locals``, …).
4. Rename every name. The expression is written back as text once (:func:`ast.unparse`)
   with a placeholder for each name; the text must parse back to the same tree and hold
   the placeholders exactly where the names were. Per instance, the parameters' become
   what the instance passes (the state ``s``, the arguments ``a{i}_{j}``, or a
   parenthesised literal for small ints, bools and None: the very objects the globals
   would hold), and every other name's a global ``n{k}`` of the generated function bound
   to the value the original's code would read for it now (closure cell, else the
   function's globals, else its builtins). A name bound nowhere (a NameError when called)
   keeps the call, as does a text that compiles with a warning (``0[1]``).

What still differs from the call: the generated function reads the values of globals and
closure cells once, when it is generated (a model that rebinds a module global during a
search would not be seen), and the frame that runs the expression is the generated
function's (seen by code that reaches the caller's frame some other way: a helper that
calls ``sys._getframe(1)``, ``getattr(builtins, "eval")``). Any function this module
cannot handle is called as before.
"""

from __future__ import annotations
import __future__

import ast
import builtins
import copy
import functools
import inspect
import keyword
import linecache
import re
import sys
import types
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

__all__ = ["Body", "body_of", "inline_text", "literal"]

_FUTURE_FLAGS = 0
for _feature in __future__.all_feature_names:
    _FUTURE_FLAGS |= getattr(__future__, _feature).compiler_flag
_CO_NESTED = inspect.CO_NESTED
_NOT_PLAIN = inspect.CO_VARARGS | inspect.CO_VARKEYWORDS

# Nodes that open a scope or bind a name: their text cannot move into another function.
_SCOPED = (
    ast.Lambda,
    ast.ListComp,
    ast.SetComp,
    ast.DictComp,
    ast.GeneratorExp,
    ast.NamedExpr,
    ast.Yield,
    ast.YieldFrom,
    ast.Await,
)
# Names the compiler treats specially, and callables that act on their caller's frame.
_SPECIAL_NAMES = frozenset({"super", "__class__", "__debug__"})
_FRAME_BUILTINS = (
    builtins.locals,
    builtins.globals,
    builtins.vars,
    builtins.dir,
    builtins.eval,
    builtins.exec,
    builtins.super,
    builtins.breakpoint,
    sys._getframe,
    inspect.currentframe,
)
_FRAME_ATTRIBUTES = frozenset(
    {
        *("locals", "globals", "vars", "dir", "eval", "exec", "breakpoint"),
        *("_getframe", "currentframe", "f_back", "f_locals", "f_globals", "f_code"),
    }
)
_SMALL_INT = range(257)  # ints CPython shares: a literal is the same object


@dataclass(frozen=True)
class _Template:
    """A proven expression as text, each name replaced by a placeholder ``_x{k}_``:
    ``params`` holds the positional parameters' (the state's first), ``free`` each other
    name with its placeholder. Every placeholder in ``text`` stands where a name was."""

    text: str
    params: tuple[str, ...]
    free: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Body:
    """A function's one expression, proven to be its body, and the value each name
    other than a parameter has now (by placeholder)."""

    template: _Template
    free: dict[str, Any]


def body_of(fn: Callable[..., Any]) -> Body | None:
    """``fn``'s proven single-expression body, or None when it cannot be inlined."""
    if type(fn) is not types.FunctionType:
        return None
    co = fn.__code__
    if (
        co.co_flags & _NOT_PLAIN
        or co.co_kwonlyargcount
        or fn.__defaults__
        or fn.__kwdefaults__
        or co.co_cellvars
    ):
        return None
    template = _proven_template(fn)
    if template is None:
        return None
    free = _bindings(fn, template)
    if free is None:
        return None
    return Body(template, free)


def inline_text(body: Body, args: list[str], bind: Callable[[Any], str]) -> str | None:
    """The expression with its parameters replaced by ``args`` (the names or literals
    the instance passes, the state's name first; a literal is parenthesised) and each
    other name by ``bind(value)``. None when the text would not compile without a
    warning (``0[1]``, once a literal replaces ``p`` in ``p[1]``)."""
    template = body.template
    if len(args) != len(template.params):
        return None
    sub: dict[str, str] = {}
    literals = False
    for place, arg in zip(template.params, args, strict=True):
        if arg.isidentifier() and not keyword.iskeyword(arg):
            sub[place] = arg
        else:
            sub[place] = f"({arg})"
            literals = True
    for place, value in body.free.items():
        sub[place] = bind(value)
    text = _PLACEHOLDER.sub(lambda m: sub[m.group(0)], template.text)
    # Names for names cannot make the template's text warn; a literal can.
    return text if not literals or _compiles(text) else None


def _compiles(text: str) -> bool:
    """Whether ``text`` compiles as an expression without a warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            compile(text, "<inline>", "eval", dont_inherit=True)
        except (SyntaxError, Warning):
            return False
    return True


def literal(value: Any) -> str | None:
    """The literal for an argument that reads the same as a literal as through a
    global (the very object: small ints, bools, None), else None."""
    if value is None or type(value) is bool:
        return repr(value)
    if type(value) is int and value in _SMALL_INT:
        return repr(value)
    return None


_PLACEHOLDER = re.compile(r"\b_x\d+_\b")


def _template(expr: ast.expr, params: tuple[str, ...]) -> _Template | None:
    """``expr`` as text with placeholders for its names; None unless the text parses
    back to the same tree and holds the placeholders exactly where the names are."""
    places = {p: f"_x{j}_" for j, p in enumerate(params)}
    for node in ast.walk(expr):
        if isinstance(node, ast.Name) and node.id not in places:
            places[node.id] = f"_x{len(places)}_"
    renamed = _Rename(places).visit(copy.deepcopy(expr))
    text = ast.unparse(renamed)
    try:
        back = ast.parse(text, mode="eval").body
    except SyntaxError:
        return None
    names = sorted(n.id for n in ast.walk(renamed) if isinstance(n, ast.Name))
    if (
        ast.dump(back) != ast.dump(renamed)
        or sorted(_PLACEHOLDER.findall(text)) != names
        or not _compiles(text)
    ):
        return None
    free = tuple((n, place) for n, place in places.items() if n not in params)
    return _Template(text, tuple(places[p] for p in params), free)


class _Rename(ast.NodeTransformer):
    def __init__(self, names: dict[str, str]) -> None:
        self.names = names

    def visit_Name(self, node: ast.Name) -> ast.Name:
        return ast.copy_location(ast.Name(self.names[node.id], ast.Load()), node)


# -- finding the source --------------------------------------------------------------


class _Source:
    """A parsed file: its lambdas and function definitions by first line, and the
    template proven for each code object (None when there is none), by its key."""

    def __init__(self, tree: ast.Module) -> None:
        self.by_line: dict[int, list[ast.Lambda | ast.FunctionDef]] = {}
        self.proven: dict[tuple[Any, ...], _Template | None] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.Lambda):
                self.by_line.setdefault(node.lineno, []).append(node)
            elif isinstance(node, ast.FunctionDef):
                first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
                self.by_line.setdefault(first, []).append(node)


@functools.lru_cache(maxsize=16)
def _parsed(filename: str, text: str) -> _Source | None:
    try:
        return _Source(ast.parse(text, filename))
    except (SyntaxError, ValueError):
        return None


_LINES: dict[str, tuple[list[str], _Source | None]] = {}


def _proven_template(fn: types.FunctionType) -> _Template | None:
    """The template of the one single-expression lambda or def of ``fn``'s file that
    compiles to ``fn.__code__``, when its expression can move; else None."""
    co = fn.__code__
    filename = co.co_filename
    if not filename or (filename.startswith("<") and filename.endswith(">")):
        return None
    linecache.checkcache(filename)
    lines = linecache.getlines(filename, fn.__globals__)
    if not lines:
        return None
    seen = _LINES.get(filename)
    if seen is None or seen[0] is not lines:  # linecache keeps one list per version
        if len(_LINES) >= 64:
            _LINES.clear()
        _LINES[filename] = seen = (lines, _parsed(filename, "".join(lines)))
    source = seen[1]
    if source is None:
        return None
    # By key, not by object: a new import of the file makes new code objects.
    key = _code_key(co)
    if key not in source.proven:
        expr = _prove(source, co, key)
        template = None
        if expr is not None and _movable(expr):
            template = _template(expr, co.co_varnames[: co.co_argcount])
        source.proven[key] = template
    return source.proven[key]


def _prove(
    source: _Source, co: types.CodeType, key: tuple[Any, ...]
) -> ast.expr | None:
    """The expression of the one candidate of ``source`` that compiles to code with
    ``co``'s key (and equal to ``co`` by CPython's own comparison), or None."""
    found = []
    for node in source.by_line.get(co.co_firstlineno, []):
        if isinstance(node, ast.Lambda):
            if co.co_name != "<lambda>":
                continue
        elif node.name != co.co_name:
            continue
        expr = _expression(node)
        if expr is None:
            continue
        compiled = _compile_alone(node, co)
        if compiled is not None and _code_key(compiled) == key and compiled == co:
            found.append(expr)
    return found[0] if len(found) == 1 else None


def _compile_alone(
    node: ast.Lambda | ast.FunctionDef, co: types.CodeType
) -> types.CodeType | None:
    """``node`` compiled on its own (nested, with ``co``'s free variables defined around
    it, when ``co`` is nested), at its place in the file: its code object. The node is
    not changed (every node of a parsed tree has its position)."""
    stmt: ast.stmt = node if isinstance(node, ast.FunctionDef) else ast.Expr(node)
    body: list[ast.stmt] = [stmt]
    if co.co_flags & _CO_NESTED:
        define = [
            ast.Assign([ast.Name(v, ast.Store())], ast.Constant(None))
            for v in co.co_freevars
        ]
        outer = ast.FunctionDef(
            name="outer",
            args=ast.arguments([], [], None, [], [], None, []),
            body=[*define, stmt],
            decorator_list=[],
            returns=None,
            type_comment=None,
        )
        body = [outer]
    module = ast.fix_missing_locations(ast.Module(body=body, type_ignores=[]))
    try:
        top = compile(module, co.co_filename, "exec", co.co_flags & _FUTURE_FLAGS, True)
    except (SyntaxError, ValueError, TypeError):
        return None
    codes = [c for c in _codes(top, body[0] is not stmt) if c.co_name == co.co_name]
    return codes[0] if len(codes) == 1 else None


def _codes(top: types.CodeType, wrapped: bool) -> Iterator[types.CodeType]:
    """The code objects of the functions the compiled statement makes (inside the
    wrapper when there is one): the function itself, and any in its decorators."""
    for c in top.co_consts:
        if isinstance(c, types.CodeType):
            if wrapped:
                yield from (x for x in c.co_consts if isinstance(x, types.CodeType))
            else:
                yield c


_FIELDS = (
    "co_argcount",
    "co_posonlyargcount",
    "co_kwonlyargcount",
    "co_nlocals",
    "co_stacksize",
    "co_flags",
    "co_code",
    "co_names",
    "co_varnames",
    "co_freevars",
    "co_cellvars",
    "co_name",
    "co_firstlineno",
    "co_linetable",
    "co_exceptiontable",
)


def _code_key(co: types.CodeType) -> tuple[Any, ...]:
    """Everything the code does and where it came from (not its qualified name or
    file), constants type for type: equal keys, interchangeable code."""
    return (*(getattr(co, f) for f in _FIELDS), _const_key(co.co_consts))


def _const_key(c: object) -> object:
    if isinstance(c, tuple):
        return (tuple, tuple(map(_const_key, c)))
    if isinstance(c, frozenset):
        return (frozenset, frozenset(map(_const_key, c)))
    if isinstance(c, types.CodeType):
        return (types.CodeType, _code_key(c))
    if isinstance(c, (float, complex)):
        return (type(c), repr(c))  # -0.0 and 0.0 differ, as do two NaNs' spellings
    return (type(c), c)  # 1, 1.0 and True differ


# -- what the expression is and reads ------------------------------------------------


def _expression(node: ast.Lambda | ast.FunctionDef) -> ast.expr | None:
    """A lambda's body, or the expression of a def's only ``return`` (after an optional
    docstring); None for anything else."""
    if isinstance(node, ast.Lambda):
        return node.body
    body = node.body
    if (
        len(body) == 2
        and isinstance(body[0], ast.Expr)
        and isinstance(body[0].value, ast.Constant)
        and isinstance(body[0].value.value, str)
    ):
        body = body[1:]
    if len(body) == 1 and isinstance(body[0], ast.Return) and body[0].value is not None:
        return body[0].value
    return None


def _movable(expr: ast.expr) -> bool:
    """No scope, binding or frame access of its own: it reads the same anywhere."""
    for node in ast.walk(expr):
        if isinstance(node, _SCOPED):
            return False
        if isinstance(node, ast.Name) and (
            node.id in _SPECIAL_NAMES or not isinstance(node.ctx, ast.Load)
        ):
            return False
        if isinstance(node, ast.Attribute) and node.attr in _FRAME_ATTRIBUTES:
            return False
    return True


def _bindings(fn: types.FunctionType, template: _Template) -> dict[str, Any] | None:
    """The value ``fn``'s code reads now for each name of ``template`` other than the
    parameters (its closure cell, else its globals, else its builtins), by placeholder.
    None when one is unbound or is a builtin that looks at its caller's frame."""
    co = fn.__code__
    # getattr: older typeshed lacks FunctionType.__builtins__ (new in Python 3.10)
    glob, built = fn.__globals__, getattr(fn, "__builtins__")  # noqa: B009
    if type(glob) is not dict or type(built) is not dict:
        return None  # a mapping with __missing__ could answer differently
    out: dict[str, Any] = {}
    for name, place in template.free:
        if name in co.co_freevars:
            cell = (fn.__closure__ or ())[co.co_freevars.index(name)]
            try:
                value = cell.cell_contents
            except ValueError:
                return None
        elif name in co.co_names:
            if name in glob:
                value = glob[name]
            elif name in built:
                value = built[name]
            else:
                return None
        else:
            return None
        if any(value is f for f in _FRAME_BUILTINS):
            return None
        out[place] = value
    return out
