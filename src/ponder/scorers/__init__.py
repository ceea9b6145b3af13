"""Scorers: outcome and process rewards and verifiers behind one interface."""

from ponder.scorers.base import Scorer, ScorerInfo
from ponder.scorers.exact import ExactChecker
from ponder.scorers.judge import RestartJudge, SelfEvalJudge, verdict_probability
from ponder.scorers.probability import SequenceProbability
from ponder.scorers.registry import SCORERS, make_scorer

__all__ = [
    "ExactChecker",
    "RestartJudge",
    "SCORERS",
    "Scorer",
    "ScorerInfo",
    "SelfEvalJudge",
    "SequenceProbability",
    "make_scorer",
    "verdict_probability",
]
