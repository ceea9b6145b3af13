"""Sequence probability as a score: exp(mean token log-probability) of each candidate."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import ClassVar

from ponder.core.errors import InvalidInputError
from ponder.core.result import Candidate
from ponder.scorers.base import ScorerInfo


class SequenceProbability:
    """The model's own confidence in a sample (geometric mean of its token probabilities).

    Free: it reads logprobs recorded while sampling, so strategies using it sample with logprobs.
    """

    name: ClassVar[str] = "probability"
    info: ClassVar[ScorerInfo] = ScorerInfo(kind="orm", exact=False, cost="free (logprobs of the samples)")
    needs_logprobs: ClassVar[bool] = True

    async def score(self, question: str, candidates: Sequence[Candidate]) -> list[float]:
        """exp(mean token logprob); a failed sample (it has no tokens) scores 0."""
        live = [c for c in candidates if c.finish_reason != "error"]
        if any(c.mean_logprob is None for c in live):
            raise InvalidInputError("the probability scorer needs candidates sampled with logprobs")
        return [
            0.0 if c.finish_reason == "error" or c.mean_logprob is None else math.exp(c.mean_logprob)
            for c in candidates
        ]
