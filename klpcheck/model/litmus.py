"""C litmus tests as klpcheck models: the subset the kernel's memory-model tests are written in.

A litmus test (``tools/memory-model/litmus-tests/*.litmus`` in the Linux tree, the format
herd7 reads) names shared locations and their initial values, gives each process
``P0``, ``P1``, ... a short C body, and asks whether a final outcome ``exists``. herd7
answers over LKMM's candidate executions: ``Never`` or ``Sometimes``. Here each process
runs on its own CPU of a :class:`klpcheck.model.memory.WeakMemory`, one statement per step,
and the outcome is an invariant ("this final state is never reached"): ``Never`` when the
complete search holds, ``Sometimes`` with the trace that reaches it.

The subset read:

- the header ``C name``, comments ``(* ... *)``, ``/* ... */`` and ``// ...``;
- an initial block ``{ int x; int y = 1; y=z; atomic_t v = ATOMIC_INIT(1); 0:r0=1; }``
  (a location named as a value is a pointer to it);
- processes ``P<n>(int *x, int **y, atomic_t *v)`` whose bodies declare registers and use
  ``READ_ONCE``, ``WRITE_ONCE``, ``smp_load_acquire``, ``smp_store_release``,
  ``rcu_dereference``, ``rcu_assign_pointer``, ``rcu_read_lock``/``unlock`` (no
  ordering without ``synchronize_rcu``), ``smp_wmb``, ``smp_rmb``, ``smp_mb``,
  ``smp_mb__before_atomic``/``after_atomic`` (as ``smp_mb``), ``atomic_read``,
  ``atomic_set``, ``xchg``, ``cmpxchg`` (a failing one is a plain load),
  ``atomic_inc``/``dec``/``add``/``sub`` with their ``_return`` and ``fetch_`` forms,
  ``atomic_xchg``, ``atomic_cmpxchg``, ``atomic_add_unless``, register arithmetic,
  ``if``/``else``; a load through a register (``READ_ONCE(*r0)``) is address-dependent;
- ``locations [...]`` (ignored) and ``exists (...)`` over ``P:reg=v`` and ``loc=v`` with
  ``/\\``, ``\\/``, ``~`` and parentheses.

Anything else (locks, ``synchronize_rcu``, ``_relaxed``/``_acquire``/``_release`` atomics,
``filter``, ``forall``) is refused with a :class:`LitmusError` naming it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from klpcheck.base.errors import ModelError, UsageError
from klpcheck.model.definition import Model
from klpcheck.model.memory import Buffer, Cell, WeakMemory
from klpcheck.model.record import Record

__all__ = [
    "LitmusError",
    "LitmusTest",
    "build_model",
    "load_litmus",
    "parse_litmus",
]

Value = Hashable


class LitmusError(UsageError):
    """A litmus file that cannot be read, or a construct outside the subset (exit 2)."""


# -- the test as parsed -----------------------------------------------------------------


@dataclass(frozen=True)
class Op:
    """One statement of a process: a kind and its operands.

    Expressions are nested tuples: ``("int", 1)``, ``("reg", "r0")``, ``("loc", "x")``
    (a pointer), ``("op", "+", a, b)``, ``("not", a)``. An address is ``("loc", "x")``
    (static) or ``("reg", "r0")`` (the value of a register: an address dependency).
    """

    kind: str
    text: str
    reg: str | None = None
    addr: Any = None
    args: tuple[Any, ...] = ()
    target: int = -1  # branches: where to go when the condition is false


@dataclass
class LitmusTest:
    """A parsed litmus test."""

    name: str
    result: str | None  # the ``Result:`` line of the header comment, if any
    init: dict[str, Value]
    reg_init: dict[tuple[int, str], Value]
    procs: list[list[Op]]
    regs: list[list[str]]
    exists: Any
    exists_text: str
    path: Path | None = None
    types: dict[str, str] = field(default_factory=dict)


_RESULT = re.compile(r"Result:\s*(\w+)")
_TOKEN = re.compile(
    r"\s*(?:(/\\|\\/|==|!=|<=|>=|&&|\|\||->|[A-Za-z_][\w.]*|\d+|[-(){};,*&=!+<>~|:\[\]\"^%/?]))"
)


def _strip_comments(text: str) -> str:
    text = re.sub(r"\(\*(?=[\s*]).*?\*\)", " ", text, flags=re.S)  # not (*x
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    return re.sub(r"//[^\n]*", " ", text)


def _tokens(text: str, where: str) -> list[str]:
    out = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise LitmusError(f"{where}: cannot read {text[pos : pos + 20].strip()!r}")
        out.append(m.group(1))
        pos = m.end()
    return out


def parse_litmus(text: str, where: str = "litmus test") -> LitmusTest:
    """Parse the text of a C litmus test; raise :class:`LitmusError` naming the problem."""
    header = text.lstrip()
    if not header.startswith("C "):
        raise LitmusError(
            f"{where}: not a C litmus test (the first line must be `C <name>`)"
        )
    first, _, rest = header.partition("\n")
    name = first[2:].strip()
    m = _RESULT.search(rest)
    result = m.group(1) if m else None
    body = _strip_comments(rest)
    start = body.find("{")
    if start < 0:
        raise LitmusError(f"{where}: no initial block `{{...}}` after the name")
    end = body.find("}", start)
    init_text = body[start + 1 : end]
    init, reg_init, types = _parse_init(init_text, where)
    tail = body[end + 1 :]
    exists_at = re.search(r"(~?\s*exists|forall|filter)\b", tail)
    if exists_at is None:
        raise LitmusError(f"{where}: no `exists (...)` clause")
    word = re.sub(r"\s", "", exists_at.group(1))
    if word != "exists":
        raise LitmusError(
            f"{where}: `{word}` is outside the subset klpcheck reads; only "
            "`exists (...)` is supported"
        )
    procs_text = tail[: exists_at.start()]
    cond_text = tail[exists_at.end() :].strip()
    loc_clause = re.search(r"\blocations\s*\[[^\]]*\]", procs_text)
    if loc_clause is not None:
        procs_text = procs_text[: loc_clause.start()] + procs_text[loc_clause.end() :]
    test = LitmusTest(
        name, result, init, reg_init, [], [], None, cond_text, None, types
    )
    _parse_procs(test, procs_text, where)
    test.exists = _Cond(_tokens(cond_text, where), where, test).parse()
    return test


_TYPES = (
    "int",
    "long",
    "unsigned",
    "atomic_t",
    "atomic_long_t",
    "intptr_t",
    "u32",
    "u64",
)
_TYPE_RE = "|".join(_TYPES)


def _parse_init(
    text: str, where: str
) -> tuple[dict[str, Value], dict[tuple[int, str], Value], dict[str, str]]:
    init: dict[str, Value] = {}
    regs: dict[tuple[int, str], Value] = {}
    types: dict[str, str] = {}
    for raw in text.split(";"):
        item = " ".join(raw.split())
        if not item:
            continue
        m = re.fullmatch(
            rf"(?:(?P<type>(?:{_TYPE_RE})\b)\s*)?(?P<star>\**)\s*(?:(?P<proc>\d+)\s*:\s*)?"
            r"(?P<name>[A-Za-z_]\w*)\s*(?:=\s*(?P<value>.+))?",
            item,
        )
        if m is None:
            raise LitmusError(f"{where}: initial block: cannot read `{item}`")
        value: Value = 0
        if m.group("value") is not None:
            value = _init_value(m.group("value").strip(), where, item)
        if m.group("proc") is not None:
            regs[(int(m.group("proc")), m.group("name"))] = value
        else:
            init[m.group("name")] = value
            types[m.group("name")] = m.group("type") or "int"
    return init, regs, types


def _init_value(text: str, where: str, item: str) -> Value:
    m = re.fullmatch(r"ATOMIC_INIT\s*\(\s*(-?\d+)\s*\)", text)
    if m:
        return int(m.group(1))
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    m = re.fullmatch(r"&?\s*([A-Za-z_]\w*)", text)
    if m:
        return m.group(1)
    raise LitmusError(f"{where}: initial block: cannot read the value of `{item}`")


# -- processes ---------------------------------------------------------------------------

_ORDERING_SUFFIX = re.compile(r"_(relaxed|acquire|release)$")
_NOOPS = {"rcu_read_lock", "rcu_read_unlock"}
_FENCES = {
    "smp_wmb": "wmb",
    "smp_rmb": "rmb",
    "smp_mb": "mb",
    "smp_mb__after_atomic": "mb",
    "smp_mb__before_atomic": "mb",
}
_LOADS = {
    "READ_ONCE": "load",
    "atomic_read": "load",
    "rcu_dereference": "load",
    "smp_load_acquire": "acquire",
}
_STORES = {
    "WRITE_ONCE": "store",
    "atomic_set": "store",
    "smp_store_release": "release",
    "rcu_assign_pointer": "release",
}
# RMWs: (number of value operands, operand order) -> how the new value is computed.
_ARITH = {"add": "+", "sub": "-", "and": "&", "or": "|", "xor": "^"}


def _rmw_spec(fn: str) -> tuple[str, str, bool] | None:
    """``(kind, operator, returns_new)`` of an atomic RMW function name, or None.

    kind is ``xchg``, ``cmpxchg``, ``add_unless``, ``arith`` (value then pointer, as
    ``atomic_add(i, v)``) or ``incdec``.
    """
    if fn in ("xchg", "atomic_xchg", "atomic_long_xchg"):
        return "xchg", "", False
    if fn in ("cmpxchg", "atomic_cmpxchg", "atomic_long_cmpxchg"):
        return "cmpxchg", "", False
    if fn in ("atomic_add_unless", "atomic_long_add_unless"):
        return "add_unless", "+", False
    m = re.fullmatch(r"atomic(?:_long)?_(inc|dec)(_return)?", fn)
    if m:
        return "incdec", "+" if m.group(1) == "inc" else "-", bool(m.group(2))
    m = re.fullmatch(r"atomic(?:_long)?_fetch_(inc|dec)", fn)
    if m:
        return "incdec", "+" if m.group(1) == "inc" else "-", False
    m = re.fullmatch(r"atomic(?:_long)?_(add|sub|and|or|xor)(_return)?", fn)
    if m:
        return "arith", _ARITH[m.group(1)], bool(m.group(2))
    m = re.fullmatch(r"atomic(?:_long)?_fetch_(add|sub|and|or|xor)", fn)
    if m:
        return "arith", _ARITH[m.group(1)], False
    return None


def _parse_procs(test: LitmusTest, text: str, where: str) -> None:
    pos = 0
    header = re.compile(r"\s*P(\d+)\s*\(([^)]*)\)\s*\{")
    text = text.strip()
    while pos < len(text):
        m = header.match(text, pos)
        if m is None:
            raise LitmusError(
                f"{where}: expected a process `P{len(test.procs)}(...) {{` at "
                f"{text[pos : pos + 30].strip()!r}"
            )
        n = int(m.group(1))
        if n != len(test.procs):
            raise LitmusError(f"{where}: process P{n} out of order")
        depth, i = 1, m.end()
        while i < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        if depth:
            raise LitmusError(f"{where}: P{n} has no closing `}}`")
        params = _params(m.group(2), where, n)
        for p in params:
            if p not in test.init:
                test.init[p] = 0
                test.types.setdefault(p, "int")
        body = text[m.end() : i - 1]
        parser = _Proc(
            test, n, params, _tokens(body, f"{where}: P{n}"), f"{where}: P{n}"
        )
        test.procs.append(parser.parse())
        test.regs.append(parser.regs)
        pos = i
        while pos < len(text) and text[pos].isspace():
            pos += 1
    if not test.procs:
        raise LitmusError(f"{where}: no process P0")


def _params(text: str, where: str, n: int) -> list[str]:
    out = []
    for raw in text.split(","):
        item = raw.strip()
        if not item:
            continue
        m = re.fullmatch(
            rf"(?:volatile\s+)?(?:{_TYPE_RE})\s*(\*+)\s*([A-Za-z_]\w*)", item
        )
        if m is None and re.match(r"(?:spinlock_t|raw_spinlock_t|struct)\b", item):
            raise LitmusError(
                f"{where}: P{n}: the parameter `{item}` is outside the subset klpcheck "
                "reads (locks and structures are not modelled)"
            )
        if m is None:
            raise LitmusError(f"{where}: P{n}: cannot read the parameter `{item}`")
        out.append(m.group(2))
    return out


class _Proc:
    """Recursive-descent reader of one process body into a flat list of :class:`Op`."""

    def __init__(
        self, test: LitmusTest, n: int, params: list[str], toks: list[str], where: str
    ) -> None:
        self.test, self.n, self.params, self.toks, self.where = (
            test,
            n,
            params,
            toks,
            where,
        )
        self.i = 0
        self.ops: list[Op] = []
        self.regs: list[str] = [r for (p, r) in test.reg_init if p == n]

    # token helpers
    def peek(self, k: int = 0) -> str | None:
        j = self.i + k
        return self.toks[j] if j < len(self.toks) else None

    def take(self, want: str | None = None) -> str:
        tok = self.peek()
        if tok is None or (want is not None and tok != want):
            got = "the end" if tok is None else f"`{tok}`"
            raise LitmusError(f"{self.where}: expected `{want}`, found {got}")
        self.i += 1
        return tok

    def parse(self) -> list[Op]:
        while self.peek() is not None:
            self.statement()
        return self.ops

    def text(self, start: int) -> str:
        words = self.toks[start : self.i]
        out = ""
        for w in words:
            ops = ("=", "==", "!=", "+", "-", "&&", "||")
            word_after_word = (w[0].isalnum() or w[0] == "_") and (
                out[-1:].isalnum() or out[-1:] in ("_", ")")
            )
            after_if = w == "(" and out.endswith("if")
            if out and (
                word_after_word or after_if or w in ops or out.endswith((*ops, ","))
            ):
                out += " "
            out += w
        return out.removesuffix(";").strip()

    def statement(self) -> None:
        tok = self.peek()
        if tok == ";":
            self.take()
            return
        if tok == "{":
            self.take()
            while self.peek() != "}":
                if self.peek() is None:
                    raise LitmusError(f"{self.where}: a block has no closing `}}`")
                self.statement()
            self.take("}")
            return
        if tok == "if":
            self.branch()
            return
        if tok in _TYPES or tok == "volatile":
            self.declaration()
            return
        start = self.i
        if tok == "(" and self.peek(1) == "void" and self.peek(2) == ")":
            self.i += 3
        name = self.take()
        if name == "*":
            raise LitmusError(
                f"{self.where}: a plain access (`*{self.peek()} ...`) is outside the "
                "subset klpcheck reads; use READ_ONCE() and WRITE_ONCE()"
            )
        if not re.fullmatch(r"[A-Za-z_]\w*", name):
            raise LitmusError(
                f"{self.where}: cannot read a statement starting `{name}`"
            )
        if self.peek() == "=":
            self.take("=")
            self.assignment(name, start)
            return
        if self.peek() != "(":
            raise LitmusError(f"{self.where}: cannot read the statement `{name} ...`")
        self.call(name, None, start)

    def declaration(self) -> None:
        while self.peek() in _TYPES or self.peek() in ("volatile", "*"):
            self.take()
        name = self.take()
        self.reg(name)
        if self.peek() == "=":
            start = self.i - 1
            self.take("=")
            self.assignment(name, start)
            return
        self.take(";")

    def reg(self, name: str) -> str:
        if name not in self.regs:
            self.regs.append(name)
        return name

    def branch(self) -> None:
        start = self.i
        self.take("if")
        self.take("(")
        cond = self.expr()
        self.take(")")
        op_index = len(self.ops)
        self.ops.append(Op("branch", self.text(start), args=(cond,)))
        self.statement()
        if self.peek() == "else":
            self.take("else")
            jump_index = len(self.ops)
            self.ops.append(Op("jump", "else"))
            self._patch(op_index, len(self.ops))
            self.statement()
            self._patch(jump_index, len(self.ops))
        else:
            self._patch(op_index, len(self.ops))

    def _patch(self, index: int, target: int) -> None:
        op = self.ops[index]
        self.ops[index] = Op(op.kind, op.text, op.reg, op.addr, op.args, target)

    def assignment(self, reg: str, start: int) -> None:
        self.reg(reg)
        tok = self.peek()
        if (
            tok is not None
            and self.peek(1) == "("
            and re.fullmatch(r"[A-Za-z_]\w*", tok)
        ):
            self.take()
            self.call(tok, reg, start)
            return
        value = self.expr()
        self.take(";")
        self.ops.append(Op("assign", self.text(start), reg=reg, args=(value,)))

    def call(self, fn: str, reg: str | None, start: int) -> None:
        if _ORDERING_SUFFIX.search(fn) and (
            _rmw_spec(_ORDERING_SUFFIX.sub("", fn)) or fn.startswith("atomic")
        ):
            raise LitmusError(
                f"{self.where}: `{fn}` is outside the subset klpcheck reads (atomics with "
                "a _relaxed, _acquire or _release ordering are not modelled)"
            )
        self.take("(")
        args: list[list[str]] = [[]]
        depth = 0
        while True:
            tok = self.take() if self.peek() is not None else None
            if tok is None:
                raise LitmusError(f"{self.where}: `{fn}(` has no closing `)`")
            if tok == ")" and depth == 0:
                break
            if tok == "," and depth == 0:
                args.append([])
                continue
            depth += {"(": 1, ")": -1}.get(tok, 0)
            args[-1].append(tok)
        if args == [[]]:
            args = []
        self.take(";")
        text = self.text(start)
        kind = self.classify(fn, reg, args)
        self.ops.append(self.make(kind, fn, reg, args, text))

    def classify(self, fn: str, reg: str | None, args: list[list[str]]) -> str:
        if fn in _NOOPS or fn in _FENCES:
            if reg is not None or args:
                raise LitmusError(f"{self.where}: cannot read `{fn}` with operands")
            return "noop" if fn in _NOOPS else _FENCES[fn]
        if fn in _LOADS:
            if reg is None:
                raise LitmusError(f"{self.where}: `{fn}` whose value is not assigned")
            return _LOADS[fn]
        if fn in _STORES:
            if reg is not None:
                raise LitmusError(f"{self.where}: `{fn}` returns no value")
            return _STORES[fn]
        if _rmw_spec(fn) is not None:
            return "rmw"
        raise LitmusError(
            f"{self.where}: `{fn}` is outside the subset klpcheck reads (it models "
            "READ_ONCE, WRITE_ONCE, acquire, release, RCU pointers, smp_wmb/rmb/mb and "
            "fully ordered atomics; see klpcheck/model/litmus.py)"
        )

    def make(
        self, kind: str, fn: str, reg: str | None, args: list[list[str]], text: str
    ) -> Op:
        def nargs(k: int) -> None:
            if len(args) != k:
                raise LitmusError(
                    f"{self.where}: `{fn}` takes {k} operand(s): `{text}`"
                )

        if kind in ("noop", "wmb", "rmb", "mb"):
            return Op(kind, text)
        if kind in ("load", "acquire"):
            nargs(1)
            return Op(kind, text, reg=reg, addr=self.address(args[0], fn))
        if kind in ("store", "release"):
            nargs(2)
            return Op(
                kind,
                text,
                addr=self.address(args[0], fn),
                args=(self.sub_expr(args[1]),),
            )
        spec = _rmw_spec(fn)
        assert spec is not None
        what, op, returns_new = spec
        if what == "xchg":
            nargs(2)
            return Op(
                "rmw",
                text,
                reg=reg,
                addr=self.address(args[0], fn),
                args=("xchg", self.sub_expr(args[1])),
            )
        if what == "cmpxchg":
            nargs(3)
            return Op(
                "cmpxchg",
                text,
                reg=reg,
                addr=self.address(args[0], fn),
                args=(self.sub_expr(args[1]), self.sub_expr(args[2])),
            )
        if what == "add_unless":
            nargs(3)
            return Op(
                "add_unless",
                text,
                reg=reg,
                addr=self.address(args[0], fn),
                args=(self.sub_expr(args[1]), self.sub_expr(args[2])),
            )
        if what == "incdec":
            nargs(1)
            return Op(
                "rmw",
                text,
                reg=reg,
                addr=self.address(args[0], fn),
                args=(op, ("int", 1), returns_new),
            )
        nargs(2)
        return Op(
            "rmw",
            text,
            reg=reg,
            addr=self.address(args[1], fn),
            args=(op, self.sub_expr(args[0]), returns_new),
        )

    def address(self, toks: list[str], fn: str) -> Any:
        """``*x``/``x`` for a parameter x, ``*r0``/``r0`` for a register holding a pointer."""
        body = toks[1:] if toks[:1] == ["*"] else toks
        if len(body) == 3 and body[0] == "(" and body[2] == ")":
            body = body[1:2]
        if len(body) != 1 or not re.fullmatch(r"[A-Za-z_]\w*", body[0]):
            raise LitmusError(
                f"{self.where}: the address `{' '.join(toks)}` of `{fn}` is outside the "
                "subset (a parameter or a register)"
            )
        name = body[0]
        if name in self.regs:
            return ("reg", name)
        if name in self.params:
            return ("loc", name)
        raise LitmusError(
            f"{self.where}: `{name}` is neither a parameter nor a register"
        )

    def sub_expr(self, toks: list[str]) -> Any:
        saved = self.toks, self.i
        self.toks, self.i = toks, 0
        try:
            value = self.expr()
            if self.peek() is not None:
                raise LitmusError(f"{self.where}: cannot read `{' '.join(toks)}`")
        finally:
            self.toks, self.i = saved
        return value

    # expressions: || && == != + - & | and unary ! -
    _LEVELS = (
        ("||",),
        ("&&",),
        ("|",),
        ("^",),
        ("&",),
        ("==", "!="),
        ("<", ">", "<=", ">="),
        ("+", "-"),
    )

    def expr(self, level: int = 0) -> Any:
        if level == len(self._LEVELS):
            return self.unary()
        left = self.expr(level + 1)
        while self.peek() in self._LEVELS[level]:
            op = self.take()
            left = ("op", op, left, self.expr(level + 1))
        return left

    def unary(self) -> Any:
        tok = self.take()
        if tok == "!":
            return ("not", self.unary())
        if tok == "-":
            return ("op", "-", ("int", 0), self.unary())
        if tok == "(":
            value = self.expr()
            self.take(")")
            return value
        if tok == "&":
            name = self.take()
            if name in self.params:
                return ("loc", name)
            raise LitmusError(f"{self.where}: cannot take the address of `{name}`")
        if tok.isdigit():
            return ("int", int(tok))
        if tok in self.regs:
            return ("reg", tok)
        if tok in self.params:
            return ("loc", tok)
        raise LitmusError(f"{self.where}: cannot read the expression at `{tok}`")


class _Cond:
    """Reader of the ``exists`` condition: ``~`` binds tighter than ``/\\``, then ``\\/``."""

    def __init__(self, toks: list[str], where: str, test: LitmusTest) -> None:
        self.toks, self.where, self.test, self.i = toks, where, test, 0

    def peek(self) -> str | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self) -> str:
        tok = self.peek()
        if tok is None:
            raise LitmusError(f"{self.where}: the exists clause ends too early")
        self.i += 1
        return tok

    def parse(self) -> Any:
        cond = self.disj()
        if self.peek() is not None:
            raise LitmusError(
                f"{self.where}: cannot read the exists clause at `{self.peek()}`"
            )
        return cond

    def disj(self) -> Any:
        left = self.conj()
        while self.peek() == "\\/":
            self.take()
            left = ("or", left, self.conj())
        return left

    def conj(self) -> Any:
        left = self.atom()
        while self.peek() == "/\\":
            self.take()
            left = ("and", left, self.atom())
        return left

    def atom(self) -> Any:
        tok = self.take()
        if tok == "~":
            return ("not", self.atom())
        if tok == "(":
            inner = self.disj()
            if self.take() != ")":
                raise LitmusError(f"{self.where}: unbalanced parentheses in exists")
            return inner
        if tok in ("true", "false"):
            return ("const", tok == "true")
        if tok.isdigit() and self.peek() == ":":
            self.take()
            reg = self.take()
            proc = int(tok)
            if proc >= len(self.test.procs) or reg not in self.test.regs[proc]:
                raise LitmusError(
                    f"{self.where}: the exists clause names {proc}:{reg}, which P{proc} "
                    "does not have"
                )
            target: Any = ("reg", proc, reg)
        elif re.fullmatch(r"[A-Za-z_]\w*", tok):
            if tok not in self.test.init:
                raise LitmusError(
                    f"{self.where}: the exists clause names `{tok}`, not a location"
                )
            target = ("mem", tok)
        else:
            raise LitmusError(f"{self.where}: cannot read the exists clause at `{tok}`")
        op = self.take()
        if op not in ("=", "=="):
            raise LitmusError(f"{self.where}: exists compares with `=`, not `{op}`")
        value = self.take()
        negative = value == "-"
        if negative:
            value = self.take()
        want: Value
        if value.isdigit():
            want = -int(value) if negative else int(value)
        elif value in self.test.init:
            want = value
        else:
            raise LitmusError(
                f"{self.where}: cannot read the value `{value}` in exists"
            )
        return ("eq", target, want)


# -- the model ---------------------------------------------------------------------------


class Registers(tuple):  # type: ignore[type-arg]
    """One process's registers as ``(name, value)`` pairs, shown ``r0=1 r1=0``."""

    __slots__ = ()
    _fields = ("pairs",)

    def __new__(cls, pairs: tuple[tuple[str, Value], ...]) -> Registers:
        return tuple.__new__(cls, pairs)

    def get(self, name: str) -> Value:
        for n, v in self:
            if n == name:
                return v  # type: ignore[no-any-return]
        raise KeyError(name)

    def put(self, name: str, value: Value) -> Registers:
        return Registers(tuple((n, value if n == name else v) for n, v in self))

    def __repr__(self) -> str:
        return " ".join(f"{n}={v}" for n, v in self) or "(none)"

    def __reduce__(self) -> tuple[Any, ...]:
        return (Registers, (tuple(self),))


