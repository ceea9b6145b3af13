"""`ponder serve`'s app on the embedded model, driven by the official OpenAI client."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import openai
import pytest

from ponder.engines.llama import LlamaEngine
from ponder.serve import ServeConfig, create_app

pytestmark = pytest.mark.model

QUESTIONS = [
    f"Tom has {a} apples and gets {b} more. How many apples does he have?"
    for a, b in [(2, 3), (4, 4), (5, 1), (7, 2), (3, 3), (6, 2), (1, 8), (9, 0)]
]


@pytest.fixture(scope="module")
def url(llama_engine: LlamaEngine) -> Iterator[str]:
    from tests.support.app_server import AppServer

    app = create_app(llama_engine, ServeConfig(model_name="smollm2", max_concurrent=8, default_max_tokens=48))
    with AppServer(app) as server:
        yield server.url


def test_sync_client_gets_an_answer_with_honest_usage(url: str) -> None:
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused")
    response = client.chat.completions.create(
        model="smollm2::self-consistency:4",
        messages=[{"role": "user", "content": QUESTIONS[0]}],
        max_tokens=48,
        seed=1,
        extra_body={"ponder": {"summary": True}},
    )
    assert response.choices[0].message.content
    details = response.usage.model_extra["ponder"]
    assert details["generations"] == 4 and details["engine_calls"] == 1
    assert details["prompt_tokens_computed"] < details["prompt_tokens"]  # the prompt was forked, not recomputed
    assert response.usage.completion_tokens == details["completion_tokens"]
    summary = response.model_extra["ponder"][0]
    assert summary["strategy"] == "self-consistency" and len(summary["candidates"]) == 4


def test_streaming_matches_the_plain_answer(url: str, llama_engine: LlamaEngine) -> None:
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused")
    request = {"model": "smollm2::greedy", "messages": [{"role": "user", "content": QUESTIONS[1]}], "max_tokens": 32}
    llama_engine.reset_cache()  # the same cache state for both, so the same floating-point sums
    plain = client.chat.completions.create(**request).choices[0].message.content
    llama_engine.reset_cache()
    chunks = client.chat.completions.create(**request, stream=True, stream_options={"include_usage": True})
    text, usage = "", None
    for chunk in chunks:
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
        if chunk.usage:
            usage = chunk.usage
    assert text == plain
    assert usage is not None and usage.completion_tokens > 0


async def test_eight_concurrent_clients_get_their_own_answers(url: str) -> None:
    async def ask(question: str) -> openai.types.chat.ChatCompletion:
        client = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key="unused")
        return await client.chat.completions.create(
            model="smollm2::self-consistency:2",
            messages=[{"role": "user", "content": question}],
            max_tokens=32,
            extra_body={"ponder": {"summary": True}},
        )

    # each question is longer than the one before: a sample served to the wrong caller would show
    # in that caller's prompt token count (the engine decodes all of them in one batch)
    questions = [("Please " * k) + question for k, question in enumerate(QUESTIONS)]
    responses = await asyncio.gather(*(ask(q) for q in questions))
    assert len(responses) == 8 and len({r.id for r in responses}) == 8
    for response in responses:
        summary = response.model_extra["ponder"][0]
        assert len(summary["candidates"]) == 2
        assert response.usage.model_extra["ponder"]["generations"] == 2
    prompts = [r.usage.prompt_tokens for r in responses]
    assert prompts == sorted(prompts) and len(set(prompts)) == 8  # each caller got its own samples
