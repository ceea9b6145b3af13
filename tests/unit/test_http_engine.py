"""The HTTP engine against a scripted local server: payloads, n and fan-out, usage, faults."""

from __future__ import annotations

import asyncio
import math

import pytest
from tests.support.stub_server import Action, StubServer

import ponder
from ponder.core.errors import BackendUnavailableError, EngineTimeoutError, InvalidInputError, UpstreamError
from ponder.core.seeding import derive_seed
from ponder.engines.base import GenerationRequest, Message
from ponder.engines.http import OpenAIEngine, detect_profile

CHAT = GenerationRequest.chat("What is 2 + 2?", max_tokens=16, temperature=0.5, seed=3)


def engine_for(server: StubServer, **options: object) -> OpenAIEngine:
    return OpenAIEngine(base_url=server.url, retries=3, backoff=0.01, timeout=5, **options)  # type: ignore[arg-type]


async def test_profile_is_detected_and_the_model_chosen() -> None:
    with StubServer(owned_by="vllm") as server:
        engine = engine_for(server)
        await engine.generate([CHAT])
        assert engine.profile.name == "vllm"
        assert engine.info.model == "stub-model"
        await engine.aclose()


def test_detection_by_owner_and_headers() -> None:
    assert detect_profile({"data": [{"id": "m", "owned_by": "me"}]}, {}).name == "llama-cpp-python"
    assert detect_profile({"data": [{"id": "m", "owned_by": "library"}]}, {}).name == "ollama"
    assert detect_profile({}, {"server": "llama.cpp"}).name == "llama.cpp"
    assert detect_profile({"data": []}, {}).name == "generic"


async def test_server_n_is_used_where_supported() -> None:
    with StubServer(owned_by="vllm") as server:
        engine = engine_for(server)
        [completions] = await engine.generate([GenerationRequest.chat("q", n=4, seed=1)])
        assert len(server.posts()) == 1 and server.posts()[0][2]["n"] == 4
        assert [c.index for c in completions] == [0, 1, 2, 3]
        assert sum(c.usage.prompt_tokens_computed for c in completions) == 10 - 4  # cached tokens reported
        assert sum(c.usage.prompt_tokens for c in completions) == 40
        assert sum(c.completion_tokens for c in completions) == 28
        await engine.aclose()


async def test_fan_out_where_n_is_ignored_with_one_seed_per_sample() -> None:
    with StubServer(owned_by="me") as server:
        engine = engine_for(server)
        [completions] = await engine.generate([GenerationRequest.chat("q", n=3, seed=1, first_index=5)])
        posts = server.posts()
        assert len(posts) == 3 and all("n" not in body for _, _, body, _ in posts)
        assert len({body["seed"] for _, _, body, _ in posts}) == 3
        assert [c.index for c in completions] == [0, 1, 2]  # indices count within the request
        assert [body["seed"] for _, _, body, _ in posts] == [derive_seed(1, i) for i in (5, 6, 7)]  # identities 5..7
        assert all(body["max_tokens"] == 256 for _, _, body, _ in posts)
        await engine.aclose()


