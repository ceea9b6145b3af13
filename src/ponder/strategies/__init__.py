"""Inference-time strategies, found by name through :func:`get_strategy`."""

from ponder.strategies.core import Algorithm, Budget, Decision, MeteredEngine, StepContext
from ponder.strategies.registry import available, get_strategy, strategy_class
from ponder.strategies.runner import StrategyRun

__all__ = [
    "Algorithm", "Budget", "Decision", "MeteredEngine", "StepContext", "StrategyRun", "available",
    "get_strategy", "strategy_class",
]
