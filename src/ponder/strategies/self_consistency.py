"""Self-consistency (Wang et al. 2023): sample N solutions, answer by majority vote.

Algorithm: draw ``budget`` samples of one prompt at temperature T (default 0.8) in a single
engine call (a forking engine computes the prompt once), extract and normalise each final
answer, and return the answer with the most votes. Samples without an answer do not vote;
ties go to the answer that appeared first (sample order is fixed by the seed, so this is
deterministic).
"""

from __future__ import annotations

from typing import ClassVar

from ponder.answers import AnswerExtractor
from ponder.engines.base import Engine, GenerationRequest
from ponder.result import SolveResult
from ponder.settings import SolveSettings
from ponder.strategies.base import MeteredEngine, engine_description, question_messages, to_candidates
from ponder.strategies.voting import tally, winner

DEFAULT_TEMPERATURE = 0.8


class SelfConsistency:
    """Majority vote over the extracted answers of ``budget`` samples."""

    name: ClassVar[str] = "self-consistency"
    summary: ClassVar[str] = "N samples, majority vote over extracted answers"

    async def run(
        self, question: str, engine: Engine, settings: SolveSettings, extractor: AnswerExtractor
    ) -> SolveResult:
        meter = MeteredEngine(engine)
        temperature = DEFAULT_TEMPERATURE if settings.temperature is None else settings.temperature
        request = GenerationRequest(
            messages=question_messages(question, settings), n=settings.budget,
            max_tokens=settings.max_tokens, temperature=temperature, top_p=settings.top_p, seed=settings.seed,
        )
        [completions] = await meter.generate([request])
        candidates = to_candidates(completions, extractor)
        votes = tally([c.answer for c in candidates])
        answer = winner(votes)
        return SolveResult(
            question=question, answer=answer, strategy=self.name, candidates=candidates, votes=votes,
            usage=meter.final_usage(),
            trace=[
                {"step": "sample", "n": settings.budget, "temperature": temperature},
                {"step": "vote", "votes": votes, "answer": answer,
                 "unanswered": sum(c.answer is None for c in candidates)},
            ],
            params={"budget": settings.budget, "temperature": temperature,
                    "max_tokens": settings.max_tokens, "seed": settings.seed},
            engine=engine_description(engine),
        )
