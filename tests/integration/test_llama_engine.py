"""The embedded llama.cpp engine on the real default model (short generations)."""

from __future__ import annotations

import pytest

from ponder.core.errors import ContextOverflowError, InvalidModelError, ModelNotFoundError
from ponder.engines.base import GenerationRequest, Message
from ponder.engines.llama import LlamaEngine

pytestmark = pytest.mark.model

QUESTION = "A farmer has 7 cows and buys 5 more. How many cows does he have?"


def chat(question: str = QUESTION, **options: object) -> GenerationRequest:
    return GenerationRequest.chat(question, **options)


def test_same_seed_same_text_after_reset(llama_engine: LlamaEngine) -> None:
    request = chat(n=3, max_tokens=32, temperature=0.9, seed=11)
    llama_engine.reset_cache()
    first = [c.text for c in llama_engine.generate_sync([request])[0]]
    llama_engine.reset_cache()
    second = [c.text for c in llama_engine.generate_sync([request])[0]]
    assert first == second


def test_same_seed_same_text_from_cache(llama_engine: LlamaEngine) -> None:
    request = chat(n=1, max_tokens=32, temperature=0.9, seed=5)
    first = llama_engine.generate_sync([request])[0][0]
    again = llama_engine.generate_sync([request])[0][0]  # prompt now served from the cache
    assert again.usage.prompt_tokens_computed <= 1
    assert again.text == first.text


def test_samples_at_positive_temperature_differ(llama_engine: LlamaEngine) -> None:
    completions = llama_engine.generate_sync([chat(n=4, max_tokens=24, temperature=1.0, seed=3)])[0]
    assert len(completions) == 4
    assert [c.index for c in completions] == [0, 1, 2, 3]
    assert len({c.text for c in completions}) >= 3


def test_different_seeds_differ(llama_engine: LlamaEngine) -> None:
    texts = {llama_engine.generate_sync([chat(max_tokens=24, temperature=1.0, seed=s)])[0][0].text for s in range(3)}
    assert len(texts) >= 2


def test_greedy_is_deterministic_across_n(llama_engine: LlamaEngine) -> None:
    completions = llama_engine.generate_sync([chat(n=3, max_tokens=16, temperature=0)])[0]
    assert len({c.text for c in completions}) == 1


def test_max_tokens_is_honoured(llama_engine: LlamaEngine) -> None:
    completions = llama_engine.generate_sync([chat(n=2, max_tokens=5, temperature=0.8)])[0]
    for completion in completions:
        assert completion.completion_tokens <= 5
        if completion.completion_tokens == 5:
            assert completion.finish_reason == "length"


def test_stop_strings_are_honoured(llama_engine: LlamaEngine) -> None:
    request = GenerationRequest(
        messages=(Message("user", "Count from 1 to 20, separated by commas."),),
        assistant_prefix="1, 2, 3,",
        max_tokens=40,
        temperature=0,
        stop=(" 7",),
    )
    completion = llama_engine.generate_sync([request])[0][0]
    assert completion.finish_reason == "stop"
    assert completion.text.strip() == "4, 5, 6,"


def test_partial_answer_is_continued(llama_engine: LlamaEngine) -> None:
    request = GenerationRequest(
        messages=(Message("user", "Count from 1 to 10."),),
        assistant_prefix="1, 2, 3, 4,",
        max_tokens=6,
        temperature=0,
    )
    completion = llama_engine.generate_sync([request])[0][0]
    assert completion.text.startswith(" 5, 6")


def test_raw_text_is_continued(llama_engine: LlamaEngine) -> None:
    completion = llama_engine.generate_sync(
        [GenerationRequest(text="The capital of France is", max_tokens=4, temperature=0)]
    )[0][0]
    assert "Paris" in completion.text


def test_usage_adds_up(llama_engine: LlamaEngine) -> None:
    request = chat("What is 12 plus 30?", n=3, max_tokens=20, temperature=0.7, seed=2)
    prompt_length = llama_engine.count_tokens(request)
    completions = llama_engine.generate_sync([request])[0]
    for completion in completions:
        assert completion.usage.prompt_tokens == prompt_length
        assert completion.usage.completion_tokens == completion.completion_tokens
        assert 1 <= completion.completion_tokens <= 20
    assert sum(c.usage.prompt_tokens_computed for c in completions) <= prompt_length


