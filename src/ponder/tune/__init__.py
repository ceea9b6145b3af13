"""ponder tune: architecture search over the bench runner, with a reusable holdout (Thresholdout).

``ponder.tune(dataset, space=..., trials=...)`` (:mod:`ponder.tune.api`) searches a space of
strategies and pipelines (:mod:`ponder.tune.space`) with optuna (:mod:`ponder.tune.search`) on
a train split, chooses through Thresholdout on a holdout split (:mod:`ponder.tune.thresholdout`,
:mod:`ponder.tune.splits`), tests the choice once, and writes it as a pipeline config
(:mod:`ponder.tune.output`) with a report (:mod:`ponder.tune.report`).
"""

from ponder.tune.api import atune, tune
from ponder.tune.outcome import ChosenScores, Trial, TuneOutcome, pareto_front
from ponder.tune.search import SearchSettings, choose
from ponder.tune.space import DEFAULT_SPACE, Space, load_space
from ponder.tune.splits import Splits, split_problems
from ponder.tune.thresholdout import HoldoutBudgetExhausted, Thresholdout

__all__ = [
    "DEFAULT_SPACE",
    "ChosenScores",
    "HoldoutBudgetExhausted",
    "SearchSettings",
    "Space",
    "Splits",
    "Thresholdout",
    "Trial",
    "TuneOutcome",
    "atune",
    "choose",
    "load_space",
    "pareto_front",
    "split_problems",
    "tune",
]
