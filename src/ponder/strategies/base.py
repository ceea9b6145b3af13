"""What every strategy shares: the contract, a metered engine, and candidate building."""

from __future__ import annotations

import time
from typing import Any, ClassVar, Protocol, Sequence

from ponder.answers import AnswerExtractor
from ponder.engines.base import Completion, Engine, GenerationRequest, Message
from ponder.result import Candidate, SolveResult
from ponder.settings import SolveSettings
from ponder.usage import Usage, total


class Strategy(Protocol):
    """An inference-time strategy: spend a budget of generations on one question."""

    name: ClassVar[str]
    summary: ClassVar[str]

    async def run(
        self, question: str, engine: Engine, settings: SolveSettings, extractor: AnswerExtractor
    ) -> SolveResult: ...


class MeteredEngine:
    """Wraps an engine and adds up what its calls cost (one engine call per batch)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.usage = Usage()
        self._started = time.perf_counter()

    async def generate(self, requests: Sequence[GenerationRequest]) -> list[list[Completion]]:
        results = await self.engine.generate(requests)
        spent = total([c.usage for row in results for c in row])
        self.usage = self.usage + spent + Usage(engine_calls=1)
        return results

    def final_usage(self) -> Usage:
        """Usage so far with the wall time since the meter was made."""
        return self.usage + Usage(wall_seconds=time.perf_counter() - self._started)


def question_messages(question: str, settings: SolveSettings) -> tuple[Message, ...]:
    """The chat that poses a question, with the settings' system prompt."""
    system = (Message("system", settings.system_prompt),) if settings.system_prompt else ()
    return system + (Message("user", question),)


def to_candidates(completions: Sequence[Completion], extractor: AnswerExtractor) -> list[Candidate]:
    return [
        Candidate(text=c.text, answer=extractor(c.text), finish_reason=c.finish_reason,
                  completion_tokens=c.completion_tokens)
        for c in completions
    ]


def engine_description(engine: Engine) -> dict[str, Any]:
    return {"name": engine.info.name, "model": engine.info.model}
