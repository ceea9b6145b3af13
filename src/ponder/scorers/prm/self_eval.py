"""A process reward from self-evaluation: the model asked whether the steps so far are right.

Self-evaluation as a value signal for step-level search follows Xie et al. 2023 ("Self-Evaluation
Guided Beam Search for Reasoning"); reading the verdict's probability from the first token's
log-probabilities is how ponder's :class:`~ponder.scorers.judge.SelfEvalJudge` works, and this PRM
reuses it (:func:`~ponder.scorers.judge.verdict_probability`). It needs no reward model, so it
runs with the embedded model (the generator judges itself by default, or pass any engine).

Two ways of asking, chosen by ``aggregation``:

- ``whole`` (default): one question per partial answer: "are the steps so far correct, and are
  they likely to lead to the correct final answer?" The score is P(yes); ``score_steps`` returns
  one score per partial.
- ``last``, ``min``, ``product``: one question per step, with the earlier steps shown as context:
  "is the newest step correct?" ``score_steps`` returns a score for every step. Step scores are
  memoised per (question, steps up to it), so a search that extends a partial by one step pays
  for one new question, not for the whole prefix again.

Each question is a one-token request at temperature 0 with the top log-probabilities; all the
questions of one ``score_steps`` call go to the engine in ONE ``generate`` call (one batch).
Identical partials in a call (a particle filter's resampled copies) are asked once.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import ClassVar

from ponder.core.result import Candidate
from ponder.engines.base import Engine, GenerationRequest, Message
from ponder.scorers.base import ScorerInfo
from ponder.scorers.judge import TOP_LOGPROBS, verdict_probability
from ponder.scorers.prm.base import (
    DEFAULT_DELIMITER,
    NEUTRAL_SCORE,
    Aggregation,
    StepScorer,
    check_aggregation,
    split_steps,
)

WHOLE_QUESTION = ("Are the steps so far correct, and are they likely to lead to the correct final answer? "
                  "Reply with Yes or No.")
STEP_QUESTION = "Is the newest step correct, given the question and the earlier steps? Reply with Yes or No."
CACHE_SIZE = 65536


def _numbered(steps: Sequence[str]) -> str:
    """The steps as "Step 1: ...", one paragraph each."""
    return "\n\n".join(f"Step {i}: {step.strip()}" for i, step in enumerate(steps, 1))


class SelfEvalPRM(StepScorer):
    """P(yes) that the steps so far are correct, asked of ``engine``; see the module docstring."""

    name: ClassVar[str] = "self-eval-prm"
    info: ClassVar[ScorerInfo] = ScorerInfo(kind="prm", exact=False,
                                            cost="one 1-token engine call per new partial (whole) or new step")

    def __init__(self, engine: Engine, aggregation: Aggregation = "whole", *,
                 delimiter: str = DEFAULT_DELIMITER, cache_size: int = CACHE_SIZE) -> None:
        self.engine = engine
        self.aggregation = check_aggregation(aggregation)
        self.delimiter = delimiter
        self._cache: OrderedDict[tuple[str, tuple[str, ...]], float] = OrderedDict()
        self._cache_size = cache_size

    def request(self, question: str, steps: Sequence[str]) -> GenerationRequest:
        """The one-token question about ``steps`` (the whole partial, or its last step in context)."""
        if self.aggregation == "whole":
            prompt = f"Question: {question}\n\nSteps so far:\n\n{_numbered(steps)}\n\n{WHOLE_QUESTION}"
        else:
            earlier = _numbered(steps[:-1]) if len(steps) > 1 else "(none)"
            prompt = (f"Question: {question}\n\nEarlier steps:\n\n{earlier}\n\n"
                      f"Newest step: {steps[-1].strip()}\n\n{STEP_QUESTION}")
        return GenerationRequest(messages=(Message("user", prompt),), max_tokens=1, temperature=0.0,
                                 top_logprobs=TOP_LOGPROBS)

    def _remember(self, key: tuple[str, tuple[str, ...]], score: float) -> None:
        """Cache a verdict, forgetting the least recently used beyond ``cache_size``."""
        self._cache[key] = score
        self._cache.move_to_end(key)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    async def _ask(self, question: str, prefixes: list[tuple[str, ...]]) -> None:
        """Ask about every prefix not in the cache, in one engine call, and cache the answers."""
        todo = list(dict.fromkeys(p for p in prefixes if (question, p) not in self._cache))
        if not todo:
            return
        results = await self.engine.generate([self.request(question, p) for p in todo])
        for prefix, row in zip(todo, results, strict=True):
            completion = row[0]
            if completion.finish_reason != "error":  # a failed verdict is neutral now, asked again later
                self._remember((question, prefix), verdict_probability(completion, "yes"))

    def _lookup(self, question: str, prefix: tuple[str, ...]) -> float:
        """The cached verdict on ``prefix``; neutral when it could not be had."""
        key = (question, prefix)
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        return NEUTRAL_SCORE

    async def score_steps(self, question: str, steps: Sequence[Sequence[str]]) -> list[list[float]]:
        """P(yes) per partial (``whole``) or per step (otherwise); an empty partial gets ``[]``."""
        partials = [tuple(s.strip() for s in partial) for partial in steps]
        if self.aggregation == "whole":
            await self._ask(question, [p for p in partials if p])
            return [[self._lookup(question, p)] if p else [] for p in partials]
        prefixes = [p[:k] for p in partials for k in range(1, len(p) + 1)]
        await self._ask(question, prefixes)
        return [[self._lookup(question, p[:k]) for k in range(1, len(p) + 1)] for p in partials]

    async def score(self, question: str, candidates: Sequence[Candidate]) -> list[float]:
        """As :meth:`StepScorer.score`; with ``last`` only each candidate's last step is asked about."""
        if self.aggregation != "last":
            return await super().score(question, candidates)
        partials = [tuple(split_steps(c.text, self.delimiter)) if c.finish_reason != "error" else None
                    for c in candidates]
        await self._ask(question, [p for p in partials if p])
        return [0.0 if p is None else self._lookup(question, p) if p else NEUTRAL_SCORE for p in partials]
