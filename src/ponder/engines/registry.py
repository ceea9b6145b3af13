"""Creating engines by name: built-ins plus any package's ``ponder.engines`` entry points."""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any, Callable

from ponder.engines.base import Engine
from ponder.errors import UnknownNameError


def _llama(**options: Any) -> Engine:
    from ponder.engines.llama import LlamaEngine  # loads llama.cpp only when asked for

    return LlamaEngine(**options)


def _openai(**options: Any) -> Engine:
    from ponder.engines.http import OpenAIEngine

    return OpenAIEngine(**options)


BUILTIN: dict[str, Callable[..., Engine]] = {"llama": _llama, "openai": _openai}
DEFAULT_ENGINE = "llama"


def engine_names() -> list[str]:
    return sorted(set(BUILTIN) | {ep.name for ep in entry_points(group="ponder.engines")})


def create_engine(name: str = DEFAULT_ENGINE, **options: Any) -> Engine:
    """Build the engine registered as ``name`` with backend options (``model=...``, ...)."""
    factory = BUILTIN.get(name)
    if factory is None:
        found = {ep.name: ep for ep in entry_points(group="ponder.engines")}
        if name not in found:
            raise UnknownNameError(f"unknown engine {name!r}; available: {', '.join(engine_names())}")
        factory = found[name].load()
    return factory(**options)
