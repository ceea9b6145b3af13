"""ponder's HTTP engine against llama.cpp's own ``llama-server`` (issue #20 item 3): the batching
server that ``scripts/llama-server.sh`` builds and starts, serving the embedded model on 127.0.0.1
with 4 slots (no model is loaded in this process while it runs).

What the ``llama.cpp`` endpoint profile relies on, checked against the real server:

- detection (``Server: llama.cpp``, ``owned_by: llamacpp``) and ``GET /props`` (its slots, the chat
  template that continuations use through ``/v1/completions``);
- concurrency: a request's samples go out as concurrent requests and the server runs them in
  different slots at the same time (seen in ``GET /slots``), so they take less than one after another;
- its own ``n`` is capped at its slot count (why the profile fans samples out instead);
- streaming abort: ponder's per-sample stop closes that stream and the server stops generating
  it (its slot is idle at once, and its ``/metrics`` count little more tokens than ponder saw);
- prefix cache: a second request with the same long prompt reports cached prompt tokens
  (``usage.prompt_tokens_details.cached_tokens``), which ponder counts as not computed;
- logprobs of text completions come in the chat format (``logprobs.content``), read as such.

Skipped, with the reason, when llama-server is not built (``scripts/llama-server.sh --build-only``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from typing import Any

import httpx
import pytest
from tests.support.llama_server import BatchingLlamaServer, llama_server_missing

from ponder.engines.base import GenerationRequest, Message
from ponder.engines.http import OpenAIEngine
from ponder.engines.streaming import SampleDelta, SampleDone

SLOTS = 4
pytestmark = [
    pytest.mark.model,
    pytest.mark.skipif(llama_server_missing() is not None, reason=llama_server_missing() or ""),
]

QUESTION = "Sara had 15 pencils. She gave 6 to her friend. How many pencils does Sara have now?"
LONG = "Count from 1 to 500, separating the numbers with commas."


@pytest.fixture(scope="module")
def server() -> Iterator[BatchingLlamaServer]:
    running = BatchingLlamaServer(parallel=SLOTS, n_ctx=4096 * SLOTS, extra=("--metrics",))
    yield running
    running.stop()


@pytest.fixture
async def engine(server: BatchingLlamaServer) -> AsyncIterator[OpenAIEngine]:
    http = OpenAIEngine(base_url=server.url, timeout=120)
    yield http
    await http.aclose()


def metric(server: BatchingLlamaServer, name: str) -> float:
    """One of the server's ``/metrics`` counters (``llamacpp:NAME``), all requests together."""
    for line in httpx.get(f"{server.url}/metrics", timeout=5).text.splitlines():
        if line.startswith(f"llamacpp:{name} "):
            return float(line.split()[1])
    raise AssertionError(f"no llamacpp:{name} in /metrics")


def predicted(server: BatchingLlamaServer) -> float:
    """Tokens the server has generated so far."""
    return metric(server, "tokens_predicted_total")


async def slots(server: BatchingLlamaServer) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(timeout=5) as client:
        reply = await client.get(f"{server.url}/slots")
    reply.raise_for_status()
    return list(reply.json())


async def test_the_profile_is_detected_and_props_report_the_slots(
    server: BatchingLlamaServer, engine: OpenAIEngine
) -> None:
    [[reply]] = await engine.generate([GenerationRequest.chat(QUESTION, max_tokens=8, seed=1)])
    assert engine.profile.name == "llama.cpp" and not engine.profile.serves_one_at_a_time
    assert engine.capabilities.raw_continuation and engine.capabilities.prefix_cache  # template from /props
    assert reply.finish_reason in ("stop", "length") and 0 < reply.completion_tokens <= 8
    props = httpx.get(f"{server.url}/props", timeout=5).json()
    assert props["total_slots"] == SLOTS and props["chat_template"]


