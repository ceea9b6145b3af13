"""Greedy decoding: one generation at temperature 0 (the baseline every strategy must beat)."""

from __future__ import annotations

from typing import ClassVar

from ponder.answers import AnswerExtractor
from ponder.engines.base import Engine, GenerationRequest
from ponder.result import SolveResult
from ponder.settings import SolveSettings
from ponder.strategies.base import MeteredEngine, engine_description, question_messages, to_candidates
from ponder.strategies.voting import tally


class Greedy:
    """One sample; temperature 0 unless the caller sets one. Uses one generation of the budget."""

    name: ClassVar[str] = "greedy"
    summary: ClassVar[str] = "one generation at temperature 0"

    async def run(
        self, question: str, engine: Engine, settings: SolveSettings, extractor: AnswerExtractor
    ) -> SolveResult:
        meter = MeteredEngine(engine)
        temperature = 0.0 if settings.temperature is None else settings.temperature
        request = GenerationRequest(
            messages=question_messages(question, settings), n=1, max_tokens=settings.max_tokens,
            temperature=temperature, top_p=settings.top_p, seed=settings.seed,
        )
        [[completion]] = await meter.generate([request])
        candidates = to_candidates([completion], extractor)
        return SolveResult(
            question=question, answer=candidates[0].answer, strategy=self.name, candidates=candidates,
            votes=tally([candidates[0].answer]), usage=meter.final_usage(),
            trace=[{"step": "generate", "n": 1, "temperature": temperature}],
            params={"temperature": temperature, "max_tokens": settings.max_tokens, "seed": settings.seed},
            engine=engine_description(engine),
        )
