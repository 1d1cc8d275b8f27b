"""Load a model from a Python file: ``FILE``, ``FILE:attr``, with ``-D name=value`` params."""

from __future__ import annotations

import enum
import hashlib
import importlib.util
import inspect
import sys
import traceback
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

from klpcheck.base.errors import ModelError, UsageError
from klpcheck.model.definition import Model

__all__ = ["load_model", "parse_param", "split_spec"]

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def split_spec(spec: str | Path) -> tuple[Path, str | None]:
    """Split ``FILE[:attr]`` into the path and the attribute name."""
    text = str(spec)
    head, sep, tail = text.rpartition(":")
    if sep and tail.isidentifier() and head:
        return Path(head), tail
    return Path(text), None


def parse_param(name: str, raw: object, default: object) -> object:
    """Parse ``raw`` by the type of ``default``; raise UsageError on a bad value.

    Examples
    --------
    >>> parse_param("tasks", "3", 2), parse_param("sync", "FALSE", True)
    (3, False)
    """
    kind = type(default)
    if not isinstance(raw, str) or kind is str or default is None:
        if isinstance(raw, str) or default is None or isinstance(raw, kind):
            return raw
        raise UsageError(
            f"parameter {name} takes {_a(kind.__name__)}, not {raw!r} "
            f"(e.g. {name}={_show(default)})"
        )
    try:
        if kind is bool:
            low = raw.strip().lower()
            if low in _TRUE | _FALSE:
                return low in _TRUE
            raise ValueError
        if isinstance(default, enum.Enum):
            members = type(default).__members__
            for key, member in members.items():
                if raw.strip().lower() in (key.lower(), str(member.value).lower()):
                    return member
            choices = ", ".join(k.lower() for k in members)
            raise UsageError(f"parameter {name} takes one of {choices}, not {raw!r}")
        if kind in (int, float):
            return kind(raw.strip().replace("_", ""))
    except ValueError:
        shown = "true or false" if kind is bool else _a(kind.__name__)
        raise UsageError(
            f"parameter {name} takes {shown}, not {raw!r} (e.g. -D {name}={_show(default)})"
        ) from None
    raise UsageError(
        f"parameter {name} has a default of type {kind.__name__}, which -D cannot parse"
    )


def _import(path: Path) -> ModuleType:
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:10]
    name = f"klpcheck_model_{path.stem}_{digest}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise UsageError(
            f"{path}: cannot be loaded as Python; a model file ends in .py"
        )
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    sys.path.insert(0, str(path.parent))
    try:
        spec.loader.exec_module(module)
    except SyntaxError as e:
        raise ModelError(
            f"{path}:{e.lineno}: syntax error: {e.msg}; fix the model file"
        ) from None
    except Exception as e:
        raise ModelError(
            f"{_where(path, e)}: importing the model raised {type(e).__name__}: {e}"
        ) from None
    finally:
        sys.path.remove(str(path.parent))
    return module


def _where(path: Path, exc: BaseException) -> str:
    """``file:line`` of the deepest frame of ``exc`` inside the model file."""
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if Path(frame.filename).resolve() == path:
            line = frame.lineno
    return f"{path}:{line}" if line is not None else str(path)


def load_model(
    spec: str | Path, params: Mapping[str, object] | None = None
) -> Model[Any]:
    """Load the model of a file, passing ``params`` to its ``build()``.

    Parameters
    ----------
    spec
        ``path/to/model.py`` or ``path/to/model.py:attr``. Without ``attr`` the file's
        ``build`` (a function returning a Model) is used if it has one, else its ``model``.
    params
        Parameter values; strings are parsed by the type of the parameter's default.

    Raises
    ------
    UsageError
        The file is missing or not Python, or a parameter is unknown or badly typed.
    ModelError
        Importing or building the model raised, or the attribute is not a Model.
    """
    path, attr = split_spec(spec)
    params = dict(params or {})
    if path.is_dir():
        raise UsageError(
            f"model {path} is a directory; give the path of a .py model file in it"
        )
    if not path.is_file():
        raise UsageError(
            f"model file {path} does not exist; give the path of a .py model file"
        )
    if path.suffix == ".litmus" and attr is None:
        from klpcheck.model.litmus import litmus_model

        if params:
            raise UsageError(f"{path} is a litmus test, which takes no parameters")
        return litmus_model(path)
    if path.suffix != ".py":
        raise UsageError(f"{path} is not a Python file; a model file ends in .py")
    path = path.resolve()
    module = _import(path)
    if attr is None:
        attr = "build" if hasattr(module, "build") else "model"
    if not hasattr(module, attr):
        raise ModelError(
            f"{path} defines no `{attr}`; a model file exposes `model = Model(...)` or "
            "`def build(**params) -> Model`"
        )
    target = getattr(module, attr)
    if isinstance(target, Model):
        if params:
            raise UsageError(
                f"{path}:{attr} is a Model, not a build() function, so it takes no "
                f"parameters; drop -D {', '.join(params)}"
            )
        model, resolved = target, dict[str, Any]()
    elif callable(target):
        model, resolved = _build(path, attr, target, params)
    else:
        raise ModelError(
            f"{path}:{attr} is a {type(target).__name__}, not a Model or a build() function"
        )
    model.source = str(path)
    model.params = resolved
    return model


def _build(
    path: Path, attr: str, build: Any, params: dict[str, object]
) -> tuple[Model[Any], dict[str, Any]]:
    defaults = {
        n: p.default
        for n, p in inspect.signature(build).parameters.items()
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    }
    missing = [n for n, d in defaults.items() if d is inspect.Parameter.empty]
    if missing:
        raise ModelError(
            f"{path}:{attr}() must give every parameter a default; {', '.join(missing)} has none"
        )
    unknown = sorted(set(params) - set(defaults))
    if unknown:
        accepted = ", ".join(f"{n}={_show(d)}" for n, d in defaults.items()) or "none"
        raise UsageError(
            f"unknown parameter {', '.join(unknown)} for {path.name}; accepted (with defaults): {accepted}"
        )
    resolved = {
        n: parse_param(n, params[n], d) if n in params else d
        for n, d in defaults.items()
    }
    try:
        model = build(**resolved)
    except (ModelError, UsageError) as e:
        raise type(e)(f"{_where(path, e)}: {e}") from None
    except Exception as e:
        raise ModelError(
            f"{_where(path, e)}: {attr}() raised {type(e).__name__}: {e}"
        ) from None
    if not isinstance(model, Model):
        raise ModelError(
            f"{path}:{attr}() returned {type(model).__name__}, not a klpcheck Model"
        )
    return model, resolved


def _a(noun: str) -> str:
    """``an int``, ``a float``: the noun with its article.

    >>> _a("int"), _a("float")
    ('an int', 'a float')
    """
    return ("an " if noun[:1] in "aeiou" else "a ") + noun


def _show(value: object) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, enum.Enum):
        return value.name.lower()
    return str(value)
