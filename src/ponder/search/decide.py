"""Answers from a search's partial solutions: the best-scored one, or a weighted vote."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Literal

from ponder.answers import AnswerTask
from ponder.core.decision import Decision
from ponder.core.voting import best_scored, vote
from ponder.search.steps import Partial

AnswerRule = Literal["best", "vote"]


def decide_partials(
    partials: Sequence[Partial],
    task: AnswerTask,
    rule: AnswerRule,
    weights: Sequence[float] | None = None,
    *,
    finished_only: bool = True,
) -> Decision:
    """Decide over the finished partials (all of them while none has finished), or with
    ``finished_only=False`` over every partial that did not fail (DVTS pools its unfinished
    siblings too, as search-and-learn does).

    ``best``: the answer of the top-scored one. ``vote``: equivalent answers pooled with
    ``weights`` (default: the scores), as in weighted best-of-N. Copies of one partial (same
    identity, as resampling makes) are listed once among the candidates but vote as often as
    they occur.
    """
    if not partials:
        return Decision(answer=None, candidates=(), votes={})
    ok = [i for i, p in enumerate(partials) if (p.finished or not finished_only) and p.finish_reason != "error"]
    chosen = ok or list(range(len(partials)))
    unique = tuple({partials[i].index: partials[i].candidate(task) for i in chosen}.values())
    if rule == "best":
        return best_scored(unique, task)
    pool = [partials[i].candidate(task) for i in chosen]
    support = [float(weights[i]) if weights is not None else (partials[i].score or 0.0) for i in chosen]
    return replace(vote(pool, task, support), candidates=unique)
