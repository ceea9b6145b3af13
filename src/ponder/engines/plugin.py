"""Engine plugins: what ponder needs to know to create an engine from a name, a spec or CLI flags.

An :class:`EnginePlugin` declares an engine once: its name (which is also its spec prefix, as in
``llama:MODEL``), its typed options (a frozen dataclass whose fields are declared with
:func:`~ponder.core.params.param`, or :func:`required` for options without a default) and its
factory. The registry (:mod:`ponder.engines.registry`) collects the built-in plugins and those
other packages publish under the ``ponder.engines`` entry-point group, so that the library
(``create_engine``), pipeline specs (``model: NAME:TARGET?KEY=VALUE``), the CLI (``--engine NAME
-E KEY=VALUE``, ``ponder engines``) and the server all create and check engines the same way.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ponder.core.errors import InvalidInputError
from ponder.core.params import build_params, describe
from ponder.engines.base import Engine


def required(help: str, *, local: bool = False) -> Any:
    """An option without a default (declare it before the options that have one)."""
    return dataclasses.field(metadata={"help": help, "local": local, "required": True})


@dataclass(frozen=True)
class OptionInfo:
    """One option as ``ponder engines`` shows it."""

    name: str
    type: str
    default: Any  # ``dataclasses.MISSING`` for a required option
    help: str

    @property
    def required(self) -> bool:
        return self.default is dataclasses.MISSING


@dataclass(frozen=True)
class EnginePlugin:
    """How to create one kind of engine.

    Args:
        name: the engine's name and spec prefix (``llama`` for ``llama:MODEL``).
        summary: one line for ``ponder engines``.
        Options: a frozen dataclass of typed options (``param(default, help)`` / ``required(help)``).
        factory: builds the engine from an ``Options`` instance; import heavy backends inside it.
        spec_option: the option that the text after ``NAME:`` fills, when ``parse_spec`` is not given.
        parse_spec: turns the text after ``NAME:`` into options (raise :class:`InvalidInputError`
            with a message that reads after the spec, e.g. ``"needs a base URL ..."``).
        spec_form: the spec as help shows it, e.g. ``openai:BASE_URL[#MODEL]``
            [default: ``NAME:SPEC_OPTION``].
        default_model_name: what ``ponder serve`` calls the model when neither ``--served-name``
            nor a ``model`` option is given; ``None``: the engine's own ``info.model``.
    """

    name: str
    summary: str
    Options: type
    factory: Callable[[Any], Engine]
    spec_option: str | None = "model"
    parse_spec: Callable[[str], dict[str, str]] | None = None
    spec_form: str = ""
    default_model_name: str | None = None

    @property
    def form(self) -> str:
        """The spec as help shows it."""
        return self.spec_form or f"{self.name}:{(self.spec_option or 'TARGET').upper()}"

    def option_names(self) -> list[str]:
        return [f.name for f in dataclasses.fields(self.Options)]

    def describe(self) -> list[OptionInfo]:
        """Each option's name, type, default and help, in declaration order."""
        return [OptionInfo(*row) for row in describe(self.Options)]

    def check_names(self, names: Any, *, spelled: Callable[[str], str] = repr) -> None:
        """Refuse option names the engine does not have, naming the ones it has."""
        known = self.option_names()
        unknown = [name for name in names if name not in known]
        if unknown:
            raise InvalidInputError(
                f"engine {self.name!r} has no option {spelled(unknown[0])}; its options: {', '.join(known) or 'none'}"
            )

    def options(self, values: Mapping[str, Any] | None = None) -> Any:
        """An ``Options`` instance from user values: strings are converted to the option's type,
        ``None`` means the default, paths become strings; a missing required option is an error."""
        given = {
            key: os.fspath(value) if isinstance(value, os.PathLike) else value
            for key, value in dict(values or {}).items()
            if value is not None
        }
        self.check_names(given)
        missing = [info for info in self.describe() if info.required and info.name not in given]
        if missing:
            raise InvalidInputError(f"engine {self.name!r} needs option {missing[0].name}: {missing[0].help}")
        return build_params(self.Options, given)

    def spec_options(self, target: str) -> dict[str, str]:
        """The options that ``target`` (the text after ``NAME:``) stands for."""
        if self.parse_spec is not None:
            return self.parse_spec(target)
        if self.spec_option is None:
            if target:
                raise InvalidInputError(f"takes no text after {self.name}: (use {self.name}:?KEY=VALUE&...)")
            return {}
        if not target.strip():
            helps = {info.name: info.help for info in self.describe()}
            raise InvalidInputError(
                f"needs a {self.spec_option} after {self.name}: ({helps.get(self.spec_option, self.form)})"
            )
        return {self.spec_option: target.strip()}

    def create(self, **values: Any) -> Engine:
        """A new engine from user values (checked as :meth:`options` checks them)."""
        return self.factory(self.options(values))


@dataclass(frozen=True)
class ModelOnly:
    """The options of a plain factory registered without a plugin: its model."""

    model: str = dataclasses.field(default="", metadata={"help": "the model, as the engine takes it"})


def plugin_from_factory(name: str, factory: Callable[..., Engine]) -> EnginePlugin:
    """A plugin for a bare ``factory(model=...)`` entry point (the older form)."""

    def create(options: ModelOnly) -> Engine:
        return factory(model=options.model) if options.model else factory()

    summary = (factory.__doc__ or "").strip().splitlines()[0] if factory.__doc__ else f"{name} engine"
    return EnginePlugin(name=name, summary=summary, Options=ModelOnly, factory=create)
