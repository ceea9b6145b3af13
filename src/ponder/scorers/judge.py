"""Self-evaluation by a model, read from the probability of its one-word verdict.

``SelfEvalJudge`` asks "is this solution correct?" and scores P(yes). ``RestartJudge`` is the
capability-aware self-evaluation of Manvi et al. 2024 ("Adaptive Inference-Time Compute"): after
a (possibly partial) answer it asks "would you do better if you started over?" and scores
P(no), the model's belief that more samples will not beat this one. Both read the verdict's
probability from the first token's top log-probabilities (one token generated per candidate,
all candidates in one batch), normalised over the yes and no tokens; 0.5 when neither shows.

Where the chat that produced a candidate is known (:attr:`Candidate.prompt`, recorded by the
step context's sampling calls), the judge asks its question as the next turn of that chat:
``prompt + [assistant: candidate text, user: the judge's question]``. Its tokens then begin with
exactly the tokens of the sample (the sample's prompt and text), which the embedded engine still
holds in its prefix cache (and an HTTP server's prefix cache, vLLM's or llama.cpp's, finds the
same prefix), so the judge computes little more than its own question. Without a known chat, or
with ``reuse_cache=False`` (for measuring the difference), the judge asks in a fresh prompt that
quotes the question and the solution.
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


def verdict_request(messages: tuple[Message, ...]) -> GenerationRequest:
    """The one-token question at temperature 0, with the top log-probabilities a verdict is read from."""
    return GenerationRequest(messages=messages, max_tokens=1, temperature=0.0, top_logprobs=TOP_LOGPROBS)


def continued(prompt: tuple[Message, ...], reply: str, question: str) -> tuple[Message, ...]:
    """``prompt`` answered by ``reply`` and followed by ``question``: a judge's turn after a sample,
    whose tokens start with the sample's own (its prompt, then its text, untouched)."""
    return prompt + (Message("assistant", reply), Message("user", question))


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
    """Shared machinery: one yes/no question per candidate, batched in one engine call; asked as
    the next turn of the candidate's own chat when it is known and ``reuse_cache`` (see the
    module docstring), else in a fresh prompt."""

    verdict: ClassVar[str]
    follow_up: ClassVar[str]  # the question asked as the next turn of the candidate's chat

    def __init__(self, engine: Engine, *, reuse_cache: bool = True) -> None:
        self.engine = engine
        self.reuse_cache = reuse_cache

    def request(self, question: str, candidate: Candidate) -> GenerationRequest:
        """The one-token question asked about ``candidate``."""
        if self.reuse_cache and candidate.prompt is not None:
            return verdict_request(continued(candidate.prompt, candidate.text, self.follow_up))
        return verdict_request(self.fresh(question, candidate))

    @abstractmethod
    def fresh(self, question: str, candidate: Candidate) -> tuple[Message, ...]:
        """The chat that asks about ``candidate`` from scratch (no chat of the sample known)."""

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
    follow_up: ClassVar[str] = "Is the final answer of the solution above correct? Reply with Yes or No."

    def fresh(self, question: str, candidate: Candidate) -> tuple[Message, ...]:
        prompt = (
            f"Question: {question}\n\nProposed solution: {candidate.text.strip()}\n\n"
            "Is the proposed solution's final answer correct? Reply with Yes or No."
        )
        return (Message("user", prompt),)


class RestartJudge(_VerdictJudge):
    """Scores P(no) to "Would you do better if you started over?" after the candidate's text."""

    name: ClassVar[str] = "restart"
    info: ClassVar[ScorerInfo] = ScorerInfo(kind="orm", exact=False, cost="one 1-token engine call per candidate")
    verdict: ClassVar[str] = "no"
    follow_up: ClassVar[str] = "Would you do better if you started over? Reply with Yes or No."

    def fresh(self, question: str, candidate: Candidate) -> tuple[Message, ...]:
        return continued((Message("user", question),), candidate.text.strip() or "...", self.follow_up)