async def test_missing_choices_are_fetched_by_fan_out() -> None:
    with StubServer(owned_by="vllm") as server:
        one_choice = {
            "choices": [{"index": 0, "message": {"content": "The answer is 4."}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5},
        }
        server.script = [Action("ok", body=one_choice)]
        engine = engine_for(server)
        [completions] = await engine.generate([GenerationRequest.chat("q", n=3)])
        assert len(completions) == 3 and len(server.posts()) == 3
        await engine.aclose()


async def test_continue_final_message_on_vllm() -> None:
    with StubServer(owned_by="vllm") as server:
        engine = engine_for(server)
        request = GenerationRequest(messages=(Message("user", "count"),), assistant_prefix="1, 2,", max_tokens=5)
        await engine.generate([request])
        _, path, body, _ = server.posts()[0]
        assert path == "/v1/chat/completions"
        assert body["messages"][-1] == {"role": "assistant", "content": "1, 2,"}
        assert body["continue_final_message"] is True and body["add_generation_prompt"] is False
        await engine.aclose()


async def test_template_continuation_uses_text_completions() -> None:
    template = "{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}<assistant>"
    with StubServer(owned_by="me") as server:
        engine = engine_for(server, chat_template=template)
        request = GenerationRequest(messages=(Message("user", "count"),), assistant_prefix="1, 2,", max_tokens=5)
        [[completion]] = await engine.generate([request])
        _, path, body, _ = server.posts()[0]
        assert path == "/v1/completions" and body["prompt"] == "<user>count<assistant>1, 2,"
        assert completion.text.startswith("sample")
        await engine.aclose()
    with StubServer(owned_by="me") as server:
        engine = engine_for(server)
        with pytest.raises(InvalidInputError, match="chat template"):
            await engine.generate([request])
        await engine.aclose()


async def test_logprobs_are_parsed_from_chat_replies() -> None:
    reply = {
        "choices": [
            {
                "index": 0,
                "message": {"content": "Yes"},
                "finish_reason": "stop",
                "logprobs": {
                    "content": [
                        {
                            "token": "Yes",
                            "logprob": -0.1,
                            "top_logprobs": [{"token": "Yes", "logprob": -0.1}, {"token": "No", "logprob": -2.4}],
                        }
                    ]
                },
            }
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1},
    }
    with StubServer(owned_by="vllm") as server:
        server.script = [Action("ok", body=reply)]
        engine = engine_for(server)
        [[completion]] = await engine.generate([GenerationRequest.chat("q", max_tokens=1, top_logprobs=2)])
        assert server.posts()[0][2]["logprobs"] is True and server.posts()[0][2]["top_logprobs"] == 2
        assert completion.logprobs is not None and completion.logprobs[0].top[1] == ("No", -2.4)
        assert math.isclose(completion.logprobs[0].logprob, -0.1)
        await engine.aclose()


async def test_500_then_success_is_retried() -> None:
    with StubServer() as server:
        server.script = [Action("status", status=500), Action("status", status=503)]
        engine = engine_for(server)
        [[completion]] = await engine.generate([CHAT])
        assert completion.finish_reason == "stop" and "answer is 4" in completion.text
        assert len(server.posts()) == 3
        await engine.aclose()


async def test_429_waits_for_retry_after() -> None:
    with StubServer() as server:
        server.script = [Action("status", status=429, headers={"Retry-After": "1"})]
        engine = engine_for(server)
        await engine.generate([CHAT])
        (first, *_), (second, *_) = server.posts()
        assert second - first >= 0.9  # the server's Retry-After, not the 0.01 s backoff
        await engine.aclose()


async def test_a_hung_response_times_out_with_a_clear_error() -> None:
    with StubServer() as server:
        server.script = [Action("hang", seconds=3)] * 2
        engine = OpenAIEngine(base_url=server.url, retries=1, backoff=0.01, timeout=0.5)
        with pytest.raises(EngineTimeoutError, match=r"did not answer within 0\.5 s"):
            await engine.generate([CHAT])
        await engine.aclose()


async def test_malformed_json_is_a_clear_error() -> None:
    with StubServer() as server:
        server.script = [Action("garbage")]
        engine = engine_for(server)
        with pytest.raises(UpstreamError, match="not JSON"):
            await engine.generate([CHAT])
        await engine.aclose()


async def test_a_dropped_connection_is_retried() -> None:
    with StubServer() as server:
        server.script = [Action("partial"), Action("drop")]
        engine = engine_for(server)
        [[completion]] = await engine.generate([CHAT])
        assert completion.finish_reason == "stop"
        assert len(server.posts()) == 3
        await engine.aclose()


async def test_a_failed_sample_is_reported_and_the_rest_kept() -> None:
    with StubServer(owned_by="me") as server:
        doomed = derive_seed(0, 1)  # sample 1 of the request
        server.fail_when = lambda body: body.get("seed") == doomed
        engine = OpenAIEngine(base_url=server.url, retries=2, backoff=0.01, timeout=5)
        [completions] = await engine.generate([GenerationRequest.chat("q", n=3)])
        failed = [c for c in completions if c.finish_reason == "error"]
        assert len(failed) == 1 and failed[0].index == 1 and failed[0].text == "" and "500" in (failed[0].error or "")
        assert sum(c.finish_reason == "stop" for c in completions) == 2
        result = await ponder.asolve("What is 2 + 2?", engine=engine, budget=3)
        assert result.answer == "4" and result.votes == {"4": 2.0}
        assert [c.finish_reason for c in result.candidates] == ["stop", "error", "stop"]
        await engine.aclose()


async def test_every_sample_failing_raises() -> None:
    with StubServer() as server:
        server.script = [Action("status", status=502)] * 10
        engine = OpenAIEngine(base_url=server.url, retries=1, backoff=0.01, timeout=5)
        with pytest.raises(UpstreamError, match="502"):
            await engine.generate([GenerationRequest.chat("q", n=2)])
        await engine.aclose()


async def test_unreachable_server_is_a_typed_error() -> None:
    engine = OpenAIEngine(base_url="http://127.0.0.1:9", retries=0, timeout=2)
    with pytest.raises(BackendUnavailableError, match="cannot reach"):
        await engine.generate([CHAT])


async def test_api_key_is_sent_and_never_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PONDER_API_KEY", "sk-secret-123")
    with StubServer() as server:
        server.script = [Action("status", status=401)]
        engine = engine_for(server)
        with pytest.raises(UpstreamError) as caught:
            await engine.generate([CHAT])
        assert "API key" in str(caught.value) and "sk-secret-123" not in str(caught.value)
        assert "sk-secret-123" not in repr(engine)
        assert server.requests[0][3].get("Authorization") == "Bearer sk-secret-123"
        await engine.aclose()


def test_bad_engine_options_are_refused() -> None:
    with pytest.raises(InvalidInputError):
        OpenAIEngine(base_url="localhost:8000")
    with pytest.raises(ponder.core.errors.UnknownNameError):
        OpenAIEngine(base_url="http://x", profile="nope")


async def test_concurrency_limit_is_respected() -> None:
    with StubServer(owned_by="me") as server:
        engine = engine_for(server, concurrency=2)
        await asyncio.gather(engine.generate([GenerationRequest.chat("q", n=4)]))
        assert len(server.posts()) == 4
        await engine.aclose()


async def test_batched_samples_keep_their_identities_through_a_strategy() -> None:
    with StubServer(owned_by="vllm") as server:
        engine = engine_for(server)
        result = await ponder.asolve("q", engine=engine, budget=6, options={"batch": 2})
        assert [c.index for c in result.candidates] == [0, 1, 2, 3, 4, 5]
        await engine.aclose()


def test_one_engine_serves_several_event_loops() -> None:
    with StubServer() as server:
        engine = engine_for(server)
        first = ponder.solve("What is 2 + 2?", engine=engine, budget=2)
        second = ponder.solve("What is 2 + 2?", engine=engine, budget=2)  # a new asyncio.run, a new loop
        assert first.answer == second.answer == "4"


def test_an_unreadable_retry_after_falls_back_to_backoff() -> None:
    import httpx

    from ponder.engines.http.transport import retry_after

    assert retry_after(httpx.Response(429, headers={"Retry-After": "soon"})) is None
    assert retry_after(httpx.Response(429, headers={"Retry-After": "2"})) == 2.0
    assert retry_after(httpx.Response(429, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 -0000"})) == 0.0
