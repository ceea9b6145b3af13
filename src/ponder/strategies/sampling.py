"""Pieces shared by the sampling strategies: their state and the voting decision."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from ponder.answers import AnswerTask
from ponder.result import Candidate
from ponder.strategies.core import Decision
from ponder.strategies.voting import group_answers, tally, winner


@dataclass(frozen=True)
class Samples:
    """The candidates drawn so far, and whether the strategy has finished."""

    candidates: tuple[Candidate, ...] = ()
    finished: bool = False


def vote(candidates: Sequence[Candidate], task: AnswerTask, weights: Sequence[float] | None = None) -> Decision:
    """Majority (or weighted) vote over equivalent answers; ties go to the first seen."""
    votes = tally([c.answer for c in candidates], weights, task.equivalent)
    return Decision(answer=winner(votes), candidates=tuple(candidates), votes=votes)


def best_scored(candidates: Sequence[Candidate], task: AnswerTask) -> Decision:
    """The answer of the top-scored candidate (the first on ties); votes hold each answer's best score.

    Before any candidate is scored (an interrupted run) this falls back to the majority vote.
    """
    scored = [c for c in candidates if c.answer is not None and c.score is not None]
    if not scored:
        return vote(candidates, task)
    groups = group_answers([c.answer for c in scored], task.equivalent)
    votes = {scored[g[0]].answer: max(scored[i].score for i in g) for g in groups}  # type: ignore[misc, type-var]
    top = max(range(len(scored)), key=lambda i: scored[i].score)  # type: ignore[arg-type, return-value]
    answer = next(scored[g[0]].answer for g in groups if top in g)
    return Decision(answer=answer, candidates=tuple(candidates), votes=votes)  # type: ignore[arg-type]