class LitmusState(Record):
    """Program counters, registers, and the weak memory of a litmus test."""

    pc: tuple[int, ...]
    regs: tuple[Registers, ...]
    mem: tuple[Cell, ...]
    sb: tuple[Buffer, ...]


def _eval(e: Any, regs: Registers) -> Value:
    kind = e[0]
    if kind == "int":
        return e[1]  # type: ignore[no-any-return]
    if kind == "loc":
        return e[1]  # type: ignore[no-any-return]
    if kind == "reg":
        return regs.get(e[1])
    if kind == "not":
        return int(not _eval(e[1], regs))
    a, b = _eval(e[2], regs), _eval(e[3], regs)
    op = e[1]
    if op in ("==", "!="):
        return int((a == b) == (op == "=="))
    if op == "&&":
        return int(bool(a) and bool(b))
    if op == "||":
        return int(bool(a) or bool(b))
    if not isinstance(a, int) or not isinstance(b, int):
        raise ModelError(f"arithmetic `{op}` on a pointer ({a!r}, {b!r})")
    funcs: dict[str, Callable[[int, int], int]] = {
        "+": lambda x, y: x + y,
        "-": lambda x, y: x - y,
        "&": lambda x, y: x & y,
        "|": lambda x, y: x | y,
        "^": lambda x, y: x ^ y,
        "<": lambda x, y: int(x < y),
        ">": lambda x, y: int(x > y),
        "<=": lambda x, y: int(x <= y),
        ">=": lambda x, y: int(x >= y),
    }
    return funcs[op](a, b)


