"""The OpenAI-compatible HTTP engine and its endpoint profiles. ``OpenAIEngine`` (and with it
httpx) is imported on first use, so that the engine registry can list it cheaply."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from ponder.engines.http.profiles import PROFILES, EndpointProfile, detect_profile, get_profile

if TYPE_CHECKING:
    from ponder.engines.http.engine import OpenAIEngine

__all__ = ["EndpointProfile", "OpenAIEngine", "PROFILES", "detect_profile", "get_profile"]


def __getattr__(name: str) -> Any:
    if name == "OpenAIEngine":
        return import_module("ponder.engines.http.engine").OpenAIEngine
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
