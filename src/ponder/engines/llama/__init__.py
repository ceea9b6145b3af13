"""The embedded llama.cpp engine."""

from ponder.engines.llama.engine import LlamaEngine
from ponder.engines.llama.models import BUILTIN_MODELS, DEFAULT_MODEL, resolve_model

__all__ = ["BUILTIN_MODELS", "DEFAULT_MODEL", "LlamaEngine", "resolve_model"]