def _apply(op: str, old: Value, operand: Value) -> Value:
    return _eval(("op", op, ("int", old), ("int", operand)), Registers(()))


def build_model(test: LitmusTest) -> Model[LitmusState]:
    """The model of a litmus test: one CPU per process, one step per statement.

    Its one invariant, ``exists``, says the final outcome of the ``exists`` clause is
    never reached (a final state: every process done and every store buffer empty).
    """
    wm = WeakMemory(len(test.procs), test.init)
    for name, value in test.init.items():
        if isinstance(value, str) and value not in test.init:
            raise LitmusError(
                f"{test.name}: `{name}` points to `{value}`, not a location"
            )
    regs = tuple(
        Registers(tuple((r, test.reg_init.get((p, r), 0)) for r in names))
        for p, names in enumerate(test.regs)
    )
    init = LitmusState(
        pc=tuple(_skip_noops(ops, 0) for ops in test.procs),
        regs=regs,
        mem=wm.cells,
        sb=wm.buffers,
    )
    model: Model[LitmusState] = Model(
        test.name, init=init, doc=f"Litmus test {test.name}."
    )
    ends = tuple(len(ops) for ops in test.procs)
    for p, ops in enumerate(test.procs):
        seen: dict[str, int] = {}
        for i, op in enumerate(ops):
            if op.kind == "noop":
                continue
            label = f"P{p}: {op.text}"
            seen[label] = seen.get(label, 0) + 1
            if seen[label] > 1:
                label += f" #{seen[label]}"
            _add_op(model, wm, p, i, op, label, ops)
    wm.register(model)
    cond = test.exists

    def holds(s: LitmusState, e: Any) -> bool:
        kind = e[0]
        if kind == "const":
            return bool(e[1])
        if kind == "not":
            return not holds(s, e[1])
        if kind == "and":
            return holds(s, e[1]) and holds(s, e[2])
        if kind == "or":
            return holds(s, e[1]) or holds(s, e[2])
        target, want = e[1], e[2]
        if target[0] == "reg":
            got = s.regs[target[1]].get(target[2])
        else:
            got = wm.value(s, target[1])
        return bool(got == want and type(got) is type(want))

    def final(s: LitmusState) -> bool:
        return s.pc == ends and wm.quiet(s)

    def exists(s: LitmusState) -> bool:
        return not (final(s) and holds(s, cond))

    exists.__doc__ = (
        f"The outcome exists {test.exists_text} is never reached in a final state "
        "(every process done, every store buffer empty)."
    )
    model.invariant(reads={"pc", "regs", "mem", "sb"})(exists)

    def done(s: LitmusState) -> bool:
        """Every process has finished and every store buffer is empty."""
        return final(s)

    model.terminal(done)
    if test.path is not None:
        model.source = str(test.path.resolve())
    return model


