"""The process-reward contract: score the steps of partial solutions, then aggregate.

A process reward model (PRM) judges a solution step by step. Step-level search (beam search,
DVTS, particle filtering, A*) calls :meth:`ProcessRewardModel.score_steps` on the partial
solutions it holds and reduces each partial's step scores to one number with the PRM's declared
:data:`Aggregation`:

- ``last``: the last step's score. With a PRM that reads every earlier step (Qwen2.5-Math-PRM),
  the last score already judges the whole prefix; it is the default of search-and-learn
  (Beeching et al. 2024: beam search, DVTS), which also offers ``min`` and ``prod``.
- ``min``: the weakest step (one wrong step spoils a solution).
- ``product``: the product of step scores (the probability that every step is right, if the
  step judgements were independent).
- ``whole``: the PRM scores the partial answer as one piece and returns one score for it (a
  model-based PRM reads the steps joined into one, e.g. one ``<extra_0>`` for Qwen2.5-Math-PRM).

What a search hands the PRM is its own choice, :data:`PrmInput`: ``steps``, each partial split
into its steps (search-and-learn), or ``joined``, the whole partial trajectory as ONE step, whose
one score judges it (Puri et al. 2025, "A Probabilistic Inference Approach to Inference-Time
Scaling of LLMs": their particle filter scores the steps joined by blank lines as a single step
and takes its score). With ``joined`` every aggregation gives that one score.

Every PRM is also a plain :class:`~ponder.scorers.base.Scorer`: ``score`` splits each candidate's
text into steps with :func:`split_steps`, scores them and aggregates, so a PRM works anywhere a
scorer does (best-of-N, weighted best-of-N, ...).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import ClassVar, Literal, Protocol, TypeGuard, get_args, runtime_checkable

from ponder.core.chat import Message
from ponder.core.errors import InvalidInputError, UpstreamError
from ponder.core.result import Candidate
from ponder.scorers.base import ScorerInfo

Aggregation = Literal["last", "min", "product", "whole"]
AGGREGATIONS: tuple[str, ...] = get_args(Aggregation)
PrmInput = Literal["joined", "steps"]
"""How a search hands a partial to its PRM: its steps joined as one step, or split into steps."""
PRM_INPUTS: tuple[str, ...] = get_args(PrmInput)
DEFAULT_DELIMITER = "\n\n"
# The score of a partial answer with no steps (or of a PRM that saw nothing): no evidence either
# way. It is also logit-neutral, so a particle filter gives such a particle weight 0.
NEUTRAL_SCORE = 0.5


def split_steps(text: str, delimiter: str = DEFAULT_DELIMITER) -> list[str]:
    """The non-empty, stripped steps of ``text`` cut at ``delimiter`` (default a blank line)."""
    if not delimiter:
        raise InvalidInputError("the step delimiter must not be empty")
    return [step.strip() for step in text.split(delimiter) if step.strip()]


def split_raw_steps(text: str, delimiter: str = DEFAULT_DELIMITER) -> list[str]:
    """``text`` cut after each ``delimiter``, nothing stripped or dropped: each piece keeps the
    delimiter that ended it, so the pieces join back to ``text`` (the steps as generated)."""
    if not delimiter:
        raise InvalidInputError("the step delimiter must not be empty")
    parts = text.split(delimiter)
    return [part + delimiter for part in parts[:-1]] + [parts[-1]]


def reply_prefixes(steps: Sequence[str]) -> list[str]:
    """The reply up to the end of each step that has text, for ``steps`` as generated (joined,
    they are the reply; a step of only whitespace is part of the text but not a step of its own)."""
    prefixes, reply = [], ""
    for step in steps:
        reply += step
        if step.strip():
            prefixes.append(reply)
    return prefixes


def is_aggregation(how: str) -> TypeGuard[Aggregation]:
    return how in AGGREGATIONS


def check_aggregation(how: str) -> Aggregation:
    """``how`` if it names an aggregation, else an :class:`InvalidInputError` listing them."""
    if not is_aggregation(how):
        raise InvalidInputError(f"unknown PRM aggregation {how!r}; choose one of {', '.join(AGGREGATIONS)}")
    return how


def is_prm_input(form: str) -> TypeGuard[PrmInput]:
    return form in PRM_INPUTS


def check_prm_input(form: str) -> PrmInput:
    """``form`` if it names a PRM input form, else an :class:`InvalidInputError` listing them."""
    if not is_prm_input(form):
        raise InvalidInputError(f"unknown PRM input form {form!r}; choose one of {', '.join(PRM_INPUTS)}")
    return form


def aggregate(step_scores: Sequence[float], how: Aggregation) -> float:
    """One score for a partial answer from its step scores.

    ``last`` and ``whole`` take the last score (a ``whole`` PRM returns exactly one), ``min`` the
    smallest, ``product`` the product. No scores gives :data:`NEUTRAL_SCORE` (0.5) whatever ``how``.
    """
    check_aggregation(how)
    if not step_scores:
        return NEUTRAL_SCORE
    if how == "min":
        return min(step_scores)
    if how == "product":
        return math.prod(step_scores)
    return step_scores[-1]


def check_score(value: object, where: str) -> float:
    """``value`` as a float in [0, 1], else an :class:`UpstreamError` naming ``where`` it came from."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise UpstreamError(f"{where}: a step score must be a number, got {value!r}")
    score = float(value)
    if not (math.isfinite(score) and 0.0 <= score <= 1.0):
        raise UpstreamError(f"{where}: a step score must be a probability in [0, 1], got {value!r}")
    return score


