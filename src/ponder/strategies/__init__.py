"""Inference-time strategies, found by name through :func:`get_strategy`."""

from ponder.strategies.base import MeteredEngine, Strategy
from ponder.strategies.registry import available, get_strategy

__all__ = ["MeteredEngine", "Strategy", "available", "get_strategy"]
