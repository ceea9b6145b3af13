"""Strategy parameters: typed dataclasses, set from ``key=value`` strings and described for help."""

from __future__ import annotations

import dataclasses
import numbers
import typing
from typing import Any, Literal, Mapping

from ponder.core.errors import InvalidInputError


@dataclasses.dataclass(frozen=True)
class NoParams:
    """A strategy without parameters of its own."""


def param(default: Any, help: str, *, local: bool = False) -> Any:
    """A dataclass field with a default and a help text for ``ponder strategies``.

    ``local`` marks a parameter that names a file, a folder or a URL on the machine running
    ponder: ``ponder serve`` refuses it from clients (see :func:`local_parameters`).
    """
    return dataclasses.field(default=default, metadata={"help": help, "local": local})


def local_parameters(cls: type) -> set[str]:
    """Names of the parameters of ``cls`` that reach the local file system or network."""
    return {f.name for f in dataclasses.fields(cls) if f.metadata.get("local")}


def _check_type(name: str, kind: Any, raw: Any) -> Any:
    """A non-string value (from Python or JSON) of the field's type; anything else is refused,
    so that ``{"batch": 1.5}`` or ``{"batch": [1]}`` is a clear error, not a crash later."""
    if typing.get_origin(kind) is Literal:
        choices = typing.get_args(kind)
        if raw not in choices:
            raise InvalidInputError(f"option {name}={raw!r}: choose one of {', '.join(map(str, choices))}")
        return raw
    if kind is bool:
        ok = isinstance(raw, bool)
    elif kind is int:
        ok = isinstance(raw, numbers.Integral) and not isinstance(raw, bool)
        raw = int(raw) if ok else raw
    elif kind is float:
        ok = isinstance(raw, numbers.Real) and not isinstance(raw, bool)
        try:
            raw = float(raw) if ok else raw
        except OverflowError:  # an int too large for a float
            ok = False
    elif kind is str:
        ok = False  # strings were handled by the caller
    else:
        ok = True
    if not ok:
        raise InvalidInputError(f"option {name}={raw!r}: expected {kind.__name__}")
    return raw


def _convert(name: str, kind: Any, raw: Any) -> Any:
    if not isinstance(raw, str):
        return _check_type(name, kind, raw)
    if typing.get_origin(kind) is Literal:
        choices = typing.get_args(kind)
        if raw not in choices:
            raise InvalidInputError(f"option {name}={raw!r}: choose one of {', '.join(map(str, choices))}")
        return raw
    try:
        if kind is bool:
            if raw.lower() not in {"true", "false", "1", "0", "yes", "no"}:
                raise ValueError(raw)
            return raw.lower() in {"true", "1", "yes"}
        if kind in (int, float):
            return kind(raw)
    except ValueError:
        raise InvalidInputError(f"option {name}={raw!r}: expected {kind.__name__}") from None
    return raw


def build_params(cls: type, options: Mapping[str, Any] | None) -> Any:
    """An instance of the params dataclass ``cls`` from user options (strings are converted)."""
    options = dict(options or {})
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(options) - known)
    if unknown:
        valid = ", ".join(sorted(known)) or "none"
        raise InvalidInputError(f"unknown option {unknown[0]!r} for this strategy; valid options: {valid}")
    values = {name: _convert(name, hints[name], raw) for name, raw in options.items()}
    return cls(**values)


def describe(cls: type) -> list[tuple[str, str, Any, str]]:
    """``(name, type, default, help)`` for each parameter."""
    hints = typing.get_type_hints(cls)
    rows = []
    for f in dataclasses.fields(cls):
        kind = hints[f.name]
        type_name = "|".join(map(str, typing.get_args(kind))) if typing.get_origin(kind) is Literal else kind.__name__
        rows.append((f.name, type_name, f.default, f.metadata.get("help", "")))
    return rows


def check(condition: bool, message: str) -> None:
    """Raise :class:`InvalidInputError` with ``message`` unless ``condition`` holds."""
    if not condition:
        raise InvalidInputError(message)
