"""Engines a run knows by name: ones the caller passed, and ones ponder creates from a spec.

A pipeline component's ``model: NAME`` resolves, in this order, to

1. an engine the caller passed under that name (``ponder.solve(..., engines={"judge": engine})``):
   used as it is and never closed by ponder;
2. an engine spec, created on first use and closed when the run ends:

   - ``openai:BASE_URL`` or ``openai:BASE_URL#MODEL``: an OpenAI-compatible server
     (:class:`~ponder.engines.http.OpenAIEngine`; without ``#MODEL`` the server's first model);
   - ``llama:MODEL``: the embedded llama.cpp engine, ``MODEL`` as ``--model`` takes it (a
     built-in name, a ``.gguf`` path, ``hf:OWNER/REPO/FILE.gguf``).

Any other name containing ``:`` is a bad spec; a plain name no engine was passed under is an
error too. Both are :class:`~ponder.errors.InvalidInputError` saying what to do instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from ponder.engines.base import Engine
from ponder.engines.registry import create_engine
from ponder.errors import InvalidInputError

SPEC_FORMS = "openai:BASE_URL[#MODEL] or llama:MODEL"


@dataclass(frozen=True)
class EngineSpec:
    """An engine to create: ``backend`` (``openai`` or ``llama``), its model and base URL."""

    backend: str
    model: str | None = None
    base_url: str | None = None

    def create(self) -> Engine:
        """A new engine (its owner closes it)."""
        if self.backend == "openai":
            return create_engine("openai", base_url=self.base_url, model=self.model)
        return create_engine("llama", model=self.model)


def is_spec(name: str) -> bool:
    """Whether ``name`` is an engine spec (``kind:...``) rather than the name of a passed engine."""
    return ":" in name


def parse_engine_spec(spec: str) -> EngineSpec:
    """The :class:`EngineSpec` that ``spec`` (see the module docstring) describes."""
    backend, _, rest = spec.partition(":")
    if backend == "openai":
        base_url, _, model = rest.partition("#")
        if not base_url.startswith(("http://", "https://")) or base_url in ("http://", "https://"):
            raise InvalidInputError(f"{spec!r} needs a base URL starting with http:// or https:// after openai: "
                                    "(openai:BASE_URL[#MODEL])")
        return EngineSpec("openai", model=model or None, base_url=base_url)
    if backend == "llama":
        if not rest.strip():
            raise InvalidInputError(f"{spec!r} needs a model after llama: (a built-in name, a .gguf path "
                                    "or hf:OWNER/REPO/FILE.gguf)")
        return EngineSpec("llama", model=rest.strip())
    raise InvalidInputError(f"{spec!r} is not an engine spec: use {SPEC_FORMS}, or the name of an engine "
                            "passed to the run (engines={...})")


def missing_engine(name: str) -> str:
    """What to say when ``name`` is neither a passed engine nor a spec."""
    return (f"no engine named {name!r} was passed; pass engines={{{name!r}: ...}} or use "
            f"{SPEC_FORMS}")


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