def test_forked_samples_compute_the_prompt_once(llama_engine: LlamaEngine) -> None:
    llama_engine.reset_cache()
    request = chat("Lena reads 9 pages a day for 4 days. How many pages?", n=8, max_tokens=8, seed=4)
    prompt_length = llama_engine.count_tokens(request)
    completions = llama_engine.generate_sync([request])[0]
    assert sum(c.usage.prompt_tokens for c in completions) == 8 * prompt_length
    assert sum(c.usage.prompt_tokens_computed for c in completions) == prompt_length
    assert [c.usage.prompt_tokens_computed for c in completions][1:] == [0] * 7


def test_prefix_cache_computes_only_new_tokens(llama_engine: LlamaEngine) -> None:
    llama_engine.reset_cache()
    base = chat("Sam has 4 pens and gets 3 more.", max_tokens=4, temperature=0)
    llama_engine.generate_sync([base])
    longer = GenerationRequest(
        messages=base.messages, assistant_prefix="First, 4 + 3 = 7, so", max_tokens=4, temperature=0
    )
    new_tokens = llama_engine.count_tokens(longer) - llama_engine.count_tokens(base)
    completion = llama_engine.generate_sync([longer])[0][0]
    assert 0 < completion.usage.prompt_tokens_computed <= new_tokens + 1


def test_logprobs_cover_the_generated_tokens(llama_engine: LlamaEngine) -> None:
    completion = llama_engine.generate_sync([chat(max_tokens=12, temperature=0, logprobs=True)])[0][0]
    assert completion.logprobs is not None
    assert "".join(t.token for t in completion.logprobs) == completion.text
    assert all(t.logprob <= 0 for t in completion.logprobs)
    assert completion.sum_logprob is not None and completion.sum_logprob < 0
    plain = llama_engine.generate_sync([chat(max_tokens=4, temperature=0)])[0][0]
    assert plain.logprobs is None


def test_a_batch_of_requests_keeps_them_apart(llama_engine: LlamaEngine) -> None:
    requests = [
        GenerationRequest(text="The capital of France is", max_tokens=3, temperature=0),
        GenerationRequest(
            messages=(Message("user", "Count from 1 to 10."),),
            assistant_prefix="1, 2, 3, 4,",
            max_tokens=4,
            temperature=0,
            n=2,
        ),
    ]
    capital, counting = llama_engine.generate_sync(requests)
    assert len(capital) == 1 and len(counting) == 2
    assert "Paris" in capital[0].text
    assert all(c.text.startswith(" 5") for c in counting)


def test_more_samples_than_sequences_run_in_waves(llama_engine: LlamaEngine) -> None:
    completions = llama_engine.generate_sync([chat(n=20, max_tokens=4, temperature=0.8, seed=9)])[0]
    assert len(completions) == 20
    assert [c.index for c in completions] == list(range(20))
    assert all(c.completion_tokens >= 1 for c in completions)


def test_prompt_longer_than_context_is_refused(llama_engine: LlamaEngine) -> None:
    with pytest.raises(ContextOverflowError, match="context holds"):
        llama_engine.generate_sync([chat("apple " * 5000, max_tokens=4)])


def test_small_cache_evicts_and_still_answers() -> None:
    with LlamaEngine(n_ctx=256, n_seq_max=8) as engine:
        for seed in range(3):
            completions = engine.generate_sync([chat(n=4, max_tokens=40, temperature=0.8, seed=seed)])[0]
            assert len(completions) == 4
        with pytest.raises(ContextOverflowError):
            engine.generate_sync([chat("apple " * 300, max_tokens=4)])


def test_bad_model_files_are_refused(tmp_path) -> None:
    fake = tmp_path / "fake.gguf"
    fake.write_bytes(b"GGUF" + b"\0" * 60)
    with pytest.raises(InvalidModelError):
        LlamaEngine(str(fake))
    with pytest.raises(ModelNotFoundError):
        LlamaEngine(str(tmp_path / "missing.gguf"))
