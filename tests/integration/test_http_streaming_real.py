"""OpenAIEngine.stream against a real server: llama-cpp-python's, serving the embedded model on
127.0.0.1, started by these tests (no model is loaded in this process while it runs).

llama-cpp-python's server serves one request at a time, so the engine streams the samples in
turn (concurrency 1); it honours ``seed`` (test_http_real.py relies on the same request giving
the same text), and it stops generating when a client closes its stream.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from tests.support.llama_server import LlamaServer

from ponder.engines.base import GenerationRequest, Message
from ponder.engines.http import OpenAIEngine
from ponder.engines.streaming import SampleDelta, SampleDone, StreamEvent

pytestmark = pytest.mark.model

QUESTION = "Sara had 15 pencils. She gave 6 to her friend. How many pencils does Sara have now?"
REQUEST = GenerationRequest.chat(QUESTION, n=3, max_tokens=32, temperature=0.8, seed=7)


@pytest.fixture(scope="module")
def server() -> Iterator[LlamaServer]:
    running = LlamaServer()
    yield running
    running.stop()


@pytest.fixture
async def engine(server: LlamaServer) -> AsyncIterator[OpenAIEngine]:
    http = OpenAIEngine(base_url=server.url, chat_template=server.model_path, timeout=120)
    # the prompt into the server's cache first, so that every sample below (streamed or not)
    # starts from the same cached prompt: only its last token is evaluated again
    await http.generate([GenerationRequest.chat(QUESTION, max_tokens=1, seed=1)])
    yield http
    await http.aclose()


async def test_a_stopped_sample_leaves_the_others_as_generate_makes_them(engine: OpenAIEngine) -> None:
    stream = engine.stream(REQUEST)
    events: list[StreamEvent] = []
    async for event in stream:
        events.append(event)
        if isinstance(event, SampleDelta) and event.index == 1 and not stream.stopped(1):
            stream.stop(1)
    assert engine.profile.name == "llama-cpp-python" and engine.capabilities.streams
    done = {e.index: e.completion for e in events if isinstance(e, SampleDone)}
    assert sorted(done) == [0, 1, 2]
    [generated] = await engine.generate([REQUEST])  # the same seeds, whole
    for i in range(3):
        deltas = [e for e in events if isinstance(e, SampleDelta) and e.index == i]
        assert "".join(d.text for d in deltas) == done[i].text
        assert [d.tokens for d in deltas] == sorted(d.tokens for d in deltas)
    assert done[1].finish_reason == "cancelled"
    assert generated[1].text.startswith(done[1].text) and len(done[1].text) < len(generated[1].text)
    for i in (0, 2):
        assert done[i].text == generated[i].text
        assert done[i].finish_reason == generated[i].finish_reason
        assert abs(done[i].completion_tokens - generated[i].completion_tokens) <= 2  # chunks counted, not usage


async def test_a_cancelled_stream_frees_the_server(engine: OpenAIEngine) -> None:
    request = GenerationRequest.chat(
        "Write a long story about a lighthouse keeper.", n=2, max_tokens=400, temperature=0.8, seed=3
    )
    stream = engine.stream(request)
    async for event in stream:
        if isinstance(event, SampleDelta):
            stream.cancel()
            break
    completions = await stream.completions()
    assert [c.finish_reason for c in completions] == ["cancelled", "cancelled"]
    assert len(completions[0].text) < 200 and completions[1].text == ""  # sample 1 was never sent
    [[after]] = await engine.generate([GenerationRequest.chat(QUESTION, max_tokens=4, seed=2)])
    assert after.finish_reason in ("stop", "length") and after.completion_tokens <= 4  # the server serves on


async def test_text_completions_stream_a_partial_answer(engine: OpenAIEngine) -> None:
    request = GenerationRequest(
        messages=(Message("user", "Count from 1 to 10."),), assistant_prefix="1, 2, 3, 4,", max_tokens=6, temperature=0
    )
    [streamed] = await engine.stream(request).completions()
    [[whole]] = await engine.generate([request])
    assert streamed.text == whole.text and streamed.text.startswith(" 5, 6")
