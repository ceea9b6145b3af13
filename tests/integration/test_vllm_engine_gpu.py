"""The in-process vLLM engine on a real GPU with a real model (``scripts/gpu-check.sh`` runs these).

Skipped unless vLLM is installed, CUDA is available and ``$PONDER_VLLM_MODEL`` names a small
Hugging Face chat model (e.g. ``Qwen/Qwen2.5-0.5B-Instruct``). The model is loaded once for the
module, at a modest share of GPU memory.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

import ponder
from ponder.engines.base import GenerationRequest
from ponder.engines.registry import create_engine
from ponder.engines.streaming import SampleDelta, SampleDone
from ponder.engines.vllm import VLLMEngine

MODEL = os.environ.get("PONDER_VLLM_MODEL", "")


def _why_skipped() -> str | None:
    if importlib.util.find_spec("vllm") is None:
        return "vLLM is not installed (pip install 'ponder[vllm]')"
    if importlib.util.find_spec("torch") is None:
        return "PyTorch is not installed"
    import torch

    if not torch.cuda.is_available():
        return "no CUDA device"
    if not MODEL:
        return "set PONDER_VLLM_MODEL to a small Hugging Face chat model"
    return None


REASON = _why_skipped()
pytestmark = [pytest.mark.gpu, pytest.mark.skipif(REASON is not None, reason=REASON or "")]


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def engine() -> AsyncIterator[VLLMEngine]:
    created = create_engine("vllm", model=MODEL, max_model_len=2048, gpu_memory_utilization=0.5)
    assert isinstance(created, VLLMEngine)
    yield created
    await created.aclose()


async def test_samples_come_back_with_usage_logprobs_and_a_shared_prompt(engine: VLLMEngine) -> None:
    await engine.reset_prefix_cache()
    request = GenerationRequest.chat("What is 12 * 7? Answer briefly.", n=4, max_tokens=48, top_logprobs=3, seed=1)
    [row] = await engine.generate([request])
    assert len(row) == 4 and [c.index for c in row] == [0, 1, 2, 3]
    assert all(c.finish_reason in ("stop", "length") and c.completion_tokens > 0 for c in row)
    for completion in row:
        assert completion.logprobs is not None and len(completion.logprobs) == completion.completion_tokens
        assert all(t.logprob <= 0 and 1 <= len(t.top) <= 3 for t in completion.logprobs)
        assert all(t.top[i][1] >= t.top[i + 1][1] for t in completion.logprobs for i in range(len(t.top) - 1))
    prompt = row[0].usage.prompt_tokens
    assert prompt == engine.count_tokens(request)
    computed = [c.usage.prompt_tokens_computed for c in row]
    assert computed[0] == prompt and sum(computed[1:]) < 3 * prompt  # the others started from the cache


async def test_the_same_identity_gives_the_same_sample(engine: VLLMEngine) -> None:
    request = GenerationRequest.chat("Name a colour.", n=1, max_tokens=16, temperature=1.0, seed=5)
    [[first]] = await engine.generate([request])
    [[again]] = await engine.generate([request])
    assert first.text == again.text


async def test_stop_strings_and_token_caps(engine: VLLMEngine) -> None:
    count = GenerationRequest.chat("Count from 1 to 20, one number per line.", max_tokens=200, temperature=0.0)
    [[stopped], [capped]] = await engine.generate(
        [GenerationRequest.chat(count.messages[0].content, stop=("5",), max_tokens=200, temperature=0.0), count]
    )
    assert stopped.finish_reason == "stop" and "5" not in stopped.text and stopped.stop_sequence == "5"
    [[short]] = await engine.generate([GenerationRequest.chat(count.messages[0].content, max_tokens=4)])
    assert short.finish_reason == "length" and short.completion_tokens == 4
    assert capped.completion_tokens > 4


async def test_a_stopped_sample_ends_early_and_the_others_go_on(engine: VLLMEngine) -> None:
    request = GenerationRequest.chat("Write a long story about a lighthouse.", n=2, max_tokens=300, seed=3)
    stream = engine.stream(request)
    done = {}
    async for event in stream:
        if isinstance(event, SampleDelta) and event.index == 1 and event.tokens >= 3:
            stream.stop(1)
        elif isinstance(event, SampleDone):
            done[event.index] = event.completion
    assert done[1].finish_reason == "cancelled" and done[1].completion_tokens < 100
    assert done[0].finish_reason in ("stop", "length") and done[0].completion_tokens > done[1].completion_tokens


async def test_concurrent_callers_and_a_strategy(engine: VLLMEngine) -> None:
    questions = [f"What is {i} + {i}? Answer with the number." for i in range(8)]
    results = await asyncio.gather(
        *(ponder.asolve(q, engine=engine, strategy="self-consistency", budget=4, max_tokens=64) for q in questions)
    )
    assert all(len(r.candidates) == 4 and r.usage.completion_tokens > 0 for r in results)
    assert sum(r.answer == str(2 * i) for i, r in enumerate(results)) >= 4  # a chat model gets most of these
