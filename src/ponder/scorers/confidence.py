"""Trace confidence as a score (DeepConf; Fu et al. 2025): free, read off the samples' top logprobs.

A candidate's score is its trace confidence (:mod:`ponder.core.confidence`) by ``kind``
(``bottom10`` by default: the mean of its lowest 10% of sliding-window groups, the paper's
best offline signal), with the window :func:`~ponder.core.confidence.default_window` sets for the
trace's length. Strategies using it sample with the top ``TOP_K`` alternatives of each token.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from ponder.core.confidence import TraceScore, default_window, trace_score
from ponder.core.errors import InvalidInputError
from ponder.core.result import Candidate
from ponder.scorers.base import ScorerInfo

TOP_K = 20  # the paper's k (the top-20 logprobs vLLM returns)


class TraceConfidence:
    """The model's confidence along a sample (higher: a more peaked distribution all along)."""

    name: ClassVar[str] = "confidence"
    info: ClassVar[ScorerInfo] = ScorerInfo(kind="orm", exact=False, cost="free (top logprobs of the samples)")
    needs_logprobs: ClassVar[bool] = True
    needs_top_logprobs: ClassVar[int] = TOP_K

    def __init__(self, kind: TraceScore = "bottom10") -> None:
        self.kind = kind

    async def score(self, question: str, candidates: Sequence[Candidate]) -> list[float]:
        """Each candidate's trace confidence; a failed sample (no tokens) scores 0."""
        live = [c for c in candidates if c.finish_reason != "error"]
        if any(c.confidences is None for c in live):
            raise InvalidInputError(
                "the confidence scorer needs candidates sampled with top logprobs "
                "(an engine that returns them: the embedded one, vLLM, SGLang, llama.cpp)"
            )
        return [
            trace_score(c.confidences, self.kind, window=default_window(len(c.confidences))) if c.confidences else 0.0
            for c in candidates
        ]
