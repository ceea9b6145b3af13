"""Cheap curves against the live strategies: at k = N, best-of-k and self-consistency@k are what
best-of-n and self-consistency answer on the same recorded samples."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import ClassVar

import pytest

import ponder
from ponder.analysis.curves import BEST_OF_K, SELF_CONSISTENCY, Sample, per_problem_curves
from ponder.core.result import Candidate
from ponder.engines import FakeEngine
from ponder.scorers.base import ScorerInfo

GOLD = "4"


class TextScorer:
    """Scores a candidate by a table of sample texts."""

    name: ClassVar[str] = "table"
    info: ClassVar[ScorerInfo] = ScorerInfo(kind="orm", exact=False, cost="free")

    def __init__(self, table: dict[str, float]) -> None:
        self.table = table

    async def score(self, question: str, candidates: Sequence[Candidate]) -> list[float]:
        return [self.table[c.text] for c in candidates]


def recorded(candidates: Sequence[Candidate]) -> list[Sample]:
    return [Sample(c.answer, c.answer == GOLD, c.score) for c in candidates]


async def live(texts: list[str], scores: list[float], strategy: str) -> tuple[bool, list[Sample]]:
    scorer = TextScorer(dict(zip(texts, scores, strict=True)))
    result = await ponder.asolve(
        "What is 2 + 2?",
        engine=FakeEngine(texts),
        strategy=strategy,
        budget=len(texts),
        options={"scorer": "table"} if strategy == "best-of-n" else {},
        scorers={"table": scorer},
    )
    return result.answer == GOLD, recorded(result.candidates)


async def test_curve_at_n_equals_live_best_of_n_when_the_top_sample_has_no_answer() -> None:
    """Regression: the curve used to pick the top-scored sample even without an answer."""
    texts = ["I am not sure.", "The answer is 5.", "The answer is 4.", "Hmm."]
    right, samples = await live(texts, [0.95, 0.3, 0.6, 0.99], "best-of-n")
    assert right is True  # the live strategy skips the two unanswered samples
    assert [s.answer for s in samples] == [None, "5", "4", None]
    assert per_problem_curves([samples], [4])[BEST_OF_K][4] == (1.0,)


@pytest.mark.parametrize("seed", range(12))
async def test_curve_at_n_equals_live_strategies_on_random_samples(seed: int) -> None:
    rng = random.Random(seed)
    n = rng.randint(2, 6)
    texts = [
        f"Sample {i}. " + rng.choice(["The answer is 4.", "The answer is 5.", "The answer is 6.", "No idea."])
        for i in range(n)
    ]
    scores = [rng.choice([0.1, 0.5, 0.5, 0.9]) for _ in range(n)]
    best_right, best_samples = await live(texts, scores, "best-of-n")
    vote_right, vote_samples = await live(texts, scores, "self-consistency")
    assert per_problem_curves([best_samples], [n])[BEST_OF_K][n] == (float(best_right),)
    assert per_problem_curves([vote_samples], [n])[SELF_CONSISTENCY][n] == (float(vote_right),)
