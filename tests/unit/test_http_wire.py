"""Replies of the wrong shape from an OpenAI-compatible server: a typed error naming the field,
never a traceback (issue #17, item 3), and text that is not valid Unicode refused (item 2)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from click.testing import CliRunner
from tests.support.stub_server import Action, StubServer

from ponder.cli.main import cli
from ponder.core.errors import InvalidInputError, UpstreamError
from ponder.engines.base import GenerationRequest
from ponder.engines.http import OpenAIEngine

CHAT = GenerationRequest.chat("What is 2 + 2?", max_tokens=16, seed=3)
GOOD_CHOICE = {"index": 0, "message": {"role": "assistant", "content": "4"}, "finish_reason": "stop"}


def engine_for(server: StubServer, **options: Any) -> OpenAIEngine:
    return OpenAIEngine(base_url=server.url, retries=2, backoff=0.01, timeout=5, **options)


def reply(**fields: Any) -> dict[str, Any]:
    return {"id": "x", "choices": [GOOD_CHOICE], "usage": {"prompt_tokens": 3, "completion_tokens": 1}, **fields}


WRONG_REPLIES = {
    "usage": reply(usage="garbage"),
    "usage.prompt_tokens": reply(usage={"prompt_tokens": "abc"}),
    "usage.completion_tokens": reply(usage={"completion_tokens": -5}),
    "choices.0": reply(choices=[1, 2]),
    "choices": reply(choices=[]),
    "choices.0.index": reply(choices=[{**GOOD_CHOICE, "index": "a"}]),
    "choices.0.message.content": reply(choices=[{**GOOD_CHOICE, "message": {"content": 42}}]),
    "choices.0.message": reply(choices=[{"index": 0, "finish_reason": "stop"}]),
    "choices.0.logprobs.content.0.logprob": reply(
        choices=[{**GOOD_CHOICE, "logprobs": {"content": [{"token": "4", "logprob": "x"}]}}]
    ),
}


@pytest.mark.parametrize("field", list(WRONG_REPLIES))
async def test_a_reply_of_the_wrong_shape_is_an_upstream_error_naming_the_field(field: str) -> None:
    with StubServer() as server:
        server.script = [Action("ok", body=WRONG_REPLIES[field])]
        engine = engine_for(server)
        with pytest.raises(UpstreamError, match=re.escape(f"/v1/chat/completions reply has the wrong shape: {field}")):
            await engine.generate([CHAT])
        assert len(server.posts()) == 1  # a wrong reply is not retried
        await engine.aclose()


async def test_text_completion_replies_are_checked_too() -> None:
    with StubServer() as server:
        server.script = [Action("ok", body={"choices": [{"index": 0, "text": 7}]})]
        engine = engine_for(server)
        with pytest.raises(UpstreamError, match=r"choices\.0\.text: Input should be a valid string"):
            await engine.generate([GenerationRequest(text="2 + 2 =", max_tokens=4)])
        await engine.aclose()


async def test_a_lone_surrogate_from_the_server_is_refused() -> None:
    with StubServer() as server:
        server.script = [Action("ok", body=reply(choices=[{**GOOD_CHOICE, "message": {"content": "4\ud800"}}]))]
        engine = engine_for(server)
        with pytest.raises(UpstreamError, match=r"content: Value error, text is not valid UTF-8 text: a lone"):
            await engine.generate([CHAT])
        await engine.aclose()


@pytest.mark.parametrize(
    ("models", "field"),
    [({"data": 5}, "data"), ({"data": [{"id": 7}]}, "data.0.id"), ([1], "the reply")],
)
async def test_a_model_list_of_the_wrong_shape_is_an_upstream_error(models: Any, field: str) -> None:
    with StubServer() as server:
        server.models = models
        engine = engine_for(server)
        with pytest.raises(UpstreamError, match=re.escape(f"/v1/models has the wrong shape: {field}:")):
            await engine.generate([CHAT])
        assert server.posts() == []
        await engine.aclose()


async def test_an_error_object_with_status_200_is_reported_as_the_servers_error() -> None:
    with StubServer() as server:
        server.script = [Action("ok", body={"error": {"message": "model overloaded"}})]
        engine = engine_for(server)
        with pytest.raises(UpstreamError, match="answered with an error: model overloaded"):
            await engine.generate([CHAT])
        await engine.aclose()


WRONG_CHUNKS = {
    "choices.0.delta.content": {"choices": [{"index": 0, "delta": {"content": 42}}]},
    "choices.0.index": {"choices": [{"index": "a", "delta": {"content": "4"}}]},
    "choices.0": {"choices": [1, 2]},
    "usage": {"choices": [], "usage": "garbage"},
    "choices.0.logprobs.content.0.logprob": {
        "choices": [{"index": 0, "delta": {"content": "4"}, "logprobs": {"content": [{"token": "4", "logprob": "x"}]}}]
    },
}


@pytest.mark.parametrize("field", list(WRONG_CHUNKS))
async def test_a_streamed_chunk_of_the_wrong_shape_fails_the_stream_naming_the_field(field: str) -> None:
    with StubServer(owned_by="vllm") as server:
        server.script = [Action("ok", body=[WRONG_CHUNKS[field]])]
        engine = engine_for(server)
        with pytest.raises(UpstreamError, match=re.escape(f"stream has the wrong shape: {field}:")):
            await engine.stream(CHAT).completions()
        await engine.aclose()


def test_the_cli_prints_one_line_for_a_reply_of_the_wrong_shape() -> None:
    with StubServer() as server:
        server.script = [Action("ok", body=reply(choices=[1, 2]))] * 8
        result = CliRunner().invoke(
            cli, ["solve", "What is 2 + 2?", "--engine", "openai", "--base-url", server.url, "-n", "1"]
        )
    assert result.exit_code != 0 and "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error:") and "choices.0: Input should be a valid dictionary" in line


async def test_text_that_is_not_unicode_never_reaches_the_server() -> None:
    with StubServer() as server:
        engine = engine_for(server)
        with pytest.raises(InvalidInputError, match="not valid UTF-8"):
            await engine.generate([GenerationRequest.chat("What is 2 + 2? \udcff")])
        with pytest.raises(InvalidInputError, match="model name is not valid UTF-8"):
            OpenAIEngine("qwen\ud800", base_url=server.url)
        with pytest.raises(InvalidInputError, match="printable ASCII") as caught:
            OpenAIEngine(base_url=server.url, api_key="sk-\udcffsecret")
        assert "secret" not in str(caught.value)
        assert server.requests == []
        await engine.aclose()
