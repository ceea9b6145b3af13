"""The embedded llama.cpp engine. Importing this package loads no llama.cpp: ``LlamaEngine`` is
imported on first use, so that the engine registry can list it cheaply."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from ponder.engines.llama.models import BUILTIN_MODELS, DEFAULT_MODEL, resolve_model

if TYPE_CHECKING:
    from ponder.engines.llama.engine import LlamaEngine

__all__ = ["BUILTIN_MODELS", "DEFAULT_MODEL", "LlamaEngine", "resolve_model"]


def __getattr__(name: str) -> Any:
    if name == "LlamaEngine":
        return import_module("ponder.engines.llama.engine").LlamaEngine
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
