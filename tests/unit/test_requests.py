"""Validation of requests and settings, and usage arithmetic."""

from __future__ import annotations

import math
from typing import Any

import pytest

from ponder.core.errors import InvalidInputError, PonderError
from ponder.core.settings import DEFAULT_SYSTEM_PROMPT, SolveSettings
from ponder.core.usage import Usage, total
from ponder.engines import GenerationRequest, Message

CHAT = (Message("user", "hi"),)


@pytest.mark.parametrize(
    "options",
    [
        {},  # neither messages nor text
        {"messages": CHAT, "text": "hi"},  # both
        {"messages": ()},
        {"text": "q", "n": 0},
        {"text": "q", "n": -2},
        {"text": "q", "max_tokens": 0},
        {"text": "q", "temperature": -0.1},
        {"text": "q", "temperature": math.nan},
        {"text": "q", "temperature": math.inf},
        {"text": "q", "top_p": 0.0},
        {"text": "q", "top_p": 1.5},
        {"text": "q", "top_p": math.nan},
        {"text": "q", "stop": ("END", "")},
        {"text": "q", "assistant_prefix": "Step 1:"},
    ],
)
def test_invalid_request_raises(options: dict[str, Any]) -> None:
    with pytest.raises(InvalidInputError):
        GenerationRequest(**options)


def test_invalid_input_is_a_ponder_error_and_value_error() -> None:
    with pytest.raises(PonderError):
        GenerationRequest(text="q", n=0)
    with pytest.raises(ValueError):
        GenerationRequest(text="q", n=0)


@pytest.mark.parametrize(
    "options",
    [
        {"text": "q"},
        {"text": "q", "temperature": 0.0, "top_p": 1.0, "n": 1, "max_tokens": 1},
        {"messages": CHAT, "assistant_prefix": "Step 1:"},
    ],
)
def test_valid_requests_are_accepted(options: dict[str, Any]) -> None:
    GenerationRequest(**options)  # must not raise


def test_chat_builds_system_and_user_messages() -> None:
    request = GenerationRequest.chat("What is 2+2?", system="Be brief.", n=3, temperature=0.5)
    assert request.messages == (Message("system", "Be brief."), Message("user", "What is 2+2?"))
    assert request.text is None
    assert (request.n, request.temperature) == (3, 0.5)


def test_chat_without_system_has_only_the_user_message() -> None:
    assert GenerationRequest.chat("hello").messages == (Message("user", "hello"),)


@pytest.mark.parametrize(
    "options",
    [
        {"budget": 0},
        {"budget": -1},
        {"max_tokens": 0},
        {"temperature": -1.0},
        {"temperature": math.nan},
        {"top_p": 0.0},
        {"top_p": 1.01},
    ],
)
def test_invalid_settings_raise(options: dict[str, Any]) -> None:
    with pytest.raises(InvalidInputError):
        SolveSettings(**options)


def test_default_settings() -> None:
    settings = SolveSettings()
    assert (settings.budget, settings.temperature, settings.seed) == (8, None, 0)
    assert settings.system_prompt == DEFAULT_SYSTEM_PROMPT


def test_usage_add_is_field_by_field() -> None:
    a = Usage(prompt_tokens=10, prompt_tokens_computed=4, completion_tokens=7, engine_calls=1, wall_seconds=0.5)
    b = Usage(prompt_tokens=1, prompt_tokens_computed=2, completion_tokens=3, engine_calls=2, wall_seconds=0.25)
    assert a + b == Usage(
        prompt_tokens=11, prompt_tokens_computed=6, completion_tokens=10, engine_calls=3, wall_seconds=0.75
    )
    assert (a + b).total_tokens == 21


def test_total_sums_a_sequence() -> None:
    usages = [Usage(completion_tokens=n, engine_calls=1) for n in (1, 2, 3)]
    assert total(usages) == Usage(completion_tokens=6, engine_calls=3)
    assert total(tuple(usages)) == total(usages)
    assert total([]) == Usage()


def test_usage_to_dict_rounds_wall_time() -> None:
    data = Usage(prompt_tokens=2, wall_seconds=1.234567).to_dict()
    assert data == {
        "prompt_tokens": 2,
        "prompt_tokens_computed": 0,
        "completion_tokens": 0,
        "engine_calls": 0,
        "scorer_calls": 0,
        "scorer_tokens": 0,
        "scorer_prompt_tokens_computed": 0,
        "interrupt_tokens": 0,
        "wall_seconds": 1.2346,
    }
