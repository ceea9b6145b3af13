"""Continuous batching in the embedded engine, on the real model: many callers, one batch."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from ponder.engines.base import GenerationRequest
from ponder.engines.llama import LlamaEngine
from ponder.engines.streaming import SampleDelta, SampleDone

pytestmark = pytest.mark.model

COWS = "A farmer has 7 cows and buys 5 more. How many cows does he have?"
APPLES = "Tom has 3 boxes with 4 apples in each box. How many apples does Tom have?"


def chat(question: str, **options: object) -> GenerationRequest:
    return GenerationRequest.chat(question, **options)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def engine() -> Iterator[LlamaEngine]:
    engine = LlamaEngine(n_ctx=4096, n_seq_max=16)
    yield engine
    engine.close()


async def test_two_callers_share_the_batch_and_each_gets_its_own_samples(engine: LlamaEngine) -> None:
    cows, apples = (
        chat(COWS, n=3, max_tokens=40, temperature=0.8, seed=1),
        chat(APPLES, n=3, max_tokens=40, temperature=0.8, seed=2),
    )
    steps = engine.scheduler.decode_steps
    alone = [await engine.generate([cows]), await engine.generate([apples])]
    sequential = engine.scheduler.decode_steps - steps
    steps = engine.scheduler.decode_steps
    together = await asyncio.gather(engine.generate([cows]), engine.generate([apples]))
    assert engine.scheduler.decode_steps - steps < sequential  # the two callers decoded in the same steps
    for (row,), (single,), request in zip(together, alone, (cows, apples), strict=True):
        assert [c.index for c in row] == [0, 1, 2]
        assert all(c.usage.prompt_tokens == engine.count_tokens(request) for c in row)  # its own prompt
        assert all(c.finish_reason in ("stop", "length") and c.text for c in row)
        assert len(single) == 3


async def test_deterministic_mode_gives_each_caller_the_texts_it_gets_alone() -> None:
    engine = LlamaEngine(n_ctx=4096, n_seq_max=16, deterministic=True)
    try:
        cows, apples = (
            chat(COWS, n=2, max_tokens=32, temperature=0.9, seed=4),
            chat(APPLES, n=2, max_tokens=32, temperature=0.9, seed=5),
        )
        engine.reset_cache()
        one_by_one = [await engine.generate([cows]), await engine.generate([apples])]
        engine.reset_cache()
        together = await asyncio.gather(engine.generate([cows]), engine.generate([apples]))
        assert [[c.text for c in row] for [row] in together] == [[c.text for c in row] for [row] in one_by_one]
    finally:
        engine.close()


async def test_a_long_prompt_is_prefilled_in_chunks_while_others_decode() -> None:
    engine = LlamaEngine(n_ctx=4096, n_seq_max=8, prefill_chunk=64)
    try:
        running = engine.stream(chat(COWS, n=2, max_tokens=96, temperature=0.8, seed=3, stop=("zzzz",)))
        long_question = "Here is some context. " * 120 + APPLES
        deltas_while_prefilling = 0
        long_stream = None
        async for event in running:
            if long_stream is None and isinstance(event, SampleDelta):
                long_stream = engine.stream(chat(long_question, max_tokens=8, temperature=0.0))
                prompt = engine.count_tokens(long_stream.request)
                assert prompt > 4 * 64  # several chunks
                steps_at_admission = engine.scheduler.decode_steps
            elif long_stream is not None and isinstance(event, SampleDelta):
                deltas_while_prefilling += 1
        assert long_stream is not None
        [done] = await long_stream.completions()
        assert done.usage.prompt_tokens_computed > 4 * 64 and done.completion_tokens >= 1
        assert engine.scheduler.decode_steps - steps_at_admission >= 4
        assert deltas_while_prefilling >= 4  # the running samples kept growing while the prompt went in
    finally:
        engine.close()


async def test_cancelling_one_caller_leaves_the_others_untouched(engine: LlamaEngine) -> None:
    kept = asyncio.ensure_future(engine.generate([chat(COWS, n=2, max_tokens=48, temperature=0.7, seed=8)]))
    doomed = engine.stream(chat(APPLES, n=3, max_tokens=200, temperature=0.7, seed=9, stop=("zzzz",)))
    async for event in doomed:
        if isinstance(event, SampleDelta):
            doomed.cancel()
            break
    ended = await doomed.completions()
    assert "cancelled" in {c.finish_reason for c in ended} and max(c.completion_tokens for c in ended) < 200
    [row] = await kept
    assert [c.index for c in row] == [0, 1] and all(c.finish_reason in ("stop", "length") for c in row)


async def test_a_stopped_sample_ends_at_the_next_step_and_frees_its_cells() -> None:
    # 4 sequences and 700 cells: one request of 2 samples x 300 tokens fills them; a second must wait
    engine = LlamaEngine(n_ctx=700, n_seq_max=4)
    try:
        hog = engine.stream(chat(COWS, n=2, max_tokens=300, temperature=0.8, seed=2, stop=("zzzz",)))
        waiting = asyncio.ensure_future(engine.generate([chat(APPLES, max_tokens=300, temperature=0.0)]))
        seen: dict[int, int] = {}
        asked = False
        async for event in hog:
            if isinstance(event, SampleDelta) and event.tokens >= 3 and not asked:
                asked = True  # between two steps, on the engine's thread: exact counts, then the stop
                seen = await asyncio.to_thread(engine.scheduler.call, lambda: _stop_all(engine, hog))
            if isinstance(event, SampleDone) and event.index in seen:
                assert event.completion.finish_reason == "cancelled"
                assert event.completion.completion_tokens == seen[event.index]  # not one token after the stop
        assert seen  # at least one sample was still running when it was stopped
        [[answer]] = await asyncio.wait_for(waiting, 120)  # admitted once the stopped samples freed the room
        assert answer.finish_reason in ("stop", "length")
    finally:
        engine.close()


def _stop_all(engine: LlamaEngine, stream: object) -> dict[int, int]:
    """On the worker thread: each live sample's token count, then stop it."""
    counts = engine.scheduler.live_samples(stream)
    for index in counts:
        stream.stop(index)  # type: ignore[attr-defined]
    return counts


async def test_kv_pressure_makes_requests_wait_not_fail() -> None:
    engine = LlamaEngine(n_ctx=900, n_seq_max=8)
    try:
        requests = [
            chat(q, n=2, max_tokens=150, temperature=0.8, seed=s)
            for s, q in enumerate([COWS, APPLES, COWS + " Explain.", APPLES + " Explain."])
        ]
        rows = await asyncio.gather(*(engine.generate([r]) for r in requests))
        assert [len(row[0]) for row in rows] == [2, 2, 2, 2]
        assert all(c.finish_reason in ("stop", "length") for row in rows for c in row[0])
    finally:
        engine.close()