def _skip_noops(ops: list[Op], i: int) -> int:
    while i < len(ops) and ops[i].kind == "noop":
        i += 1
    return i


def _add_op(
    model: Model[LitmusState],
    wm: WeakMemory,
    p: int,
    i: int,
    op: Op,
    label: str,
    ops: list[Op],
) -> None:
    """Register the step (or, for cmpxchg and add_unless, the two steps) of one statement."""
    nxt = _skip_noops(ops, i + 1)
    here = i  # pc counts statements; a no-op statement is never where a process is

    def at(s: LitmusState) -> bool:
        return s.pc[p] == here

    def step_to(s: LitmusState, pc: int, **updates: Any) -> LitmusState:
        return s.replace(pc=(*s.pc[:p], pc, *s.pc[p + 1 :]), **updates)

    def addr(s: LitmusState) -> str:
        a = op.addr
        if a[0] == "loc":
            return str(a[1])
        value = s.regs[p].get(a[1])
        if not isinstance(value, str):
            raise ModelError(f"{label}: register {a[1]} holds {value!r}, not a pointer")
        return value

    dep = op.addr is not None and op.addr[0] == "reg"
    static = None if op.addr is None or dep else wm.loc(op.addr[1])
    own = {f"pc[{p}]", f"regs[{p}]", f"sb[{p}]"}
    cell = {f"mem[{int(static)}]"} if static is not None else {"mem"}
    reads: set[str]
    writes: set[str]
    effect: Callable[[LitmusState], LitmusState]
    guard: Callable[[LitmusState], bool] = at

    def put(s: LitmusState, value: Value) -> dict[str, Any]:
        assert op.reg is not None
        return {"regs": (*s.regs[:p], s.regs[p].put(op.reg, value), *s.regs[p + 1 :])}

    kind = op.kind
    if kind == "assign":

        def effect(s: LitmusState) -> LitmusState:
            return step_to(s, nxt, **put(s, _eval(op.args[0], s.regs[p])))

        reads, writes = {f"pc[{p}]", f"regs[{p}]"}, {f"pc[{p}]", f"regs[{p}]"}
    elif kind == "branch":
        target = _skip_noops(ops, op.target)

        def effect(s: LitmusState) -> LitmusState:
            return step_to(s, nxt if _eval(op.args[0], s.regs[p]) else target)

        reads, writes = {f"pc[{p}]", f"regs[{p}]"}, {f"pc[{p}]"}
    elif kind == "jump":
        target = _skip_noops(ops, op.target)

        def effect(s: LitmusState) -> LitmusState:
            return step_to(s, target)

        reads, writes = {f"pc[{p}]"}, {f"pc[{p}]"}
    elif kind == "load" and not dep:

        def effect(s: LitmusState) -> LitmusState:
            return step_to(s, nxt, **put(s, wm.load(s, p, addr(s))))

        reads, writes = own | cell, {f"pc[{p}]", f"regs[{p}]"}
    elif kind == "load":

        def effect(s: LitmusState) -> LitmusState:
            value, updates = wm.load_dep(s, p, addr(s))
            return step_to(s, nxt, **put(s, value), **updates)

        reads, writes = own | {"mem"}, {f"pc[{p}]", f"regs[{p}]", "mem"}
    elif kind == "acquire":

        def effect(s: LitmusState) -> LitmusState:
            value, updates = wm.load_acquire(s, p, addr(s))
            return step_to(s, nxt, **put(s, value), **updates)

        reads, writes = own | {"mem"}, {f"pc[{p}]", f"regs[{p}]", "mem"}
    elif kind in ("store", "release"):
        write = wm.store if kind == "store" else wm.store_release

        def effect(s: LitmusState) -> LitmusState:
            value = _eval(op.args[0], s.regs[p])
            return step_to(s, nxt, **write(s, p, addr(s), value))

        reads, writes = set(own), {f"pc[{p}]", f"sb[{p}]"}
    elif kind == "wmb":

        def effect(s: LitmusState) -> LitmusState:
            return step_to(s, nxt, **wm.wmb(s, p))

        reads, writes = {f"pc[{p}]", f"sb[{p}]"}, {f"pc[{p}]", f"sb[{p}]"}
    elif kind == "rmb":

        def effect(s: LitmusState) -> LitmusState:
            return step_to(s, nxt, **wm.rmb(s, p))

        reads, writes = {f"pc[{p}]", "mem"}, {f"pc[{p}]", "mem"}
    elif kind == "mb":

        def guard(s: LitmusState) -> bool:
            return s.pc[p] == here and wm.empty(s, p)

        def effect(s: LitmusState) -> LitmusState:
            return step_to(s, nxt, **wm.mb(s, p))

        reads, writes = {f"pc[{p}]", f"sb[{p}]", "mem"}, {f"pc[{p}]", "mem"}
    elif kind == "rmw":
        how = op.args[0]

        def guard(s: LitmusState) -> bool:
            return s.pc[p] == here and wm.empty(s, p)

        def effect(s: LitmusState) -> LitmusState:
            regs = s.regs[p]
            if how == "xchg":
                operand = _eval(op.args[1], regs)
                old, updates = wm.rmw(s, p, addr(s), lambda _old: operand)
                result = old
            else:
                operand = _eval(op.args[1], regs)
                old, updates = wm.rmw(s, p, addr(s), lambda v: _apply(how, v, operand))
                result = _apply(how, old, operand) if op.args[2] else old
            extra = put(s, result) if op.reg is not None else {}
            return step_to(s, nxt, **extra, **updates)

        reads, writes = own | {"mem"}, {f"pc[{p}]", f"regs[{p}]", "mem"}
    elif kind in ("cmpxchg", "add_unless"):
        _add_conditional(model, wm, p, here, nxt, op, label, addr, put, step_to)
        return
    else:  # pragma: no cover - the reader produces no other kind
        raise ModelError(f"{label}: unknown statement kind {kind}")
    effect.__name__ = label
    effect.__doc__ = f"Process P{p} (on CPU {p}) runs `{op.text}`."
    model.step(when=guard, reads=reads, writes=writes)(effect)


