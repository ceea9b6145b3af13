"""OpenAIEngine.stream against the scripted local server: one SSE stream per sample, per-sample
stop closing only that stream, cancel, the fallback to whole samples, and error mapping."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from tests.support.stub_server import Action, StubServer, completion_body, stream_chunks

from ponder.core.errors import BackendUnavailableError, EngineError, InvalidInputError, UpstreamError
from ponder.core.seeding import derive_seed
from ponder.engines.base import GenerationRequest, Message
from ponder.engines.http import PROFILES, OpenAIEngine
from ponder.engines.http.transport import _sse_data
from ponder.engines.streaming import SampleDelta, SampleDone, SampleStream, StreamEvent

LONG = " ".join(f"w{i}" for i in range(40))


def engine_for(server: StubServer, **options: object) -> OpenAIEngine:
    settings: dict[str, object] = {"retries": 2, "backoff": 0.01, "timeout": 5, **options}
    return OpenAIEngine(base_url=server.url, **settings)  # type: ignore[arg-type]


async def events_of(stream: SampleStream, stop_after: dict[int, int] | None = None) -> list[StreamEvent]:
    """Every event of ``stream``, stopping sample i after its ``stop_after[i]``-th delta."""
    seen: list[StreamEvent] = []
    deltas: dict[int, int] = {}
    async for event in stream:
        seen.append(event)
        if isinstance(event, SampleDelta):
            deltas[event.index] = deltas.get(event.index, 0) + 1
            if stop_after and deltas[event.index] == stop_after.get(event.index):
                stream.stop(event.index)
    return seen


def joined(events: list[StreamEvent], index: int) -> str:
    return "".join(e.text for e in events if isinstance(e, SampleDelta) and e.index == index)


def finals(events: list[StreamEvent]) -> dict[int, SampleDone]:
    return {e.index: e for e in events if isinstance(e, SampleDone)}


def test_profiles_declare_streaming() -> None:
    assert {name for name, p in PROFILES.items() if p.streams} == {
        "vllm",
        "sglang",
        "llama-cpp-python",
        "llama.cpp",
        "ollama",
        "openai",
    }
    assert not PROFILES["llama-cpp-python"].stream_usage and PROFILES["vllm"].stream_usage
    assert OpenAIEngine(base_url="http://x", profile="vllm").capabilities.streams
    assert not OpenAIEngine(base_url="http://x", profile="generic").capabilities.streams


async def test_deltas_arrive_in_order_and_end_as_generate_does() -> None:
    request = GenerationRequest.chat("q", n=3, seed=4, first_index=2, max_tokens=32)
    with StubServer() as server:
        engine = engine_for(server, profile="llama.cpp")  # one request per sample, usage in streams
        events = await events_of(engine.stream(request))
        posts = server.posts()
        assert sorted(body["seed"] for _, _, body, _ in posts) == sorted(derive_seed(4, i) for i in (2, 3, 4))
        assert all(
            body["stream"] is True and body["stream_options"] == {"include_usage": True} and "n" not in body
            for _, _, body, _ in posts
        )
        [generated] = await engine.generate([request])
        await engine.aclose()
    done = finals(events)
    assert [done[i].completion for i in range(3)] == generated  # text, finish, usage: all as generate has them
    for i in range(3):
        deltas = [e for e in events if isinstance(e, SampleDelta) and e.index == i]
        assert len(deltas) == 7 and joined(events, i) == generated[i].text
        assert [d.tokens for d in deltas] == list(range(1, 8))
        assert events.index(done[i]) > events.index(deltas[-1])  # its deltas, then its end
    assert generated[0].usage.prompt_tokens == 10 and generated[0].usage.prompt_tokens_computed == 6


async def test_stop_closes_only_that_samples_stream() -> None:
    request = GenerationRequest.chat("q", n=3, seed=1)
    with StubServer(owned_by="vllm") as server:
        server.chunk_delay, server.stream_text = 0.02, (lambda body: LONG)
        engine = engine_for(server)
        stream = engine.stream(request)
        events = await events_of(stream, stop_after={1: 1})
        seeds = [derive_seed(1, i) for i in range(3)]
        records = [server.stream_of(seed) for seed in seeds]
        last_start = max(t for t, *_ in server.posts())
        await engine.aclose()
    assert [r.outcome for r in records] == ["completed", "closed", "completed"]
    assert last_start < min(r.ended_at for r in records)  # all three in flight at once
    done = finals(events)
    assert done[1].completion.finish_reason == "cancelled"
    assert done[1].completion.text == joined(events, 1) and len(done[1].completion.text) < len(LONG)
    assert done[1].completion.completion_tokens == len(done[1].completion.text.split())
    assert [done[i].completion.text for i in (0, 2)] == [LONG, LONG]
    assert [done[i].completion.finish_reason for i in (0, 2)] == ["stop", "stop"]
    assert [c.index for c in await stream.completions()] == [0, 1, 2]


async def test_cancel_closes_every_stream() -> None:
    with StubServer(owned_by="vllm") as server:
        server.chunk_delay, server.stream_text = 0.02, (lambda body: LONG)
        engine = engine_for(server)
        stream = engine.stream(GenerationRequest.chat("q", n=3))
        async for event in stream:
            if isinstance(event, SampleDelta):
                stream.cancel()
                break
        completions = await stream.completions()
        outcomes = [server.stream_of(record.seed).outcome for record in list(server.streams)]
        await engine.aclose()
    assert [c.finish_reason for c in completions] == ["cancelled"] * 3
    assert outcomes and set(outcomes) == {"closed"}
    assert all(len(c.text) < len(LONG) for c in completions)


async def test_one_at_a_time_servers_stream_in_turn_and_unstarted_samples_cost_nothing() -> None:
    with StubServer(owned_by="me") as server:  # llama-cpp-python: concurrency 1
        server.chunk_delay = 0.01
        engine = engine_for(server)
        stream = engine.stream(GenerationRequest.chat("q", n=3, seed=2))
        stream.stop(2)
        events = await events_of(stream)
        bodies = [body for _, _, body, _ in server.posts()]
        await engine.aclose()
    assert [b["seed"] for b in bodies] == [derive_seed(2, 0), derive_seed(2, 1)]  # sample 2 was never sent
    assert all("stream_options" not in b for b in bodies)  # the server ignores it
    first_of_1 = next(k for k, e in enumerate(events) if e.index == 1)
    assert all(e.index == 0 for e in events[:first_of_1] if isinstance(e, SampleDelta))  # one stream at a time
    done = finals(events)
    assert done[2].completion.finish_reason == "cancelled" and done[2].completion.text == ""
    assert done[0].completion.completion_tokens == 7  # no usage in the stream: one token per chunk
    assert done[0].completion.usage.prompt_tokens == 0  # and no prompt count


async def test_fallback_to_whole_samples_where_the_profile_cannot_stream() -> None:
    with StubServer() as server:
        engine = engine_for(server, profile="generic")
        events = await events_of(engine.stream(GenerationRequest.chat("q", n=2, seed=3)))
        bodies = [body for _, _, body, _ in server.posts()]
        await engine.aclose()
    assert len(bodies) == 2 and not any("stream" in b for b in bodies)
    assert [type(e).__name__ for e in events if e.index == 0] == ["SampleDelta", "SampleDone"]
    done = finals(events)
    for i in range(2):
        assert joined(events, i) == done[i].completion.text == f"sample seed={derive_seed(3, i)} i=0. The answer is 4."
        assert done[i].completion.finish_reason == "stop" and done[i].completion.completion_tokens == 7


async def test_a_server_that_ignores_stream_is_read_whole() -> None:
    with StubServer(owned_by="vllm") as server:
        server.script = [Action("ok", body=completion_body({"messages": [], "seed": 9}, text="whole reply"))]
        engine = engine_for(server)
        [completion] = await engine.stream(GenerationRequest.chat("q")).completions()
        await engine.aclose()
    assert completion.text == "whole reply" and completion.finish_reason == "stop"
    assert completion.usage.prompt_tokens == 10 and completion.completion_tokens == 7


async def test_logprobs_and_text_completions_stream() -> None:
    template = "{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}<assistant>"
    request = GenerationRequest(messages=(Message("user", "count"),), assistant_prefix="1, 2,", top_logprobs=1)
    with StubServer(owned_by="me") as server:
        engine = engine_for(server, chat_template=template)
        events = await events_of(engine.stream(request))
        _, path, body, _ = server.posts()[0]
        await engine.aclose()
    assert path == "/v1/completions" and body["prompt"] == "<user>count<assistant>1, 2," and body["logprobs"] == 1
    deltas = [e for e in events if isinstance(e, SampleDelta)]
    assert all(len(d.logprobs) == 1 and d.logprobs[0].token == d.text for d in deltas)
    [done] = finals(events).values()
    assert done.completion.logprobs is not None and len(done.completion.logprobs) == 7
    assert done.completion.completion_tokens == 7 and done.completion.sum_logprob == pytest.approx(-3.5)


async def test_finish_reasons_and_stop_strings_are_read_from_the_last_chunk() -> None:
    def chunks(finish: str, stop_reason: object) -> list[dict[str, Any]]:
        body = stream_chunks({"messages": [], "seed": 0}, text="two words")
        body[-1]["choices"][0].update(finish_reason=finish, stop_reason=stop_reason)
        return body

    with StubServer(owned_by="vllm") as server:
        server.script = [Action("ok", body=chunks("stop", "END")), Action("ok", body=chunks("length", None))]
        engine = engine_for(server, concurrency=1)
        first, second = await engine.stream(GenerationRequest.chat("q", n=2, stop=("END",))).completions()
        await engine.aclose()
    assert (first.finish_reason, first.stop_sequence, first.text) == ("stop", "END", "two words")
    assert (second.finish_reason, second.stop_sequence) == ("length", None)


async def test_a_failure_before_the_first_byte_is_retried() -> None:
    with StubServer(owned_by="vllm") as server:
        server.script = [Action("status", status=503), Action("drop")]
        engine = engine_for(server)
        [completion] = await engine.stream(GenerationRequest.chat("q")).completions()
        await engine.aclose()
    assert completion.finish_reason == "stop" and len(server.posts()) == 3


async def test_a_stream_that_breaks_off_fails_its_sample_only() -> None:
    with StubServer(owned_by="me") as server:  # one at a time: sample 0 gets the scripted fault
        server.script = [Action("stream-drop", after=2)]
        engine = engine_for(server)
        events = await events_of(engine.stream(GenerationRequest.chat("q", n=2)))
        posts = len(server.posts())
        await engine.aclose()
    done = finals(events)
    assert joined(events, 0) == "sample seed=" + str(derive_seed(0, 0))  # two words arrived first
    assert done[0].completion.finish_reason == "error" and done[0].completion.text == ""
    assert "broke off" in (done[0].completion.error or "")
    assert done[1].completion.finish_reason == "stop"
    assert posts == 2  # bytes had arrived: not retried


async def test_an_error_event_and_a_stream_cut_short_fail_their_samples() -> None:
    cut = stream_chunks({"messages": [], "seed": 0}, text="no finish")[:-1]  # no finish_reason chunk
    with StubServer(owned_by="me") as server:
        server.script = [Action("stream-error", after=1), Action("ok", body=cut)]
        engine = engine_for(server)
        first, second, third = await engine.stream(GenerationRequest.chat("q", n=3)).completions()
        await engine.aclose()
    assert first.finish_reason == "error" and "mid-stream" in (first.error or "")
    assert second.finish_reason == "error" and "cut short" in (second.error or "")
    assert third.finish_reason == "stop"


async def test_every_sample_failing_raises() -> None:
    with StubServer(owned_by="vllm") as server:
        server.script = [Action("status", status=502)] * 10
        engine = engine_for(server, retries=1)
        with pytest.raises(UpstreamError, match="502"):
            await engine.stream(GenerationRequest.chat("q", n=2)).completions()
        await engine.aclose()


async def test_a_failed_sample_among_good_ones_is_reported() -> None:
    with StubServer(owned_by="vllm") as server:
        doomed = derive_seed(0, 1)
        server.fail_when = lambda body: body.get("seed") == doomed
        engine = engine_for(server)
        completions = await engine.stream(GenerationRequest.chat("q", n=3)).completions()
        tries = sum(body.get("seed") == doomed for _, _, body, _ in server.posts())
        await engine.aclose()
    assert [c.finish_reason for c in completions] == ["stop", "error", "stop"]
    assert "500" in (completions[1].error or "") and tries == 3  # retried: nothing had arrived


async def test_a_request_the_profile_cannot_serve_raises() -> None:
    request = GenerationRequest(messages=(Message("user", "count"),), assistant_prefix="1,")
    with StubServer(owned_by="me") as server:
        engine = engine_for(server)
        with pytest.raises(InvalidInputError, match="chat template"):
            await engine.stream(request).completions()
        await engine.aclose()


async def test_a_client_error_is_not_retried() -> None:
    with StubServer(owned_by="vllm") as server:
        server.script = [Action("status", status=400)]
        engine = engine_for(server)
        with pytest.raises(UpstreamError, match="400"):
            await engine.stream(GenerationRequest.chat("q")).completions()
        assert len(server.posts()) == 1
        await engine.aclose()


async def test_server_sent_events_are_parsed() -> None:
    async def lines(*items: str) -> AsyncIterator[str]:
        for item in items:
            yield item

    async def read(*items: str) -> list[object]:
        return [data async for data in _sse_data(lines(*items), "here")]

    assert await read(
        ": ping",
        "",
        'data: {"a": 1}',
        "",
        "event: x",
        'data: {"b":',
        "data: 2}",
        "",
        "data: [DONE]",
        "",
        'data: {"c": 3}',
        "",
    ) == [{"a": 1}, {"b": 2}]
    assert await read('data: {"a": 1}') == [{"a": 1}]  # the last event, without its blank line
    with pytest.raises(UpstreamError, match="mid-stream: boom"):
        await read("error: boom", "")
    with pytest.raises(UpstreamError, match="not JSON"):
        await read("data: <html>", "")


async def test_streams_of_one_engine_run_concurrently_with_generate() -> None:
    with StubServer(owned_by="vllm") as server:
        server.chunk_delay = 0.01
        engine = engine_for(server)
        streamed, generated = await asyncio.gather(
            engine.stream(GenerationRequest.chat("q", n=2)).completions(),
            engine.generate([GenerationRequest.chat("r", n=2)]),
        )
        await engine.aclose()
    assert [c.finish_reason for c in streamed + generated[0]] == ["stop"] * 4


async def test_an_unreachable_server_fails_the_stream() -> None:
    engine = OpenAIEngine(base_url="http://127.0.0.1:9", retries=0, timeout=2)
    with pytest.raises(BackendUnavailableError, match="cannot reach"):
        await engine.stream(GenerationRequest.chat("q", n=2)).completions()


async def test_closing_the_engine_ends_its_streams() -> None:
    with StubServer(owned_by="vllm") as server:
        server.chunk_delay, server.stream_text = 0.02, (lambda body: LONG)
        engine = engine_for(server)
        events = aiter(engine.stream(GenerationRequest.chat("q", n=2)))
        first = await anext(events)
        await engine.aclose()
        with pytest.raises(EngineError, match="closed"):
            async for _ in events:
                pass
        assert isinstance(first, SampleDelta)
        assert {server.stream_of(record.seed).outcome for record in list(server.streams)} == {"closed"}
