"""Engines: the backends that turn generation requests into tokens."""

from ponder.engines.base import (
    Completion,
    Engine,
    EngineCapabilities,
    EngineInfo,
    GenerationRequest,
    Message,
    TokenLogprob,
)
from ponder.engines.fake import FakeEngine, Scripted
from ponder.engines.plugin import EnginePlugin
from ponder.engines.registry import create_engine, engine_names, engine_plugin, engine_plugins

__all__ = [
    "Completion",
    "Engine",
    "EngineCapabilities",
    "EngineInfo",
    "EnginePlugin",
    "FakeEngine",
    "GenerationRequest",
    "Message",
    "Scripted",
    "TokenLogprob",
    "create_engine",
    "engine_names",
    "engine_plugin",
    "engine_plugins",
]
