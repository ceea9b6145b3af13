"""The library's front door: ``ponder.solve`` and ``ponder.asolve``."""

from __future__ import annotations

import asyncio
from typing import Any

from ponder.answers import AnswerExtractor, NumericExtractor
from ponder.engines.base import Engine
from ponder.engines.registry import DEFAULT_ENGINE, create_engine
from ponder.errors import InvalidInputError
from ponder.result import SolveResult
from ponder.settings import DEFAULT_SYSTEM_PROMPT, SolveSettings
from ponder.strategies import get_strategy


async def asolve(
    question: str,
    *,
    strategy: str = "self-consistency",
    budget: int = 8,
    engine: Engine | str | None = None,
    model: str | None = None,
    temperature: float | None = None,
    top_p: float = 1.0,
    max_tokens: int = 512,
    seed: int = 0,
    system_prompt: str | None = DEFAULT_SYSTEM_PROMPT,
    extractor: AnswerExtractor | None = None,
    engine_options: dict[str, Any] | None = None,
) -> SolveResult:
    """Answer ``question`` with ``strategy`` spending at most ``budget`` generations.

    ``engine`` is an engine instance (reused, not closed: the fast way to solve many questions)
    or an engine name (default: the embedded llama.cpp engine, created for this call and closed
    after it, with ``model`` and ``engine_options``).
    """
    if not question or not question.strip():
        raise InvalidInputError("the question is empty")
    settings = SolveSettings(budget=budget, max_tokens=max_tokens, temperature=temperature, top_p=top_p,
                             seed=seed, system_prompt=system_prompt)
    chosen = get_strategy(strategy)
    owned = engine is None or isinstance(engine, str)
    if owned:
        options = dict(engine_options or {})
        if model is not None:
            options["model"] = model
        backend = create_engine(engine or DEFAULT_ENGINE, **options)  # type: ignore[arg-type]
    else:
        if model is not None:
            raise InvalidInputError("pass `model` when ponder creates the engine, not with an engine instance")
        backend = engine  # type: ignore[assignment]
    try:
        return await chosen.run(question, backend, settings, extractor or NumericExtractor())
    finally:
        if owned:
            await backend.aclose()


def solve(question: str, **options: Any) -> SolveResult:
    """Synchronous :func:`asolve` (same arguments); for use outside an event loop."""
    return asyncio.run(asolve(question, **options))