def _add_conditional(
    model: Model[LitmusState],
    wm: WeakMemory,
    p: int,
    here: int,
    nxt: int,
    op: Op,
    label: str,
    addr: Callable[[LitmusState], str],
    put: Callable[[LitmusState, Value], dict[str, Any]],
    step_to: Callable[..., LitmusState],
) -> None:
    """``cmpxchg``/``atomic_add_unless``: a fully ordered RMW when it succeeds, else a load.

    A failing one is a plain read in LKMM, so it may read the CPU's own buffer or a
    stale view; a succeeding one reads memory with an empty buffer.
    """
    cmp = op.kind == "cmpxchg"

    def succeeds(value: Value, regs: Registers) -> bool:
        a = _eval(op.args[0], regs)
        if cmp:
            return value == a
        return value != _eval(op.args[1], regs)

    def when_ok(s: LitmusState) -> bool:
        return (
            s.pc[p] == here
            and wm.empty(s, p)
            and succeeds(wm.value(s, addr(s)), s.regs[p])
        )

    def when_fail(s: LitmusState) -> bool:
        return s.pc[p] == here and not succeeds(wm.load(s, p, addr(s)), s.regs[p])

    def ok(s: LitmusState) -> LitmusState:
        regs = s.regs[p]
        if cmp:
            new = _eval(op.args[1], regs)
            old, updates = wm.rmw(s, p, addr(s), lambda _old: new)
            result: Value = old
        else:
            a = _eval(op.args[0], regs)
            old, updates = wm.rmw(s, p, addr(s), lambda v: _apply("+", v, a))
            result = 1
        extra = put(s, result) if op.reg is not None else {}
        return step_to(s, nxt, **extra, **updates)

    def fail(s: LitmusState) -> LitmusState:
        value = wm.load(s, p, addr(s))
        result = value if cmp else 0
        extra = put(s, result) if op.reg is not None else {}
        return step_to(s, nxt, **extra)

    ok.__name__ = f"{label} [succeeds]"
    ok.__doc__ = f"Process P{p} runs `{op.text}`, which succeeds: a fully ordered RMW."
    fail.__name__ = f"{label} [fails]"
    fail.__doc__ = f"Process P{p} runs `{op.text}`, which fails: a plain load."
    own = {f"pc[{p}]", f"regs[{p}]", f"sb[{p}]"}
    model.step(
        when=when_ok, reads=own | {"mem"}, writes={f"pc[{p}]", f"regs[{p}]", "mem"}
    )(ok)
    model.step(when=when_fail, reads=own | {"mem"}, writes={f"pc[{p}]", f"regs[{p}]"})(
        fail
    )


# -- files -------------------------------------------------------------------------------


def load_litmus(path: str | Path) -> LitmusTest:
    """Read and parse a litmus file; :class:`LitmusError` names what is wrong."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise LitmusError(f"{p}: no such litmus file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise LitmusError(f"{p}: cannot read it ({e})") from None
    test = parse_litmus(text, str(p))
    test.path = p
    return test


def litmus_model(path: str | Path) -> Model[LitmusState]:
    """The model of a litmus file (what ``klpcheck replay`` loads for a saved trace)."""
    return build_model(load_litmus(path))
