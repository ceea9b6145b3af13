"""Greedy and self-consistency through ponder.asolve, on the scripted FakeEngine."""

from __future__ import annotations

import json

import pytest

import ponder
from ponder.core.errors import InvalidInputError, UnknownNameError
from ponder.core.settings import DEFAULT_SYSTEM_PROMPT
from ponder.engines import FakeEngine, GenerationRequest, Message
from ponder.registry import available, get_strategy

QUESTION = "What is 2 + 2?"
SCRIPT = [
    "2 + 2 = 4. The answer is 4.",
    "The answer is 5.",
    "I think the answer is 4",
    "I have no idea.",
    "#### 4",
]


async def test_self_consistency_majority_vote() -> None:
    engine = FakeEngine(SCRIPT)
    result = await ponder.asolve(QUESTION, engine=engine, budget=5)
    assert result.answer == "4"
    assert result.strategy == "self-consistency"
    assert result.votes == {"4": 3.0, "5": 1.0}
    assert [c.text for c in result.candidates] == SCRIPT
    assert [c.answer for c in result.candidates] == ["4", "5", "4", None, "4"]
    assert result.question == QUESTION


async def test_self_consistency_sends_one_request_of_budget_samples() -> None:
    engine = FakeEngine(SCRIPT)
    await ponder.asolve(QUESTION, engine=engine, budget=5, seed=123, max_tokens=64, top_p=0.9)
    assert engine.calls == 1
    [request] = engine.requests
    assert request.n == 5
    assert request.temperature == 0.8
    assert (request.seed, request.max_tokens, request.top_p) == (123, 64, 0.9)
    assert request.messages == (Message("system", DEFAULT_SYSTEM_PROMPT), Message("user", QUESTION))


async def test_self_consistency_uses_callers_temperature() -> None:
    engine = FakeEngine(SCRIPT)
    result = await ponder.asolve(QUESTION, engine=engine, budget=2, temperature=0.3)
    assert engine.requests[0].temperature == 0.3
    assert result.params["temperature"] == 0.3


async def test_no_system_prompt_sends_only_the_question() -> None:
    engine = FakeEngine(SCRIPT)
    await ponder.asolve(QUESTION, engine=engine, budget=1, system_prompt=None)
    assert engine.requests[0].messages == (Message("user", QUESTION),)


@pytest.mark.parametrize("fork", [False, True])
async def test_self_consistency_usage_sums_completions(fork: bool) -> None:
    engine = FakeEngine(SCRIPT, fork=fork)
    result = await ponder.asolve(QUESTION, engine=engine, budget=5)
    usage = result.usage
    assert usage.engine_calls == 1
    assert usage.completion_tokens == sum(len(text.split()) for text in SCRIPT)
    assert usage.completion_tokens == sum(c.completion_tokens for c in result.candidates)
    per_sample_prompt = usage.prompt_tokens // 5
    assert usage.prompt_tokens == 5 * per_sample_prompt > 0
    assert usage.prompt_tokens_computed == (per_sample_prompt if fork else usage.prompt_tokens)
    assert usage.wall_seconds >= 0


async def test_ties_go_to_the_first_sample_order() -> None:
    engine = FakeEngine(["The answer is 7.", "The answer is 3.", "The answer is 3.", "The answer is 7."])
    result = await ponder.asolve(QUESTION, engine=engine, budget=4)
    assert result.answer == "7"
    assert result.votes == {"7": 2.0, "3": 2.0}


async def test_no_answer_anywhere_gives_none() -> None:
    engine = FakeEngine(["I do not know.", "No idea, sorry."])
    result = await ponder.asolve(QUESTION, engine=engine, budget=2)
    assert result.answer is None
    assert result.votes == {}
    assert all(c.answer is None for c in result.candidates)


async def test_greedy_sends_one_sample_at_temperature_zero() -> None:
    engine = FakeEngine(SCRIPT)
    result = await ponder.asolve(QUESTION, engine=engine, strategy="greedy", budget=8, seed=5)
    [request] = engine.requests
    assert (request.n, request.temperature, request.seed) == (1, 0.0, 5)
    assert result.answer == "4"
    assert result.strategy == "greedy"
    assert len(result.candidates) == 1
    assert result.usage.engine_calls == 1


async def test_greedy_honours_callers_temperature() -> None:
    engine = FakeEngine(SCRIPT)
    await ponder.asolve(QUESTION, engine=engine, strategy="greedy", temperature=0.5)
    assert engine.requests[0].temperature == 0.5


async def test_unknown_strategy_raises() -> None:
    with pytest.raises(UnknownNameError, match="no-such"):
        await ponder.asolve(QUESTION, engine=FakeEngine(SCRIPT), strategy="no-such")


def test_registry_has_builtin_strategies() -> None:
    assert {"greedy", "self-consistency"} <= set(available())
    assert get_strategy("greedy").name == "greedy"


@pytest.mark.parametrize("question", ["", "   ", "\n\t"])
async def test_empty_question_raises(question: str) -> None:
    engine = FakeEngine(SCRIPT)
    with pytest.raises(InvalidInputError):
        await ponder.asolve(question, engine=engine)
    assert engine.calls == 0


async def test_model_with_engine_instance_raises() -> None:
    with pytest.raises(InvalidInputError):
        await ponder.asolve(QUESTION, engine=FakeEngine(SCRIPT), model="x.gguf")


async def test_to_dict_is_json_ready() -> None:
    result = await ponder.asolve(QUESTION, engine=FakeEngine(SCRIPT), budget=5)
    data = json.loads(json.dumps(result.to_dict()))
    assert {"answer", "strategy", "candidates", "usage"} <= set(data)
    assert data["answer"] == "4"
    assert data["strategy"] == "self-consistency"
    assert [c["answer"] for c in data["candidates"]] == ["4", "5", "4", None, "4"]
    assert set(data["usage"]) == {
        "prompt_tokens",
        "prompt_tokens_computed",
        "completion_tokens",
        "engine_calls",
        "wall_seconds",
        "scorer_calls",
        "scorer_tokens",
        "scorer_prompt_tokens_computed",
        "interrupt_tokens",
    }
    assert data["usage"]["engine_calls"] == 1


def seeded_script(request: GenerationRequest, index: int) -> str:
    return f"The answer is {(request.seed * 7 + index) % 3}."


async def test_same_seed_same_result() -> None:
    first = await ponder.asolve(QUESTION, engine=FakeEngine(seeded_script), budget=6, seed=4)
    second = await ponder.asolve(QUESTION, engine=FakeEngine(seeded_script), budget=6, seed=4)
    other = await ponder.asolve(QUESTION, engine=FakeEngine(seeded_script), budget=6, seed=5)
    assert (first.answer, first.votes, first.candidates) == (second.answer, second.votes, second.candidates)
    assert first.to_dict()["candidates"] == second.to_dict()["candidates"]
    assert [c.text for c in other.candidates] != [c.text for c in first.candidates]


def test_sync_solve_matches_async() -> None:
    result = ponder.solve(QUESTION, engine=FakeEngine(SCRIPT), budget=5)
    assert (result.answer, result.votes) == ("4", {"4": 3.0, "5": 1.0})
