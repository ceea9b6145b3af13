"""Typed options (strategy parameters, engine options, pipeline component keys): dataclasses whose
fields are set from ``key=value`` strings, JSON or YAML through one check (:func:`coerce`), and
described for help."""

from __future__ import annotations

import dataclasses
import numbers
import types
import typing
from collections.abc import Mapping
from typing import Any, Literal, Union

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


class TypeMismatch(Exception):
    """A value that does not fit an option's type: ``kind`` is the type it should have had (the
    non-``None`` one of an optional type) and ``choices`` the allowed values of a ``Literal``."""

    def __init__(self, kind: Any, choices: tuple[Any, ...] = ()) -> None:
        super().__init__(type_name(kind))
        self.kind = kind
        self.choices = choices


def type_name(kind: Any) -> str:
    """A type as help shows it: ``int``, ``a|b`` for a Literal, ``str|None`` for an optional one."""
    origin = typing.get_origin(kind)
    if origin is Literal:
        return "|".join(map(str, typing.get_args(kind)))
    if origin in (Union, types.UnionType):
        return "|".join(type_name(k) for k in typing.get_args(kind))
    if kind is type(None):
        return "None"
    return getattr(origin or kind, "__name__", str(kind))


_TRUE, _FALSE = {"true", "1", "yes"}, {"false", "0", "no"}


def coerce(kind: Any, value: Any, *, from_text: bool = False) -> Any:
    """``value`` as an option of type ``kind`` (the one check for strategy, engine and component
    options), or :class:`TypeMismatch`. An optional type takes ``None``; a ``Literal`` takes one
    of its values; a ``float`` takes an integer; a mapping type takes a mapping. With
    ``from_text`` a string is read as the type (``"4"`` as 4, ``"yes"`` as True), as options
    typed on a command line are; without it (YAML, JSON, Python), types must match."""
    origin = typing.get_origin(kind)
    if origin in (Union, types.UnionType):
        options = [k for k in typing.get_args(kind) if k is not type(None)]
        if value is None and len(options) < len(typing.get_args(kind)):
            return None
        kind, origin = options[0], typing.get_origin(options[0])
    if origin is Literal:
        if value not in typing.get_args(kind):
            raise TypeMismatch(kind, typing.get_args(kind))
        return value
    if origin is not None and isinstance(origin, type) and issubclass(origin, Mapping):
        if not isinstance(value, Mapping):
            raise TypeMismatch(dict)
        return value
    if from_text and isinstance(value, str) and kind in (bool, int, float):
        return _from_text(kind, value)
    if kind is bool:
        ok = isinstance(value, bool)
    elif kind in (int, float):
        number = numbers.Integral if kind is int else numbers.Real
        ok = isinstance(value, number) and not isinstance(value, bool)
        if ok:
            try:
                value = kind(value)
            except OverflowError:  # an int too large for a float
                ok = False
    elif isinstance(kind, type) and origin is None:
        ok = isinstance(value, kind)
    else:
        ok = True
    if not ok:
        raise TypeMismatch(kind)
    return value


def _from_text(kind: type, text: str) -> Any:
    if kind is bool:
        if text.lower() not in _TRUE | _FALSE:
            raise TypeMismatch(bool)
        return text.lower() in _TRUE
    try:
        return kind(text)
    except ValueError:
        raise TypeMismatch(kind) from None


def _option(name: str, kind: Any, raw: Any) -> Any:
    """An option given as ``name=raw`` on a command line, in JSON or from Python."""
    try:
        return coerce(kind, raw, from_text=True)
    except TypeMismatch as bad:
        if bad.choices:
            raise InvalidInputError(
                f"option {name}={raw!r}: choose one of {', '.join(map(str, bad.choices))}"
            ) from None
        raise InvalidInputError(f"option {name}={raw!r}: expected {type_name(bad.kind)}") from None


def build_params(cls: type, options: Mapping[str, Any] | None) -> Any:
    """An instance of the params dataclass ``cls`` from user options (strings are converted)."""
    options = dict(options or {})
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(options) - known)
    if unknown:
        valid = ", ".join(sorted(known)) or "none"
        raise InvalidInputError(f"unknown option {unknown[0]!r} for this strategy; valid options: {valid}")
    values = {name: _option(name, hints[name], raw) for name, raw in options.items()}
    return cls(**values)


def describe(cls: type) -> list[tuple[str, str, Any, str]]:
    """``(name, type, default, help)`` for each parameter."""
    hints = typing.get_type_hints(cls)
    rows = []
    for f in dataclasses.fields(cls):
        rows.append((f.name, type_name(hints[f.name]), f.default, f.metadata.get("help", "")))
    return rows


def check(condition: bool, message: str) -> None:
    """Raise :class:`InvalidInputError` with ``message`` unless ``condition`` holds."""
    if not condition:
        raise InvalidInputError(message)
