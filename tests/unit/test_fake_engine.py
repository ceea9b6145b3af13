"""The scripted FakeEngine that strategy tests rely on."""

from __future__ import annotations

import pytest

from ponder.core.errors import InvalidInputError
from ponder.engines import Completion, Engine, FakeEngine, GenerationRequest
from ponder.engines.fake import prompt_text


async def one(engine: FakeEngine, request: GenerationRequest) -> list[Completion]:
    [row] = await engine.generate([request])
    return row


def test_fake_engine_satisfies_engine_protocol() -> None:
    assert isinstance(FakeEngine(["x"]), Engine)


def test_empty_script_is_rejected() -> None:
    with pytest.raises(InvalidInputError):
        FakeEngine([])


async def test_list_script_is_consumed_in_order_and_cycles() -> None:
    engine = FakeEngine(["a", "b", "c"])
    first = await one(engine, GenerationRequest(text="q", n=4))
    second = await one(engine, GenerationRequest(text="q", n=2))
    assert [c.text for c in first] == ["a", "b", "c", "a"]
    assert [c.text for c in second] == ["b", "c"]
    assert [c.index for c in first] == [0, 1, 2, 3]


async def test_callable_script_gets_request_and_index() -> None:
    seen: list[tuple[int, int]] = []

    def script(request: GenerationRequest, index: int) -> str:
        seen.append((request.seed, index))
        return f"sample {index} seed {request.seed}"

    engine = FakeEngine(script)
    row = await one(engine, GenerationRequest(text="q", n=3, seed=11))
    assert [c.text for c in row] == ["sample 0 seed 11", "sample 1 seed 11", "sample 2 seed 11"]
    assert seen == [(11, 0), (11, 1), (11, 2)]


async def test_stop_string_cuts_text_with_finish_stop() -> None:
    engine = FakeEngine(["one two\nSTEP three", "x END y STOP z"])
    row = await one(engine, GenerationRequest(text="q", n=2, stop=("STEP", "STOP", "END")))
    assert [c.text for c in row] == ["one two\n", "x "]
    assert [c.finish_reason for c in row] == ["stop", "stop"]
    assert [c.completion_tokens for c in row] == [2, 1]


async def test_max_tokens_cuts_words_with_finish_length() -> None:
    engine = FakeEngine(["w1 w2 w3 w4 w5", "w1 w2 w3", "line one\nline two\nline three"])
    row = await one(engine, GenerationRequest(text="q", n=3, max_tokens=3))
    assert [c.text for c in row] == ["w1 w2 w3", "w1 w2 w3", "line one\nline"]
    assert [c.finish_reason for c in row] == ["length", "stop", "length"]
    assert [c.completion_tokens for c in row] == [3, 3, 3]


@pytest.mark.parametrize("fork", [False, True])
async def test_usage_per_completion(fork: bool) -> None:
    engine = FakeEngine(["a b", "c d e"], fork=fork)
    request = GenerationRequest(text="three word prompt", n=3)
    row = await one(engine, request)
    assert [c.usage.prompt_tokens for c in row] == [3, 3, 3]
    expected_computed = [3, 0, 0] if fork else [3, 3, 3]
    assert [c.usage.prompt_tokens_computed for c in row] == expected_computed
    assert [c.usage.completion_tokens for c in row] == [2, 3, 2]
    assert [c.usage.completion_tokens for c in row] == [c.completion_tokens for c in row]
    assert all(c.usage.engine_calls == 0 for c in row)


def test_prompt_text_of_a_chat() -> None:
    request = GenerationRequest.chat("What is 2+2?", system="Be brief.", assistant_prefix="Well,")
    assert prompt_text(request) == "system: Be brief.\nuser: What is 2+2?\nassistant: Well,"


async def test_requests_and_calls_are_recorded() -> None:
    engine = FakeEngine(["ok"])
    first, second = GenerationRequest(text="a"), GenerationRequest(text="b", n=2)
    results = await engine.generate([first, second])
    await engine.generate([GenerationRequest(text="c")])
    assert [len(row) for row in results] == [1, 2]
    assert engine.requests == [first, second, GenerationRequest(text="c")]
    assert engine.calls == 2


async def test_logprobs_only_when_asked() -> None:
    engine = FakeEngine(["four words of text"])
    [plain] = await one(engine, GenerationRequest(text="q"))
    [scored] = await one(engine, GenerationRequest(text="q", logprobs=True))
    assert plain.logprobs is None and plain.sum_logprob is None
    assert scored.logprobs is not None
    assert [t.token for t in scored.logprobs] == ["four", "words", "of", "text"]
    assert scored.sum_logprob == pytest.approx(-2.0)