async def test_concurrent_samples_run_in_parallel_slots(server: BatchingLlamaServer, engine: OpenAIEngine) -> None:
    request = GenerationRequest.chat(LONG, n=SLOTS, max_tokens=96, temperature=0.8, seed=5)
    await engine.generate([request])  # warm: the prompt cached, the server's batch graphs built
    started = time.perf_counter()
    apart = [(await engine.generate([replace(request, n=1, first_index=i)]))[0][0] for i in range(SLOTS)]
    one_by_one = time.perf_counter() - started  # the same samples (same seeds), one after another

    busiest = 0
    done = asyncio.Event()

    async def watch() -> None:
        nonlocal busiest
        while not done.is_set():
            busiest = max(busiest, sum(bool(s["is_processing"]) for s in await slots(server)))
            await asyncio.sleep(0.05)

    watcher = asyncio.create_task(watch())
    tokens_before, decodes_before = predicted(server), metric(server, "n_decode_total")
    started = time.perf_counter()
    [together] = await engine.generate([request])
    at_once = time.perf_counter() - started
    done.set()
    await watcher
    per_decode = (predicted(server) - tokens_before) / (metric(server, "n_decode_total") - decodes_before)
    assert len(together) == SLOTS and len({c.text for c in together}) > 1  # seeded apart
    assert [c.completion_tokens for c in together] == [c.completion_tokens for c in apart]
    assert busiest == SLOTS  # all of them in the server at once, in as many slots
    tokens = sum(c.completion_tokens for c in together)
    print(
        f"{SLOTS} samples ({tokens} tokens): one by one {one_by_one:.2f} s, at once {at_once:.2f} s; "
        f"{per_decode:.2f} tokens per forward pass"
    )
    assert per_decode > 1.5  # the samples shared forward passes: batched, not queued (one token a pass)
    assert at_once < one_by_one  # about 0.35-0.75x here, with the machine's other load


async def test_the_servers_own_n_is_capped_at_its_slots(server: BatchingLlamaServer) -> None:
    body = {"model": "smollm2", "messages": [{"role": "user", "content": QUESTION}], "max_tokens": 4}
    async with httpx.AsyncClient(timeout=60) as client:
        capped = await client.post(f"{server.url}/v1/chat/completions", json={**body, "n": SLOTS + 1})
        fits = await client.post(f"{server.url}/v1/chat/completions", json={**body, "n": 2})
    assert capped.status_code == 400  # more than --parallel: refused, so the profile fans out instead
    assert fits.status_code == 200 and len(fits.json()["choices"]) == 2


async def test_a_stopped_stream_stops_the_server_generating(server: BatchingLlamaServer, engine: OpenAIEngine) -> None:
    request = GenerationRequest.chat(
        "Write a very long story about a lighthouse keeper and the sea.", max_tokens=1500, temperature=0.8, seed=3
    )  # whole, this sample runs to its 1500 tokens (about 50 s here)
    before = predicted(server)
    stream = engine.stream(request)
    seen = 0
    async for event in stream:
        if isinstance(event, SampleDelta):
            seen = event.tokens
            if seen >= 16 and not stream.stopped(0):
                assert any(s["is_processing"] for s in await slots(server))  # still generating when stopped
                stream.stop(0)
        elif isinstance(event, SampleDone):
            assert event.completion.finish_reason == "cancelled" and event.completion.completion_tokens == seen
    deadline = time.monotonic() + 5
    while any(s["is_processing"] for s in await slots(server)):  # freed at once, not after 1500 tokens
        assert time.monotonic() < deadline, "the server went on generating the stopped sample"
        await asyncio.sleep(0.1)
    decoded = predicted(server) - before
    assert seen <= decoded < seen + 64  # the server decoded little more than ponder saw


async def test_the_prefix_cache_is_reported_and_counted(engine: OpenAIEngine) -> None:
    background = " ".join(f"Fact {i}: the number {i} is {'even' if i % 2 == 0 else 'odd'}." for i in range(60))
    messages = (Message("system", background), Message("user", "Is 7 even or odd?"))
    first = GenerationRequest(messages=messages, max_tokens=4, temperature=0.0, seed=1)
    [[cold]] = await engine.generate([first])
    [[warm]] = await engine.generate([GenerationRequest(messages=messages, max_tokens=4, temperature=0.0, seed=2)])
    assert cold.usage.prompt_tokens == warm.usage.prompt_tokens > 400
    assert cold.usage.prompt_tokens_computed > 400
    assert warm.usage.prompt_tokens_computed < 16  # the rest came from the cache the server reported


async def test_text_completion_logprobs_in_the_chat_format_are_read(engine: OpenAIEngine) -> None:
    partial = GenerationRequest(
        messages=(Message("user", QUESTION),),
        assistant_prefix="Sara has",
        max_tokens=6,
        temperature=0.0,
        seed=1,
        logprobs=True,
        top_logprobs=3,
    )
    [[completion]] = await engine.generate([partial])
    assert completion.logprobs is not None and len(completion.logprobs) == completion.completion_tokens > 0
    first = completion.logprobs[0]
    assert first.logprob <= 0 and len(first.top) == 3 and first.token == first.top[0][0]
