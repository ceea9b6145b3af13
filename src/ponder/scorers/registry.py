"""Scorers by name, for strategy parameters such as ``-o scorer=self-eval``."""

from __future__ import annotations

from collections.abc import Callable

from ponder.core.errors import InvalidInputError
from ponder.engines.base import Engine
from ponder.scorers.base import Scorer
from ponder.scorers.confidence import TraceConfidence
from ponder.scorers.judge import RestartJudge, SelfEvalJudge
from ponder.scorers.prm.self_eval import SelfEvalPRM
from ponder.scorers.probability import SequenceProbability

# Scorers that need only an engine (the exact checker needs a gold answer: see ExactChecker).
SCORERS: dict[str, Callable[[Engine], Scorer]] = {
    "self-eval": SelfEvalJudge,
    "restart": RestartJudge,
    "probability": lambda engine: SequenceProbability(),
    "confidence": lambda engine: TraceConfidence(),
    "self-eval-prm": SelfEvalPRM,
    # The judges above ask as the next turn of the sample's own chat (its prefix is cached);
    # NAME:fresh asks in a fresh prompt instead, to measure what that reuse saves.
    "self-eval:fresh": lambda engine: SelfEvalJudge(engine, reuse_cache=False),
    "restart:fresh": lambda engine: RestartJudge(engine, reuse_cache=False),
    "self-eval-prm:fresh": lambda engine: SelfEvalPRM(engine, reuse_cache=False),
}


def make_scorer(name: str, engine: Engine) -> Scorer:
    """The scorer registered as ``name``, judging with ``engine`` where it needs a model."""
    factory = SCORERS.get(name)
    if factory is None:
        raise InvalidInputError(f"unknown scorer {name!r}; available: {', '.join(sorted(SCORERS))}")
    return factory(engine)
