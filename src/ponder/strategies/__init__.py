"""Inference-time strategies: the base they share and the runner that steps them.

Strategies are found by name in :mod:`ponder.registry`.
"""

from ponder.strategies.base import Algorithm, StepInfo, Strategy, StrategyLookup, step_info
from ponder.strategies.runner import StrategyRun

__all__ = ["Algorithm", "StepInfo", "Strategy", "StrategyLookup", "StrategyRun", "step_info"]