@runtime_checkable
class ProcessRewardModel(Protocol):
    """Scores each step of partial solutions; see the module docstring.

    ``score_steps(question, partials)`` returns, for each partial solution (a list of steps), one
    score in [0, 1] per step, or, when ``aggregation`` is ``whole``, a list with one score for the
    whole partial answer. ``score`` is the plain scorer interface over full candidates.
    """

    name: ClassVar[str]
    info: ClassVar[ScorerInfo]
    aggregation: Aggregation

    async def score_steps(self, question: str, steps: Sequence[Sequence[str]]) -> list[list[float]]: ...

    async def score(self, question: str, candidates: Sequence[Candidate]) -> list[float]: ...


@runtime_checkable
class ChatStepScorer(Protocol):
    """A PRM that can also judge partial answers as continuations of the chat that produced them
    (``prompt``, the same for every partial: step search continues one chat), their steps as
    generated (delimiters kept): a model-based PRM then asks as the chat's next turn, so the
    engine's prefix cache serves the partial (see :class:`~ponder.scorers.prm.SelfEvalPRM`).
    Step search uses it where a PRM offers it, else :meth:`ProcessRewardModel.score_steps`."""

    async def score_steps_in_chat(
        self, question: str, prompt: tuple[Message, ...], steps: Sequence[Sequence[str]]
    ) -> list[list[float]]: ...


class StepScorer(ABC):
    """Shared ``score`` for PRMs: split each candidate into steps, score, aggregate.

    Subclasses set ``name``, ``info``, ``aggregation`` and ``delimiter`` and implement
    ``score_steps``. A failed sample (``finish_reason == "error"``) scores 0 without being sent.
    """

    name: ClassVar[str]
    info: ClassVar[ScorerInfo]
    aggregation: Aggregation = "last"
    delimiter: str = DEFAULT_DELIMITER

    @abstractmethod
    async def score_steps(self, question: str, steps: Sequence[Sequence[str]]) -> list[list[float]]:
        """Step scores of each partial (see :class:`ProcessRewardModel`)."""

    async def score(self, question: str, candidates: Sequence[Candidate]) -> list[float]:
        """Aggregated step scores of each candidate's text (split at ``delimiter``)."""
        live = [i for i, c in enumerate(candidates) if c.finish_reason != "error"]
        partials = [split_steps(candidates[i].text, self.delimiter) for i in live]
        step_scores = await self.score_steps(question, partials) if partials else []
        scores = [0.0] * len(candidates)
        for i, row in zip(live, step_scores, strict=True):
            scores[i] = aggregate(row, self.aggregation)
        return scores

    async def aclose(self) -> None:
        """Release any connection the PRM holds (nothing by default)."""
