"""The OpenAI-compatible server through the official ``openai`` client and raw HTTP.

Every test serves a scripted :class:`FakeEngine` (or a small fake defined here) with uvicorn on
127.0.0.1; no model is loaded.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import re
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import httpx
import openai
import pytest
from tests.support.app_server import AppServer

from ponder.core.errors import BackendUnavailableError, InvalidInputError
from ponder.engines.base import Completion, GenerationRequest, Message
from ponder.engines.fake import FakeEngine, Script
from ponder.serve import ServeConfig, create_app

QUESTION = "What is 2 + 2?"
ASK = [{"role": "user", "content": QUESTION}]


def voting_text(seed: int, sample: int) -> str:
    """Samples 0, 2, 3, 5, 6, ... answer 4; samples 1, 4, 7, ... answer 5 (4 wins any vote)."""
    return f"Sample {sample} with seed {seed}. The answer is {5 if sample % 3 == 1 else 4}."


def voting_script(request: GenerationRequest, index: int) -> str:
    return voting_text(request.seed, request.first_index + index)


def arithmetic_script(request: GenerationRequest, index: int) -> str:
    """Answers 'What is A + B?' from the last user message, as a model that can add would."""
    assert request.messages is not None
    a, b = (int(x) for x in re.findall(r"-?\d+", request.messages[-1].content)[:2])
    return f"{a} plus {b} makes {a + b}. The answer is {a + b}."


def words(text: str) -> int:
    return len(text.split())


class GenerateOnly(FakeEngine):
    """A FakeEngine that does not stream: its streams (a watched run's samples) go through its
    ``generate``, which the fakes below override."""

    def __init__(self, script: Script) -> None:
        super().__init__(script)
        self.capabilities = dataclasses.replace(self.capabilities, streams=False)


class SlowEngine(GenerateOnly):
    """A FakeEngine whose every call takes ``delay`` seconds; counts calls in flight."""

    def __init__(self, script: Script, delay: float) -> None:
        super().__init__(script)
        self.delay = delay
        self.active = self.peak = 0

    async def generate(self, requests: Sequence[GenerationRequest]) -> list[list[Completion]]:
        self.active += 1
        self.peak = max(self.peak, self.active)
        try:
            await asyncio.sleep(self.delay)
            return await super().generate(requests)
        finally:
            self.active -= 1


class GatedEngine(GenerateOnly):
    """Holds every call until ``release`` is set (threading events: the server has its own thread)."""

    def __init__(self, script: Script) -> None:
        super().__init__(script)
        self.entered = threading.Event()
        self.release = threading.Event()

    async def generate(self, requests: Sequence[GenerationRequest]) -> list[list[Completion]]:
        self.entered.set()
        while not self.release.is_set():
            await asyncio.sleep(0.005)
        return await super().generate(requests)


class DownEngine(GenerateOnly):
    """A backend that cannot be reached."""

    async def generate(self, requests: Sequence[GenerationRequest]) -> list[list[Completion]]:
        self.calls += 1
        raise BackendUnavailableError("down")


@contextmanager
def serve(engine: Any = None, **config: Any) -> Iterator[AppServer]:
    with AppServer(create_app(engine or FakeEngine(voting_script), ServeConfig(**config))) as server:
        yield server


def client_for(server: AppServer, key: str = "none", **options: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url + "/v1", api_key=key, max_retries=0, **options)


def async_client_for(server: AppServer, key: str = "none") -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=server.url + "/v1", api_key=key, max_retries=0)


def chat_url(server: AppServer) -> str:
    return server.url + "/v1/chat/completions"


@pytest.fixture(scope="module")
def server() -> Iterator[AppServer]:
    """One server for the tests that only read: the voting script, default limits."""
    with serve() as running:
        yield running


@pytest.fixture(scope="module")
def client(server: AppServer) -> Iterator[openai.OpenAI]:
    with client_for(server) as made:
        yield made


# -- non-streaming ---------------------------------------------------------------------------


def test_majority_answer_and_usage(client: openai.OpenAI) -> None:
    response = client.chat.completions.create(
        model="ponder", messages=ASK, seed=7, extra_body={"ponder": {"strategy": "self-consistency", "budget": 3}}
    )
    assert response.object == "chat.completion" and response.model == "ponder" and response.id.startswith("chatcmpl-")
    [choice] = response.choices
    assert choice.index == 0 and choice.finish_reason == "stop" and choice.message.role == "assistant"
    assert choice.message.content == voting_text(7, 0)  # the first sample whose answer (4) won
    usage = response.usage
    assert usage is not None
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert usage.completion_tokens == sum(words(voting_text(7, i)) for i in range(3))
    breakdown = usage.model_extra["ponder"]  # type: ignore[index]
    assert breakdown["generations"] == 3 and breakdown["engine_calls"] == 1
    assert breakdown["completion_tokens"] == usage.completion_tokens
    assert breakdown["prompt_tokens"] == usage.prompt_tokens > 0  # no judge: prompt tokens are the generator's
    assert breakdown["scorer_calls"] == 0 and breakdown["wall_seconds"] >= 0
    assert "ponder" not in (response.model_extra or {})  # no summary unless asked


def test_summary_has_votes_candidates_and_trace(client: openai.OpenAI) -> None:
    response = client.chat.completions.create(
        model="ponder",
        messages=ASK,
        seed=7,
        extra_body={"ponder": {"strategy": "self-consistency", "budget": 3, "batch": 1, "summary": True}},
    )
    [summary] = response.model_extra["ponder"]  # type: ignore[index]
    assert summary["strategy"] == "self-consistency" and summary["answer"] == "4"
    assert summary["votes"] == {"4": 2.0, "5": 1.0}
    assert summary["stop_reason"] == "done"
    assert [c["answer"] for c in summary["candidates"]] == ["4", "5", "4"]
    assert [c["completion_tokens"] for c in summary["candidates"]] == [words(voting_text(7, i)) for i in range(3)]
    assert [(step["step"], step["action"], step["n"]) for step in summary["trace"]] == [
        (1, "sample", 1),
        (2, "sample", 1),
        (3, "sample", 1),
    ]
    assert summary["trace"][-1]["votes"] == {"4": 2.0, "5": 1.0}
    assert response.usage.model_extra["ponder"]["engine_calls"] == 3  # type: ignore[union-attr,index]


def test_requests_do_not_change_the_server_defaults(client: openai.OpenAI) -> None:
    client.chat.completions.create(
        model="ponder", messages=ASK, extra_body={"ponder": {"budget": 3, "strategy": "greedy"}}
    )
    response = client.chat.completions.create(model="ponder", messages=ASK, extra_body={"ponder": {"summary": True}})
    [summary] = response.model_extra["ponder"]  # type: ignore[index]
    assert summary["strategy"] == "self-consistency" and len(summary["candidates"]) == ServeConfig().default_budget


async def test_async_client_gets_the_same_answer(server: AppServer, client: openai.OpenAI) -> None:
    options = {"model": "ponder", "messages": ASK, "seed": 11, "extra_body": {"ponder": {"budget": 3}}}
    expected = client.chat.completions.create(**options)  # type: ignore[call-overload]
    async with async_client_for(server) as aclient:
        response = await aclient.chat.completions.create(**options)  # type: ignore[call-overload]
    assert response.choices[0].message.content == expected.choices[0].message.content == voting_text(11, 0)
    assert response.usage.total_tokens == expected.usage.total_tokens  # type: ignore[union-attr]


# -- streaming -------------------------------------------------------------------------------


def test_stream_reassembles_to_the_non_streamed_answer(client: openai.OpenAI) -> None:
    plain = client.chat.completions.create(model="ponder", messages=ASK, seed=5, extra_body={"ponder": {"budget": 3}})
    chunks = list(
        client.chat.completions.create(
            model="ponder",
            messages=ASK,
            seed=5,
            stream=True,
            stream_options={"include_usage": True},
            extra_body={"ponder": {"budget": 3}},
        )
    )
    assert all(chunk.object == "chat.completion.chunk" and chunk.id == chunks[0].id for chunk in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    content = "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)
    assert content == plain.choices[0].message.content == voting_text(5, 0)
    finishes = [chunk.choices[0].finish_reason for chunk in chunks if chunk.choices and chunk.choices[0].finish_reason]
    assert finishes == ["stop"]
    last = chunks[-1]
    assert last.choices == [] and last.usage is not None
    assert last.usage.total_tokens == plain.usage.total_tokens  # type: ignore[union-attr]
    assert last.usage.total_tokens == last.usage.prompt_tokens + last.usage.completion_tokens
    assert last.usage.model_extra["ponder"]["generations"] == 3  # type: ignore[index]


def test_stream_without_include_usage_has_no_usage_chunk(client: openai.OpenAI) -> None:
    chunks = list(
        client.chat.completions.create(
            model="ponder", messages=ASK, stream=True, extra_body={"ponder": {"budget": 2, "batch": 1}}
        )
    )
    assert all(chunk.choices and chunk.usage is None for chunk in chunks)
    assert "".join(chunk.choices[0].delta.content or "" for chunk in chunks) == voting_text(0, 0)


def test_stepwise_stream_skips_progress_comments(client: openai.OpenAI) -> None:
    """Three steps send three ``: ponder`` comments, which the client skips without errors."""
    chunks = list(
        client.chat.completions.create(
            model="ponder", messages=ASK, seed=5, stream=True, extra_body={"ponder": {"budget": 3, "batch": 1}}
        )
    )
    assert "".join(chunk.choices[0].delta.content or "" for chunk in chunks) == voting_text(5, 0)
    answer_chunks = [c for c in chunks if not (c.choices[0].delta.model_extra or {}).get("reasoning_content")]
    assert len(answer_chunks) == 3  # role, content, finish (and the reasoning): the comments are not chunks


async def test_async_stream(server: AppServer) -> None:
    async with async_client_for(server) as aclient:
        stream = await aclient.chat.completions.create(
            model="ponder",
            messages=ASK,
            seed=9,
            stream=True,
            stream_options={"include_usage": True},
            extra_body={"ponder": {"budget": 3, "batch": 1}},
        )
        chunks = [chunk async for chunk in stream]
    assert "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices) == voting_text(9, 0)
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == sum(
        words(voting_text(9, i)) for i in range(3)
    )


def test_raw_sse_has_progress_comments_then_the_answer(server: AppServer) -> None:
    body = {"model": "ponder", "messages": ASK, "seed": 5, "stream": True, "ponder": {"budget": 3, "batch": 1}}
    with httpx.stream("POST", chat_url(server), json=body, timeout=10) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        text = response.read().decode()
    lines = [line for line in text.split("\n") if line]
    comments = [json.loads(line[len(": ponder ") :]) for line in lines if line.startswith(": ponder ")]
    assert [(c["choice"], c["step"], c["action"]) for c in comments] == [
        (0, 1, "sample"),
        (0, 2, "sample"),
        (0, 3, "sample"),
    ]
    assert comments[-1]["votes"] == {"4": 2.0, "5": 1.0}
    data = [line[len("data: ") :] for line in lines if line.startswith("data: ")]
    assert data[-1] == "[DONE]"
    chunks = [json.loads(d) for d in data[:-1]]
    first_content = next(
        i for i, line in enumerate(lines) if voting_text(5, 0).split()[0] in line and '"content"' in line
    )
    last_comment = max(i for i, line in enumerate(lines) if line.startswith(": ponder "))
    assert last_comment < first_content  # progress while pondering, the answer after
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks) == voting_text(5, 0)
    assert all(line.startswith((": ponder ", "data: ")) for line in lines)
    reasoning = "".join(c["choices"][0]["delta"].get("reasoning_content", "") for c in chunks)
    assert all(voting_text(5, i) in reasoning for i in range(3))  # each sample, as it was generated


def test_stream_failure_is_an_error_event() -> None:
    with serve(DownEngine(["unused"])) as down, client_for(down) as failing:
        stream = failing.chat.completions.create(model="ponder", messages=ASK, stream=True)
        with pytest.raises(openai.APIError, match="down") as caught:
            list(stream)
        assert caught.value.body["type"] == "upstream_error"  # type: ignore[index]
        with httpx.stream("POST", chat_url(down), json={"model": "ponder", "messages": ASK, "stream": True}) as raw:
            text = raw.read().decode()
        assert '"error"' in text and text.rstrip().endswith("data: [DONE]")


# -- models and aliases ----------------------------------------------------------------------


def test_models_lists_the_name_and_its_aliases(client: openai.OpenAI) -> None:
    models = list(client.models.list())
    ids = [model.id for model in models]
    assert ids[0] == "ponder"
    assert {"ponder::greedy", "ponder::self-consistency:8", "ponder::best-of-n:4"} <= set(ids)
    assert all(name == "ponder" or re.fullmatch(r"ponder::[a-z-]+(:\d+)?", name) for name in ids)
    assert all(model.object == "model" and model.owned_by == "ponder" for model in models)


def test_a_served_name_with_slashes_and_colons() -> None:
    with serve(FakeEngine(voting_script), model_name="org/qwen2.5:1.5b") as named, client_for(named) as named_client:
        ids = [model.id for model in named_client.models.list()]
        assert ids[0] == "org/qwen2.5:1.5b" and "org/qwen2.5:1.5b::greedy" in ids
        response = named_client.chat.completions.create(
            model="org/qwen2.5:1.5b::self-consistency:2", messages=ASK, extra_body={"ponder": {"summary": True}}
        )
        assert response.model == "org/qwen2.5:1.5b::self-consistency:2"
        assert len(response.model_extra["ponder"][0]["candidates"]) == 2  # type: ignore[index]
        with pytest.raises(openai.NotFoundError):
            named_client.chat.completions.create(model="ponder", messages=ASK)


def summary_of(response: Any) -> tuple[str, int]:
    [summary] = response.model_extra["ponder"]
    assert response.usage.model_extra["ponder"]["generations"] == len(summary["candidates"])
    return summary["strategy"], len(summary["candidates"])


@pytest.mark.parametrize(
    ("model", "ponder", "expected"),
    [
        ("ponder::self-consistency:5", {}, ("self-consistency", 5)),
        ("ponder::greedy", {}, ("greedy", 1)),
        ("ponder::best-of-n:3", {}, ("best-of-n", 3)),
        ("ponder::self-consistency", {}, ("self-consistency", 4)),  # the server's default budget
        ("ponder::greedy", {"strategy": "self-consistency", "budget": 3}, ("self-consistency", 3)),  # ponder wins
        ("ponder::self-consistency:5", {"budget": 2}, ("self-consistency", 2)),
        ("ponder", {"strategy": "greedy"}, ("greedy", 1)),
    ],
)
def test_aliases_choose_strategy_and_budget(
    client: openai.OpenAI, model: str, ponder: dict[str, Any], expected: tuple[str, int]
) -> None:
    response = client.chat.completions.create(
        model=model, messages=ASK, extra_body={"ponder": {**ponder, "summary": True}}
    )
    assert response.model == model
    assert summary_of(response) == expected
    assert response.choices[0].message.content.endswith("The answer is 4.")  # type: ignore[union-attr]


def test_unknown_model_is_404(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(model="gpt-4o", messages=ASK)
    assert caught.value.status_code == 404
    assert "'gpt-4o'" in caught.value.body["message"] and caught.value.body["code"] == "model_not_found"  # type: ignore[index]
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="other::greedy", messages=ASK)


@pytest.mark.parametrize(
    ("model", "named"),
    [
        ("ponder::nope:3", "'nope'"),
        ("ponder::nope", "'nope'"),
        ("ponder::greedy:0", "budget after ':'"),
        ("ponder::greedy:x", "budget after ':'"),
        ("ponder::greedy:\u00b2", "budget after ':'"),  # '²'.isdigit() but int('²') fails: was a 500
    ],
)
def test_bad_alias_is_400_naming_it(client: openai.OpenAI, model: str, named: str) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model=model, messages=ASK)
    assert named in caught.value.body["message"]  # type: ignore[index]
    assert caught.value.body["type"] == "invalid_request_error"  # type: ignore[index]


# -- invalid requests ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"extra_body": {"ponder": {"batch": "x"}}}, "batch"),
        ({"extra_body": {"ponder": {"batch": 1.5}}}, "batch"),  # a JSON number of the wrong type: was a 500
        ({"extra_body": {"ponder": {"batch": [1]}}}, "batch"),  # was a 500
        ({"extra_body": {"ponder": {"batch": -1}}}, "batch"),
        ({"extra_body": {"ponder": {"bogus": 1}}}, "bogus"),
        ({"extra_body": {"ponder": {"budget": 0}}}, "budget"),
        ({"extra_body": {"ponder": {"budget": "many"}}}, "budget"),
        ({"extra_body": {"ponder": {"time_budget": 0}}}, "time_budget"),
        ({"extra_body": {"ponder": {"strategy": "nope"}}}, "'nope'"),
        ({"extra_body": {"ponder": {"task": "poetry"}}}, "'poetry'"),
        ({"extra_body": {"ponder": {"strategy": "adaptive-self-consistency", "threshold": 2}}}, "threshold"),
        ({"extra_body": {"ponder": {"strategy": "adaptive-self-consistency", "stop_rule": 3}}}, "stop_rule"),
        ({"temperature": 5}, "temperature"),
        ({"top_p": 0}, "top_p"),
        ({"messages": []}, "messages"),
        (
            {"messages": [{"role": "user", "content": QUESTION}, {"role": "assistant", "content": "4"}]},
            "last non-system message must be from the user",
        ),
        ({"messages": [{"role": "system", "content": "Be brief."}]}, "last non-system message must be from the user"),
        ({"messages": [{"role": "tool", "content": "x"}]}, "role"),
        ({"messages": [{"role": "user", "content": "  "}]}, "question is empty"),
        ({"n": 9}, "n=9"),
        ({"n": 0}, "n"),
        ({"n": 2, "extra_body": {"ponder": {"budget": 40}}}, "budget 40 x n 2"),
        ({"max_tokens": 5000}, "max_tokens=5000"),
        ({"max_completion_tokens": 5000}, "max_tokens=5000"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"stop": [""]}, "stop[0]"),
        ({"stop": [str(i) for i in range(17)]}, "at most 16 stop strings"),
    ],
)
def test_invalid_requests_are_400_naming_the_problem(
    client: openai.OpenAI, overrides: dict[str, Any], named: str
) -> None:
    options = {"model": "ponder", "messages": ASK, **overrides}
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(**options)
    assert caught.value.status_code == 400
    error = caught.value.body
    assert isinstance(error, dict) and error["type"] == "invalid_request_error"
    assert named in error["message"]


@pytest.mark.parametrize(
    ("content", "named"),
    [
        (b'{"model": "ponder", "messages": [', "JSON"),
        (b"not json at all", "JSON"),
        (b"[1, 2]", "body"),
        (b'{"messages": []}', "model"),
    ],
)
def test_malformed_bodies_get_an_openai_error(server: AppServer, content: bytes, named: str) -> None:
    response = httpx.post(chat_url(server), content=content, headers={"content-type": "application/json"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and named in error["message"]
    assert set(error) == {"message", "type", "param", "code"}


def test_bodies_over_the_limit_are_413() -> None:
    with serve(max_body_bytes=2000) as small:
        big = json.dumps({"model": "ponder", "messages": [{"role": "user", "content": "x " * 2000}]}).encode()
        response = httpx.post(chat_url(small), content=big, headers={"content-type": "application/json"})
        assert response.status_code == 413 and "2000 bytes" in response.json()["error"]["message"]

        def chunked() -> Iterator[bytes]:  # no Content-Length: the limit is counted as the body arrives
            for start in range(0, len(big), 500):
                yield big[start : start + 500]

        response = httpx.post(chat_url(small), content=chunked(), headers={"content-type": "application/json"})
        assert response.request.headers.get("transfer-encoding") == "chunked"
        assert response.status_code == 413 and response.json()["error"]["type"] == "invalid_request_error"

        fits = json.dumps({"model": "ponder", "messages": ASK}).encode()
        assert (
            httpx.post(chat_url(small), content=iter([fits]), headers={"content-type": "application/json"}).status_code
            == 200
        )
        with client_for(small) as small_client:
            with pytest.raises(openai.APIStatusError) as caught:
                small_client.chat.completions.create(
                    model="ponder", messages=[{"role": "user", "content": "x " * 2000}]
                )
            assert caught.value.status_code == 413
            assert small_client.chat.completions.create(model="ponder", messages=ASK).choices


# -- authentication --------------------------------------------------------------------------


def test_api_key_guards_everything_but_health() -> None:
    with serve(api_key="k") as guarded:
        for key in ("wrong", "k2", "K"):
            with client_for(guarded, key=key) as wrong:
                with pytest.raises(openai.AuthenticationError) as caught:
                    wrong.models.list()
                assert caught.value.body["type"] == "authentication_error"  # type: ignore[index]
                with pytest.raises(openai.AuthenticationError):
                    wrong.chat.completions.create(model="ponder", messages=ASK)
        for path in ("/v1/models", "/openapi.json", "/docs"):
            assert httpx.get(guarded.url + path).status_code == 401
        assert httpx.post(chat_url(guarded), json={"model": "ponder", "messages": ASK}).status_code == 401
        assert (
            httpx.post(
                chat_url(guarded), json={"model": "ponder", "messages": ASK}, headers={"Authorization": "k"}
            ).status_code
            == 401
        )  # no "Bearer "
        health = httpx.get(guarded.url + "/health")
        assert health.status_code == 200 and health.json() == {"status": "ok", "engine": "fake", "model": "scripted"}
        with client_for(guarded, key="k") as right:
            assert next(model.id for model in right.models.list()) == "ponder"
            assert right.chat.completions.create(model="ponder", messages=ASK).choices[0].message.content


def test_logs_hold_no_prompts_answers_or_keys(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="ponder.serve")
    secret = "What is 31337 + 4?"
    with (
        serve(FakeEngine(arithmetic_script), api_key="sk-do-not-log") as guarded,
        client_for(guarded, key="sk-do-not-log") as right,
    ):
        answer = right.chat.completions.create(model="ponder", messages=[{"role": "user", "content": secret}])
        assert answer.choices[0].message.content == "31337 plus 4 makes 31341. The answer is 31341."
    events = [json.loads(record.getMessage()) for record in caplog.records if record.name == "ponder.serve"]
    assert {"http", "run", "done"} <= {event["event"] for event in events}
    text = caplog.text
    assert "31337" not in text and "31341" not in text and "sk-do-not-log" not in text


# -- limits: concurrency, time, failures -----------------------------------------------------


def test_a_request_over_the_concurrency_limit_gets_429() -> None:
    engine = GatedEngine(voting_script)
    body = {"model": "ponder", "messages": ASK, "ponder": {"budget": 2}}
    with (
        serve(engine, max_concurrent=1) as limited,
        ThreadPoolExecutor(1) as pool,
        client_for(limited) as limited_client,
    ):
        first = pool.submit(httpx.post, chat_url(limited), json=body, timeout=10)
        assert engine.entered.wait(5)
        second = httpx.post(chat_url(limited), json=body)
        assert second.status_code == 429 and second.headers["retry-after"] == "1"
        assert second.json()["error"]["type"] == "rate_limit_error"
        with pytest.raises(openai.RateLimitError):
            limited_client.chat.completions.create(model="ponder", messages=ASK)
        with pytest.raises(openai.BadRequestError):  # an invalid request is refused before taking a slot
            limited_client.chat.completions.create(model="ponder", messages=ASK, n=99)
        assert httpx.get(limited.url + "/health").status_code == 200  # only runs are limited
        assert httpx.get(limited.url + "/v1/models").status_code == 200
        engine.release.set()
        assert first.result().status_code == 200
        assert httpx.post(chat_url(limited), json=body).status_code == 200  # the slot is free again


def test_a_stream_holds_its_slot_until_it_ends() -> None:
    engine = GatedEngine(voting_script)
    body = {"model": "ponder", "messages": ASK, "stream": True, "ponder": {"budget": 2}}

    def stream_all() -> str:
        with httpx.stream("POST", chat_url(limited), json=body, timeout=10) as response:
            return response.read().decode()

    with serve(engine, max_concurrent=1) as limited, ThreadPoolExecutor(1) as pool:
        streaming = pool.submit(stream_all)
        assert engine.entered.wait(5)
        assert httpx.post(chat_url(limited), json=body).status_code == 429
        engine.release.set()
        assert streaming.result().rstrip().endswith("data: [DONE]")
        assert httpx.post(chat_url(limited), json={**body, "stream": False}).status_code == 200


def test_a_client_leaving_a_stream_stops_its_run_and_frees_the_slot() -> None:
    engine = SlowEngine(voting_script, delay=0.1)
    body = {"model": "ponder", "messages": ASK, "stream": True, "ponder": {"budget": 30, "batch": 1}}
    with serve(engine, max_concurrent=1) as limited:
        with httpx.stream("POST", chat_url(limited), json=body, timeout=10) as response:
            next(response.iter_lines())  # the role chunk; then hang up
        deadline = time.monotonic() + 5
        while engine.active and time.monotonic() < deadline:
            time.sleep(0.02)
        calls = engine.calls
        time.sleep(0.5)
        assert engine.calls == calls < 30 and engine.active == 0  # the run stopped with the client
        quick = httpx.post(chat_url(limited), json={**body, "stream": False, "ponder": {"budget": 1}})
        assert quick.status_code == 200


def test_a_client_leaving_a_plain_request_stops_its_run_and_frees_the_slot() -> None:
    engine = SlowEngine(voting_script, delay=0.1)
    body = {"model": "ponder", "messages": ASK, "ponder": {"budget": 30, "batch": 1}}
    with serve(engine, max_concurrent=1) as limited:
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(chat_url(limited), json=body, timeout=0.5)  # the client gives up and hangs up
        deadline = time.monotonic() + 5
        while engine.active and time.monotonic() < deadline:
            time.sleep(0.02)
        calls = engine.calls
        time.sleep(0.5)
        assert engine.calls == calls < 30 and engine.active == 0  # the run stopped with the client
        quick = httpx.post(chat_url(limited), json={**body, "ponder": {"budget": 1}})
        assert quick.status_code == 200


def test_request_timeout_returns_the_best_answer_so_far() -> None:
    engine = SlowEngine(voting_script, delay=0.2)
    with serve(engine, request_timeout=0.5) as timed, client_for(timed) as timed_client:
        started = time.monotonic()
        response = timed_client.chat.completions.create(
            model="ponder", messages=ASK, extra_body={"ponder": {"batch": 1, "budget": 8, "summary": True}}
        )
        elapsed = time.monotonic() - started
        [summary] = response.model_extra["ponder"]  # type: ignore[index]
        assert summary["stop_reason"] == "seconds"
        assert 1 <= len(summary["candidates"]) < 8 and summary["answer"] == "4"
        assert response.choices[0].message.content == voting_text(0, 0)
        assert elapsed < 3
        # a client's time budget cannot exceed the server's timeout, and a smaller one is kept
        longer = timed_client.chat.completions.create(
            model="ponder",
            messages=ASK,
            extra_body={"ponder": {"batch": 1, "budget": 8, "time_budget": 60, "summary": True}},
        )
        assert longer.model_extra["ponder"][0]["stop_reason"] == "seconds"  # type: ignore[index]
    with serve(SlowEngine(voting_script, delay=0.2)) as patient, client_for(patient) as patient_client:
        shorter = patient_client.chat.completions.create(
            model="ponder",
            messages=ASK,
            extra_body={"ponder": {"batch": 1, "budget": 8, "time_budget": 0.3, "summary": True}},
        )
        [summary] = shorter.model_extra["ponder"]  # type: ignore[index]
        assert summary["stop_reason"] == "seconds" and len(summary["candidates"]) < 8


def test_backend_failure_is_502() -> None:
    engine = DownEngine(["unused"])
    with serve(engine, max_concurrent=1) as down, client_for(down) as down_client:
        for _ in range(2):  # the failed run gives its slot back: the second is a 502 too, not a 429
            with pytest.raises(openai.InternalServerError) as caught:
                down_client.chat.completions.create(model="ponder", messages=ASK)
            assert caught.value.status_code == 502
            assert caught.value.body["type"] == "upstream_error"  # type: ignore[index]
            assert caught.value.body["message"] == "the model backend failed: down"  # type: ignore[index]
        assert engine.calls == 2


# -- many clients, n, chat history -----------------------------------------------------------


async def test_concurrent_clients_get_their_own_answers() -> None:
    engine = SlowEngine(arithmetic_script, delay=0.05)
    questions = [(a, 10 * a + 3) for a in range(1, 9)]

    async def ask(a: int, b: int, stream: bool) -> tuple[str, Any]:
        async with async_client_for(crowded) as aclient:
            options: dict[str, Any] = {
                "model": "ponder",
                "messages": [{"role": "user", "content": f"What is {a} + {b}?"}],
                "extra_body": {"ponder": {"budget": 3, "batch": 1, "summary": not stream}},
            }
            if not stream:
                response = await aclient.chat.completions.create(**options)
                return response.choices[0].message.content or "", response
            chunks = [chunk async for chunk in await aclient.chat.completions.create(stream=True, **options)]
            return "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices), None

    with serve(engine, max_concurrent=8) as crowded:
        answers = await asyncio.gather(*(ask(a, b, stream=i % 2 == 1) for i, (a, b) in enumerate(questions)))
    for (a, b), (text, response) in zip(questions, answers, strict=True):
        assert text == f"{a} plus {b} makes {a + b}. The answer is {a + b}."
        if response is not None:
            assert response.model_extra["ponder"][0]["votes"] == {str(a + b): 3.0}
    assert len(engine.requests) == 3 * len(questions)
    assert engine.peak > 1  # the runs did overlap


def test_n_gives_independent_seeded_choices(client: openai.OpenAI) -> None:
    response = client.chat.completions.create(
        model="ponder", messages=ASK, n=2, seed=7, extra_body={"ponder": {"budget": 3, "summary": True}}
    )
    assert [choice.index for choice in response.choices] == [0, 1]
    assert [choice.message.content for choice in response.choices] == [voting_text(7, 0), voting_text(8, 0)]
    assert len(response.model_extra["ponder"]) == 2  # type: ignore[index]
    assert response.usage.model_extra["ponder"]["generations"] == 6  # type: ignore[union-attr,index]
    chunks = list(
        client.chat.completions.create(
            model="ponder", messages=ASK, n=2, seed=7, stream=True, extra_body={"ponder": {"budget": 3}}
        )
    )
    texts = {0: "", 1: ""}
    for chunk in chunks:
        for choice in chunk.choices:
            texts[choice.index] += choice.delta.content or ""
    assert texts == {0: voting_text(7, 0), 1: voting_text(8, 0)}


def test_seed_reaches_the_engine_and_defaults_to_zero() -> None:
    engine = FakeEngine(voting_script)
    with serve(engine) as seeded, client_for(seeded) as seeded_client:
        seeded_client.chat.completions.create(
            model="ponder",
            messages=ASK,
            n=2,
            seed=41,
            temperature=0.3,
            top_p=0.9,
            max_tokens=7,
            extra_body={"ponder": {"budget": 2}},
        )
        assert sorted(r.seed for r in engine.requests) == [41, 42]
        assert {(r.temperature, r.top_p, r.max_tokens) for r in engine.requests} == {(0.3, 0.9, 7)}
        engine.requests.clear()
        seeded_client.chat.completions.create(model="ponder::greedy", messages=ASK)
        [request] = engine.requests
        assert (
            request.seed == 0 and request.temperature == 0.0 and request.max_tokens == ServeConfig().default_max_tokens
        )


def test_chat_history_reaches_the_engine_in_order() -> None:
    engine = FakeEngine(arithmetic_script)
    messages = [
        {"role": "system", "content": "You add numbers."},
        {"role": "user", "content": "What is 1 + 1?"},
        {"role": "assistant", "content": "The answer is 2."},
        {"role": "developer", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "What is 2 "}, {"type": "text", "text": "+ 3?"}]},
    ]
    with serve(engine) as chat, client_for(chat) as chat_client:
        response = chat_client.chat.completions.create(model="ponder::greedy", messages=messages)  # type: ignore[arg-type]
        assert response.choices[0].message.content == "2 plus 3 makes 5. The answer is 5."
        [request] = engine.requests
        assert request.messages == (
            Message("system", "You add numbers.\n\nBe brief."),
            Message("user", "What is 1 + 1?"),
            Message("assistant", "The answer is 2."),
            Message("user", "What is 2 + 3?"),
        )


def test_health_names_the_engine(server: AppServer) -> None:
    assert httpx.get(server.url + "/health").json() == {"status": "ok", "engine": "fake", "model": "scripted"}


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"default_budget": 10, "max_budget": 8}, "default_budget 10 exceeds max_budget 8"),  # every default refused
        ({"default_max_tokens": 600, "max_tokens_cap": 512}, "default_max_tokens 600 exceeds"),
        ({"max_concurrent": 0}, "max_concurrent"),
        ({"request_timeout": 0}, "request_timeout"),
        ({"model_name": "a::b"}, "::"),
    ],
)
def test_inconsistent_server_settings_are_refused(options: dict[str, Any], named: str) -> None:
    with pytest.raises(InvalidInputError, match=named):
        ServeConfig(**options)


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"strategy": "routed", "router": "/etc/passwd"}, "router"),
        ({"strategy": "think-and-execute", "cache": "/tmp/anywhere"}, "cache"),
        ({"strategy": "think-and-execute", "pseudocode": "/etc/hostname"}, "pseudocode"),
        ({"strategy": "particle-filtering", "prm": "http://169.254.169.254/latest"}, "prm"),
        ({"strategy": "beam-search", "prm": "vllm:http://10.0.0.1:8000"}, "prm"),
    ],
)
def test_options_naming_server_files_or_urls_are_refused(
    client: openai.OpenAI, options: dict[str, Any], named: str
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="ponder", messages=ASK, extra_body={"ponder": {"budget": 2, **options}})
    assert f"option {named!r} names a file or URL of the server" in str(caught.value)


def test_operator_allowed_prm_is_taken_from_requests() -> None:
    allowed = "http://127.0.0.1:9/prm"
    with serve(prms=(allowed,)) as server:
        client = client_for(server)
        with pytest.raises(openai.BadRequestError) as caught:
            client.chat.completions.create(
                model="ponder",
                messages=ASK,
                extra_body={
                    "ponder": {"strategy": "particle-filtering", "budget": 2, "prm": "http://127.0.0.1:9/other"}
                },
            )
        assert allowed in str(caught.value)  # the refusal says what is allowed
        # the allowed one passes validation (and then fails to connect: nothing listens on port 9)
        with pytest.raises(openai.APIStatusError) as reached:
            client.chat.completions.create(
                model="ponder",
                messages=ASK,
                extra_body={"ponder": {"strategy": "particle-filtering", "budget": 2, "prm": allowed}},
            )
        assert reached.value.status_code == 502
