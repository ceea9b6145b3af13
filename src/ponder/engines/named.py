"""Engines a run knows by name: ones the caller passed, and ones ponder creates from a spec.

A pipeline component's ``model: NAME`` resolves, in this order, to

1. an engine the caller passed under that name (``ponder.solve(..., engines={"judge": engine})``):
   used as it is and never closed by ponder;
2. an engine spec ``ENGINE:TARGET[?KEY=VALUE&KEY=VALUE...]``, created on first use and closed
   when the run ends. ``ENGINE`` is any registered engine (``ponder engines`` lists them, with
   their options); ``TARGET`` is what that engine's plugin reads after the colon; the optional
   query sets more of its options (values are percent-decoded; an option set twice is an error):

   - ``llama:MODEL``: the embedded llama.cpp engine, ``MODEL`` as ``--model`` takes it (a
     built-in name, a ``.gguf`` path, ``hf:OWNER/REPO/FILE.gguf``), e.g. ``llama:model.gguf?n_ctx=4096``;
   - ``openai:BASE_URL`` or ``openai:BASE_URL#MODEL``: an OpenAI-compatible server (without
     ``#MODEL`` the server's first model), e.g. ``openai:http://127.0.0.1:8000#qwen?timeout=30``;
   - ``vllm:MODEL``: a Hugging Face model run in-process by vLLM (a GPU and ``ponder[vllm]``),
     e.g. ``vllm:Qwen/Qwen2.5-0.5B-Instruct?max_model_len=4096``.

Any other name containing ``:`` is a bad spec; a plain name no engine was passed under is an
error too. Both are :class:`~ponder.core.errors.InvalidInputError` saying what to do instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from ponder.core.errors import InvalidInputError, PonderError, UnknownNameError
from ponder.engines.base import Engine
from ponder.engines.registry import create_engine, engine_names, engine_plugin


@dataclass(frozen=True)
class EngineSpec:
    """An engine to create: its registered ``name`` and its ``options`` (as given: strings from
    a spec or the command line, checked against the plugin's options when parsed)."""

    name: str
    options: Mapping[str, Any] = field(default_factory=dict)

    def create(self) -> Engine:
        """A new engine (its owner closes it)."""
        return create_engine(self.name, **self.options)


def spec_forms() -> str:
    """The spec forms of every registered engine, for messages: ``a:X, b:Y or c:Z``."""
    forms = []
    for name in engine_names():
        try:
            forms.append(engine_plugin(name).form)
        except PonderError:  # a broken plugin must not hide the others
            forms.append(f"{name}:...")
    return forms[0] if len(forms) == 1 else f"{', '.join(forms[:-1])} or {forms[-1]}"


def is_spec(name: str) -> bool:
    """Whether ``name`` is an engine spec (``kind:...``) rather than the name of a passed engine."""
    return ":" in name


def parse_query(query: str) -> dict[str, str]:
    """``"n_ctx=4096&n_threads=2"`` -> ``{"n_ctx": "4096", "n_threads": "2"}`` (percent-decoded)."""
    options: dict[str, str] = {}
    for pair in filter(None, query.split("&")):
        key, sep, value = pair.partition("=")
        key = unquote(key).strip()
        if not sep or not key:
            raise InvalidInputError(f"option {pair!r} must look like KEY=VALUE")
        if key in options:
            raise InvalidInputError(f"option {key!r} is given twice")
        options[key] = unquote(value)
    return options


def parse_engine_spec(spec: str) -> EngineSpec:
    """The :class:`EngineSpec` that ``spec`` (see the module docstring) describes; its options
    are checked against the engine's, so a bad spec fails before anything is created."""
    name, _, rest = spec.partition(":")
    try:
        plugin = engine_plugin(name)
    except UnknownNameError:
        raise InvalidInputError(
            f"{spec!r} is not an engine spec: use {spec_forms()} (see `ponder engines`), "
            "or the name of an engine passed to the run (engines={...})"
        ) from None
    target, _, query = rest.partition("?")
    try:
        options = plugin.spec_options(target)
    except InvalidInputError as exc:
        raise InvalidInputError(f"{spec!r} {exc}") from None
    try:
        extra = parse_query(query)
        twice = sorted(set(options) & set(extra))
        if twice:
            raise InvalidInputError(f"option {twice[0]!r} is given twice")
        options.update(extra)
        plugin.options(options)
    except InvalidInputError as exc:
        raise InvalidInputError(f"{spec!r}: {exc}") from None
    return EngineSpec(name, options)


def missing_engine(name: str) -> str:
    """What to say when ``name`` is neither a passed engine nor a spec."""
    return f"no engine named {name!r} was passed; pass engines={{{name!r}: ...}} or use {spec_forms()}"


class NamedEngines:
    """The engines of one run by name: the caller's (kept open) and those created from specs
    (created on first use, closed by :meth:`aclose`)."""

    def __init__(self, given: Mapping[str, Engine] | None = None) -> None:
        self._given: dict[str, Engine] = dict(given or {})
        self._created: dict[str, Engine] = {}

    def names(self) -> frozenset[str]:
        """The names of the engines the caller passed."""
        return frozenset(self._given)

    def get(self, name: str) -> Engine:
        """The engine ``name`` resolves to (see the module docstring)."""
        if name in self._given:
            return self._given[name]
        if name not in self._created:
            if not is_spec(name):
                raise InvalidInputError(missing_engine(name))
            self._created[name] = parse_engine_spec(name).create()
        return self._created[name]

    async def aclose(self) -> None:
        """Close the engines created here (the caller's stay open)."""
        created, self._created = self._created, {}
        for engine in created.values():
            await engine.aclose()
