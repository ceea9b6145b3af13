"""Interrupts on the embedded model (issue #21): a hard interrupt during decoding returns within one
decode step plus the answer cue's tokens, with answers from partial reasoning; an update's
continuation reuses the cached prompt and partial text; no interrupt changes nothing."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

import ponder
from ponder.context.interrupts import InterruptSettings, answer_cue
from ponder.engines.llama import LlamaEngine

pytestmark = pytest.mark.model

QUESTION = "Sara had 15 pencils. She gave 6 to her friend. How many pencils does Sara have now?"
CUE = answer_cue("math")


async def test_a_hard_interrupt_answers_from_the_partial_reasoning(llama_engine: LlamaEngine) -> None:
    settings = InterruptSettings(answer_tokens=12)
    run = ponder.start(QUESTION, llama_engine, budget=4, max_tokens=200, seed=3, interrupt_settings=settings)
    run.interrupt_at(20, "hard")
    result = await asyncio.wait_for(run.run(), 120)
    assert result.stop_reason == "interrupted"
    entry = next(e for e in result.trace if e["action"] == "interrupt")
    concluded = [s for s in entry["samples"] if s["concluded"]]
    assert concluded, entry
    for record in concluded:
        assert record["tokens"] <= 22  # stopped within a decode step of the point (a delta may hold 2 tokens)
        assert record["extra_tokens"] <= settings.answer_tokens
    texts = [c.text for c in result.candidates if CUE in c.text]
    assert len(texts) == len(concluded)
    assert result.usage.interrupt_tokens == entry["extra_tokens"]


async def test_an_update_continues_on_the_cached_prefix(llama_engine: LlamaEngine) -> None:
    llama_engine.reset_cache()
    run = ponder.start(QUESTION, llama_engine, strategy="greedy", budget=1, max_tokens=120, seed=3)
    run.interrupt_at(30, "update", "She gave 7 pencils, not 6.")
    result = await asyncio.wait_for(run.run(), 120)
    [candidate] = result.candidates
    assert "[Update from the user: She gave 7 pencils, not 6.]" in candidate.text
    step = result.trace[0]["usage"]
    # The continuation's prompt (question + 30 tokens + the note) was mostly served from the cache.
    assert step["prompt_tokens_computed"] < step["prompt_tokens"] - 30


async def test_no_interrupt_gives_the_plain_run(llama_engine: LlamaEngine) -> None:
    options = {"budget": 3, "max_tokens": 40, "seed": 5}
    llama_engine.reset_cache()
    plain = await ponder.asolve(QUESTION, engine=llama_engine, **options)
    llama_engine.reset_cache()
    live = await ponder.start(QUESTION, llama_engine, **options).run()
    assert [c.text for c in live.candidates] == [c.text for c in plain.candidates]
    assert dataclasses.replace(live.usage, wall_seconds=0) == dataclasses.replace(
        plain.usage, wall_seconds=0, prompt_tokens_computed=live.usage.prompt_tokens_computed
    )
