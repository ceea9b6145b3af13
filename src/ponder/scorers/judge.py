"""Self-evaluation by a model, read from the probability of its one-word verdict.

``SelfEvalJudge`` asks "is this solution correct?" and scores P(yes). ``RestartJudge`` is the
capability-aware self-evaluation of Manvi et al. 2024 ("Adaptive Inference-Time Compute"): after
a (possibly partial) answer it asks "would you do better if you started over?" and scores
P(no), the model's belief that more samples will not beat this one. Both read the verdict's
probability from the first token's top log-probabilities (one token generated per candidate,
all candidates in one batch), normalised over the yes and no tokens; 0.5 when neither shows.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import ClassVar

from ponder.core.result import Candidate
from ponder.engines.base import Completion, Engine, GenerationRequest, Message
from ponder.scorers.base import ScorerInfo

TOP_LOGPROBS = 10


def verdict_probability(completion: Completion, word: str) -> float:
    """P(``word``) / (P(yes) + P(no)) at the first generated token."""
    if not completion.logprobs:
        return 0.5
    first = completion.logprobs[0]
    options = first.top or ((first.token, first.logprob),)
    mass = {"yes": 0.0, "no": 0.0}
    for token, logprob in options:
        key = token.strip().strip(".").lower()
        if key in mass:
            mass[key] += math.exp(logprob)
    total = mass["yes"] + mass["no"]
    return mass[word] / total if total > 0 else 0.5


class _VerdictJudge(ABC):
    """Shared machinery: one yes/no question per candidate, batched in one engine call."""

    verdict: ClassVar[str]

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @abstractmethod
    def request(self, question: str, candidate: Candidate) -> GenerationRequest:
        """The one-token question asked about ``candidate``."""

    async def score(self, question: str, candidates: Sequence[Candidate]) -> list[float]:
        if not candidates:
            return []
        results = await self.engine.generate([self.request(question, c) for c in candidates])
        return [verdict_probability(row[0], self.verdict) for row in results]


class SelfEvalJudge(_VerdictJudge):
    """Scores P(yes) to "Is this solution correct?" asked of a model (the generator by default)."""

    name: ClassVar[str] = "self-eval"
    info: ClassVar[ScorerInfo] = ScorerInfo(kind="orm", exact=False, cost="one 1-token engine call per candidate")
    verdict: ClassVar[str] = "yes"

    def request(self, question: str, candidate: Candidate) -> GenerationRequest:
        prompt = (
            f"Question: {question}\n\nProposed solution: {candidate.text.strip()}\n\n"
            "Is the proposed solution's final answer correct? Reply with Yes or No."
        )
        return GenerationRequest(messages=(Message("user", prompt),), max_tokens=1, temperature=0.0,
                                 top_logprobs=TOP_LOGPROBS)


class RestartJudge(_VerdictJudge):
    """Scores P(no) to "Would you do better if you started over?" after the candidate's text."""

    name: ClassVar[str] = "restart"
    info: ClassVar[ScorerInfo] = ScorerInfo(kind="orm", exact=False, cost="one 1-token engine call per candidate")
    verdict: ClassVar[str] = "no"

    def request(self, question: str, candidate: Candidate) -> GenerationRequest:
        messages = (
            Message("user", question),
            Message("assistant", candidate.text.strip() or "..."),
            Message("user", "Would you do better if you started over? Reply with Yes or No."),
        )
        return GenerationRequest(messages=messages, max_tokens=1, temperature=0.0, top_logprobs=TOP_LOGPROBS)
