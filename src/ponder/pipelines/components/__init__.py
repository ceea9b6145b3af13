"""Pipeline components by their config ``type``."""

from ponder.pipelines.components.base import Component, Slot
from ponder.pipelines.components.critic import Critic
from ponder.pipelines.components.fuser import Fuser
from ponder.pipelines.components.generator import Generator
from ponder.pipelines.components.ranker import Ranker
from ponder.pipelines.components.strategy import StrategyComponent
from ponder.pipelines.components.unit_tests import TestEvaluator, TestGenerator
from ponder.pipelines.components.verifier import Verifier

COMPONENTS: dict[str, type[Component]] = {
    cls.kind: cls
    for cls in (Generator, Critic, Ranker, Fuser, Verifier, TestGenerator, TestEvaluator, StrategyComponent)
}

__all__ = [
    "COMPONENTS",
    "Component",
    "Critic",
    "Fuser",
    "Generator",
    "Ranker",
    "Slot",
    "StrategyComponent",
    "TestEvaluator",
    "TestGenerator",
    "Verifier",
]
