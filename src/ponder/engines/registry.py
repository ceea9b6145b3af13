"""The one registry of engines: built-in plugins plus any package's ``ponder.engines`` entry points.

An entry point's name is the engine's name (its spec prefix); it loads an
:class:`~ponder.engines.plugin.EnginePlugin` or, the older form, a plain factory called with
``model=`` (wrapped as a plugin whose one option is ``model``). Built-in names win.
"""

from __future__ import annotations

import dataclasses
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from ponder.core.errors import BackendUnavailableError, UnknownNameError
from ponder.engines.base import Engine
from ponder.engines.http.plugin import PLUGIN as OPENAI
from ponder.engines.llama.plugin import PLUGIN as LLAMA
from ponder.engines.plugin import EnginePlugin, plugin_from_factory
from ponder.engines.vllm.plugin import PLUGIN as VLLM

GROUP = "ponder.engines"
BUILTIN: dict[str, EnginePlugin] = {LLAMA.name: LLAMA, OPENAI.name: OPENAI, VLLM.name: VLLM}
DEFAULT_ENGINE = "llama"


def _installed() -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=GROUP) if ep.name not in BUILTIN}


def _load(entry: EntryPoint) -> EnginePlugin:
    try:
        loaded = entry.load()
    except Exception as exc:  # a broken third-party package: say which one
        raise BackendUnavailableError(f"engine plugin {entry.name!r} ({entry.value}) failed to load: {exc}") from exc
    if isinstance(loaded, EnginePlugin):
        return loaded if loaded.name == entry.name else dataclasses.replace(loaded, name=entry.name)
    if callable(loaded):
        return plugin_from_factory(entry.name, loaded)
    raise BackendUnavailableError(
        f"engine plugin {entry.name!r} ({entry.value}) is neither an EnginePlugin nor an engine factory"
    )


def engine_names() -> list[str]:
    """The names of all engines, built-in and installed, sorted."""
    return sorted(set(BUILTIN) | set(_installed()))


def engine_plugin(name: str) -> EnginePlugin:
    """The plugin registered as ``name`` (only that entry point is loaded)."""
    if name in BUILTIN:
        return BUILTIN[name]
    installed = _installed()
    if name not in installed:
        raise UnknownNameError(
            f"unknown engine {name!r}; available: {', '.join(engine_names())} (see `ponder engines`)"
        )
    return _load(installed[name])


def engine_plugins() -> dict[str, EnginePlugin]:
    """Every engine's plugin by name, sorted by name."""
    return {name: engine_plugin(name) for name in engine_names()}


def create_engine(name: str = DEFAULT_ENGINE, **options: Any) -> Engine:
    """A new engine ``name`` with its options (``model=...``, ``n_ctx=...``; strings are converted
    to each option's type, ``None`` means the default); the caller closes it."""
    return engine_plugin(name).create(**options)
