"""Step-level search on the embedded model with the self-evaluation PRM."""

from __future__ import annotations

import pytest

import ponder
from ponder.engines.llama import LlamaEngine

pytestmark = pytest.mark.model

QUESTION = "Sam had 9 dimes in his bank. His dad gave him 7 dimes. How many dimes does Sam have now?"
SEARCHES = ["beam-search", "dvts", "particle-filtering", "particle-gibbs", "a-star"]
COMMON = {"budget": 4, "max_tokens": 96, "seed": 5, "temperature": 0.8}


@pytest.mark.parametrize("strategy", SEARCHES)
async def test_search_on_the_embedded_model(llama_engine: LlamaEngine, strategy: str) -> None:
    result = await ponder.asolve(
        QUESTION, engine=llama_engine, strategy=strategy, options={"step_tokens": 48, "max_steps": 4}, **COMMON
    )
    assert result.stop_reason == "done"
    assert result.candidates and len(result.candidates) <= COMMON["budget"]
    assert all(c.score is not None and 0.0 <= c.score <= 1.0 for c in result.candidates)
    assert len({round(c.score, 6) for c in result.candidates}) >= 1
    assert result.usage.scorer_calls >= 1 and result.usage.scorer_tokens > 0  # the PRM ran on real logprobs
    assert result.usage.completion_tokens >= max(c.completion_tokens for c in result.candidates)
    assert result.trace and all("action" in step for step in result.trace)
    # every continuation after the first step reused a cached prefix: far less computed than requested
    if len(result.trace) > 1:
        assert result.usage.prompt_tokens_computed < result.usage.prompt_tokens / 2


async def test_particle_filtering_reproduces_with_a_fresh_cache(llama_engine: LlamaEngine) -> None:
    options = {"step_tokens": 32, "max_steps": 3}
    llama_engine.reset_cache()
    first = await ponder.asolve(QUESTION, engine=llama_engine, strategy="particle-filtering", options=options, **COMMON)
    llama_engine.reset_cache()
    second = await ponder.asolve(
        QUESTION, engine=llama_engine, strategy="particle-filtering", options=options, **COMMON
    )
    assert [c.text for c in first.candidates] == [c.text for c in second.candidates]
    assert [step.get("ancestors") for step in first.trace] == [step.get("ancestors") for step in second.trace]


async def test_steps_end_at_the_delimiter(llama_engine: LlamaEngine) -> None:
    """A step is text up to the delimiter: with sentences as steps and at most 3 steps, no
    solution holds more than 3 sentences."""
    result = await ponder.asolve(
        QUESTION,
        engine=llama_engine,
        strategy="beam-search",
        options={"delimiter": ".", "max_steps": 3, "width": 2},
        **COMMON,
    )
    assert result.trace[0]["expanded"] == 4
    assert all(candidate.text.count(".") <= 3 for candidate in result.candidates)
    assert result.usage.engine_calls <= 3
