"""Process reward models: step scores for partial solutions, behind the scorer interface.

See :mod:`ponder.scorers.prm.base` for the contract and the aggregations, and
:func:`make_prm` for building one from a spec such as ``vllm:http://host:8000``.
"""

from ponder.scorers.prm.base import (
    AGGREGATIONS,
    NEUTRAL_SCORE,
    PRM_INPUTS,
    Aggregation,
    ChatStepScorer,
    PrmInput,
    ProcessRewardModel,
    StepScorer,
    aggregate,
    check_prm_input,
    reply_prefixes,
    split_raw_steps,
    split_steps,
)
from ponder.scorers.prm.generic_http import GenericHttpPRM
from ponder.scorers.prm.scripted import ScriptedPRM
from ponder.scorers.prm.self_eval import SelfEvalPRM
from ponder.scorers.prm.spec import make_prm
from ponder.scorers.prm.vllm_pooling import QWEN_PRM_MODEL, QWEN_PRM_SYSTEM, VllmPRM

__all__ = [
    "AGGREGATIONS",
    "Aggregation",
    "ChatStepScorer",
    "GenericHttpPRM",
    "NEUTRAL_SCORE",
    "PRM_INPUTS",
    "PrmInput",
    "ProcessRewardModel",
    "QWEN_PRM_MODEL",
    "QWEN_PRM_SYSTEM",
    "ScriptedPRM",
    "SelfEvalPRM",
    "StepScorer",
    "VllmPRM",
    "aggregate",
    "check_prm_input",
    "make_prm",
    "reply_prefixes",
    "split_raw_steps",
    "split_steps",
]
