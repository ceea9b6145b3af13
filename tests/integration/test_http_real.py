"""The HTTP engine against a real OpenAI-compatible server: llama-cpp-python's, serving the
embedded model, started by these tests on 127.0.0.1. No model is loaded in this process while it
runs; the last test stops it and then compares with the embedded engine."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from tests.support.llama_server import LlamaServer

import ponder
from ponder.engines.base import GenerationRequest, Message
from ponder.engines.http import OpenAIEngine

pytestmark = pytest.mark.model

QUESTION = "Sara had 15 pencils. She gave 6 to her friend. How many pencils does Sara have now?"
RUN = {"budget": 3, "max_tokens": 32, "seed": 5, "temperature": 0.7}
SHARED: dict[str, Any] = {}


@pytest.fixture(scope="module")
def server() -> Iterator[LlamaServer]:
    running = LlamaServer()
    yield running
    running.stop()


@pytest.fixture
async def engine(server: LlamaServer) -> Any:
    http = OpenAIEngine(base_url=server.url, chat_template=server.model_path, timeout=120)
    yield http
    await http.aclose()


async def test_profile_is_detected_and_n_fans_out(engine: OpenAIEngine) -> None:
    [completions] = await engine.generate(
        [GenerationRequest.chat(QUESTION, n=3, max_tokens=24, temperature=1.0, seed=2)]
    )
    assert engine.profile.name == "llama-cpp-python"
    assert len(completions) == 3 and [c.index for c in completions] == [0, 1, 2]
    assert len({c.text for c in completions}) >= 2
    for c in completions:
        assert c.usage.prompt_tokens > 0 and 1 <= c.completion_tokens <= 24


async def test_seed_reproduces_and_limits_are_honoured(engine: OpenAIEngine) -> None:
    request = GenerationRequest.chat(QUESTION, max_tokens=6, temperature=0.9, seed=11)
    [[first]], [[second]] = await engine.generate([request]), await engine.generate([request])
    assert first.text == second.text
    assert first.completion_tokens <= 6
    stopped = GenerationRequest(
        messages=(Message("user", "Count from 1 to 20, separated by commas."),),
        assistant_prefix="1, 2, 3,",
        max_tokens=30,
        temperature=0,
        stop=(" 7",),
    )
    [[completion]] = await engine.generate([stopped])
    assert completion.text.strip() == "4, 5, 6,"


async def test_partial_answer_continues_through_text_completions(engine: OpenAIEngine) -> None:
    request = GenerationRequest(
        messages=(Message("user", "Count from 1 to 10."),), assistant_prefix="1, 2, 3, 4,", max_tokens=6, temperature=0
    )
    [[completion]] = await engine.generate([request])
    assert completion.text.startswith(" 5, 6")


async def test_judge_reads_probabilities_over_http(engine: OpenAIEngine) -> None:
    result = await ponder.asolve(QUESTION, engine=engine, strategy="best-of-n", **RUN)
    assert result.usage.scorer_calls == 1 and result.usage.scorer_tokens > 0
    assert all(c.score is not None and 0 <= c.score <= 1 for c in result.candidates)


async def test_self_consistency_over_http(engine: OpenAIEngine) -> None:
    result = await ponder.asolve(QUESTION, engine=engine, **RUN)
    SHARED["http"] = result
    assert len(result.candidates) == 3
    assert result.usage.completion_tokens == sum(c.completion_tokens for c in result.candidates)


def test_cli_solves_through_the_openai_engine(server: LlamaServer) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "ponder.cli.main",
            "solve",
            QUESTION,
            "--engine",
            "openai",
            "--base-url",
            server.url,
            "--budget",
            "2",
            "--max-tokens",
            "24",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["engine"]["name"] == "openai" and len(data["candidates"]) == 2
    assert data["usage"]["completion_tokens"] > 0


def test_http_and_embedded_results_have_the_same_form(server: LlamaServer) -> None:
    server.stop()  # never two llama.cpp computations at once
    embedded = ponder.solve(QUESTION, **RUN)
    http = SHARED["http"]
    assert set(embedded.to_dict()) == set(http.to_dict())
    assert len(embedded.candidates) == len(http.candidates) == RUN["budget"]
    for result in (embedded, http):
        assert result.usage.engine_calls == 1
        assert result.usage.prompt_tokens > 0
        assert result.usage.completion_tokens == sum(c.completion_tokens for c in result.candidates)
    per_sample = {embedded.usage.prompt_tokens // 3, http.usage.prompt_tokens // 3}
    assert max(per_sample) - min(per_sample) <= 2  # the same chat template, so the same prompt length
    assert embedded.usage.prompt_tokens_computed < embedded.usage.prompt_tokens  # forked
    assert http.usage.prompt_tokens_computed == http.usage.prompt_tokens  # the server reports no cache
