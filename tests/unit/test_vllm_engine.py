"""The in-process vLLM engine against a stand-in with vLLM's async API (no GPU, no vLLM): what it
asks vLLM for, how vLLM's outputs become completions, streaming and abort, errors, the plugin,
and strategies giving the same results as on the fake engine."""

from __future__ import annotations

import asyncio
import math
import sys
from typing import Any

import pytest
from click.testing import CliRunner
from tests.support.vllm_standin import (
    RequestOutputKind,
    SamplingParams,
    StandInLLM,
    StandInTokenizer,
    VLLMClientError,
)

import ponder
from ponder.cli.main import cli
from ponder.core.errors import (
    BackendUnavailableError,
    ContextOverflowError,
    EngineError,
    InvalidInputError,
)
from ponder.core.seeding import derive_seed
from ponder.engines import FakeEngine, GenerationRequest, Scripted
from ponder.engines.fake import prompt_text
from ponder.engines.registry import create_engine, engine_plugin
from ponder.engines.streaming import SampleDelta, SampleDone
from ponder.engines.vllm import VLLMEngine

QUESTION = "What is 2 + 2?"


def engine_on(llm: StandInLLM, **options: Any) -> VLLMEngine:
    return VLLMEngine(
        llm,
        sampling_params=SamplingParams,
        output_kind=RequestOutputKind.DELTA,
        model="stand-in",
        tokenizer=llm.tokenizer,
        max_context=llm.max_model_len,
        **options,
    )


def saying(text: str) -> StandInLLM:
    return StandInLLM(lambda prompt, seed: text)


# -- what vLLM is asked for ----------------------------------------------------------------------


async def test_each_sample_is_one_request_seeded_by_its_identity() -> None:
    llm = saying("The answer is 4.")
    engine = engine_on(llm)
    request = GenerationRequest.chat(
        QUESTION, n=3, seed=7, first_index=5, temperature=0.6, top_p=0.9, max_tokens=32, stop=("\n\n",)
    )
    await engine.generate([request])
    params = [p for _, p, _ in llm.requests]
    assert [p.seed for p in params] == [derive_seed(7, 5 + i) for i in range(3)]
    assert {(p.n, p.temperature, p.top_p, p.max_tokens, tuple(p.stop or ())) for p in params} == {
        (1, 0.6, 0.9, 32, ("\n\n",))
    }
    assert {p.logprobs for p in params} == {None} and {p.output_kind for p in params} == {RequestOutputKind.DELTA}
    assert len({request_id for request_id, _, _ in llm.requests}) == 3  # a request id per sample


async def test_chats_use_the_chat_template_and_raw_text_is_sent_as_it_is() -> None:
    llm = saying("4")
    engine = engine_on(llm)
    tokenizer = llm.tokenizer_impl
    chat = GenerationRequest.chat(QUESTION, system="Be brief.", assistant_prefix="Step 1:")
    await engine.generate([chat, GenerationRequest(text="2 + 2 =")])
    [(_, _, chat_ids), (_, _, text_ids)] = llm.requests
    assert tokenizer.decode(chat_ids) == f"<|system|>Be brief.\n<|user|>{QUESTION}\n<|assistant|>Step 1:"
    assert text_ids[0] == 0 and tokenizer.decode(text_ids[1:]) == "2 + 2 ="  # raw text: with BOS
    assert tokenizer.encodings[0][1] is False  # the template writes its own special tokens


async def test_a_tokenizer_without_a_template_renders_plain_turns() -> None:
    llm = StandInLLM(lambda prompt, seed: "4", tokenizer_impl=StandInTokenizer(chat_template=None))
    await engine_on(llm).generate([GenerationRequest.chat(QUESTION)])
    [(_, _, ids)] = llm.requests
    assert llm.tokenizer_impl.decode(ids[1:]) == f"Question: {QUESTION}\nAnswer:"


async def test_max_tokens_is_capped_by_the_context_and_a_long_prompt_is_refused() -> None:
    llm = StandInLLM(lambda prompt, seed: "4", max_model_len=12)
    engine = engine_on(llm)
    await engine.generate([GenerationRequest(text="one two three", max_tokens=100)])
    assert llm.requests[0][1].max_tokens == 12 - 4  # BOS + three words
    with pytest.raises(ContextOverflowError, match="prompt has 13 tokens but the model's context holds 12"):
        await engine.generate([GenerationRequest(text=" ".join(["w"] * 12))])


async def test_logprobs_ask_for_as_many_alternatives_as_the_request() -> None:
    llm = saying("4")
    engine = engine_on(llm)
    await engine.generate([GenerationRequest.chat(QUESTION, logprobs=True)])
    await engine.generate([GenerationRequest.chat(QUESTION, top_logprobs=5)])
    assert [p.logprobs for _, p, _ in llm.requests] == [0, 5]


# -- what comes back -----------------------------------------------------------------------------


async def test_outputs_become_completions_with_finish_reasons_and_stop_strings() -> None:
    llm = StandInLLM(lambda prompt, seed: "The answer is 4.\n\nAnd more words here.")
    engine = engine_on(llm)
    [[stopped], [capped], [whole]] = await engine.generate(
        [
            GenerationRequest.chat(QUESTION, stop=("\n\n",)),
            GenerationRequest.chat(QUESTION, max_tokens=3),
            GenerationRequest.chat(QUESTION),
        ]
    )
    assert (stopped.text, stopped.finish_reason, stopped.stop_sequence) == ("The answer is 4.", "stop", "\n\n")
    assert (stopped.completion_tokens, stopped.usage.completion_tokens) == (4, 4)
    assert (capped.text, capped.finish_reason, capped.stop_sequence) == ("The answer is", "length", None)
    assert (whole.finish_reason, whole.stop_sequence, whole.completion_tokens) == ("stop", None, 8)
    assert whole.logprobs is None and whole.error is None


async def test_logprobs_and_top_alternatives_become_token_logprobs() -> None:
    verdict = Scripted("Yes it is", logprob=-0.25, top=(("Yes", math.log(0.8)), ("No", math.log(0.2))))
    engine = engine_on(StandInLLM(lambda prompt, seed: verdict))
    [[top], [plain]] = await engine.generate(
        [GenerationRequest.chat(QUESTION, top_logprobs=2), GenerationRequest.chat(QUESTION, logprobs=True)]
    )
    assert top.logprobs is not None and [t.token for t in top.logprobs] == ["Yes", " it", " is"]
    first = top.logprobs[0]
    assert first.logprob == math.log(0.8) and first.top == (("Yes", math.log(0.8)), ("No", math.log(0.2)))
    assert top.logprobs[1].top == ((" it", -0.25),)
    assert plain.logprobs is not None and [t.top for t in plain.logprobs] == [(), (), ()]
    assert plain.sum_logprob == pytest.approx(-0.75)


async def test_usage_counts_the_prompt_as_requested_and_as_computed() -> None:
    llm = saying("The answer is 4.")
    engine = engine_on(llm)
    [row] = await engine.generate([GenerationRequest.chat(QUESTION, n=4)])
    prompt = len(llm.requests[0][2])
    assert [c.usage.prompt_tokens for c in row] == [prompt] * 4
    first, *others = (c.usage.prompt_tokens_computed for c in row)
    assert first == prompt  # computed once...
    assert all(computed == prompt - (prompt - 1) // 4 * 4 for computed in others)  # ...the rest from the cache
    assert llm.started[0] == llm.requests[0][0]  # sample 0 went first


async def test_without_shared_prefill_the_samples_start_together() -> None:
    llm = saying("The answer is 4.")
    [row] = await engine_on(llm, share_prefill=False).generate([GenerationRequest.chat(QUESTION, n=3)])
    prompt = len(llm.requests[0][2])
    assert [c.usage.prompt_tokens_computed for c in row] == [prompt] * 3  # nothing was cached yet


async def test_the_tokenizer_may_come_from_an_awaited_get_tokenizer() -> None:
    llm = StandInLLM(lambda prompt, seed: "4", async_tokenizer=True)
    engine = VLLMEngine(llm, sampling_params=SamplingParams, output_kind=RequestOutputKind.DELTA, model="m")
    request = GenerationRequest.chat(QUESTION)
    with pytest.raises(EngineError, match=r"await engine\.tokenizer\(\) first"):
        engine.count_tokens(request)
    [[completion]] = await engine.generate([request])
    assert completion.text == "4" and engine.count_tokens(request) == len(llm.requests[0][2])


# -- streaming and abort -------------------------------------------------------------------------


async def test_a_stopped_sample_is_aborted_and_keeps_its_text() -> None:
    llm = StandInLLM(lambda prompt, seed: "one two three four five six seven eight", token_delay=0.01)
    engine = engine_on(llm)
    stream = engine.stream(GenerationRequest.chat(QUESTION, n=2))
    texts = {0: "", 1: ""}
    done: dict[int, Any] = {}
    async for event in stream:
        if isinstance(event, SampleDelta):
            texts[event.index] += event.text
            if event.index == 1 and event.tokens == 2:
                stream.stop(1)
        elif isinstance(event, SampleDone):
            done[event.index] = event.completion
    assert done[0].finish_reason == "stop" and done[0].text == texts[0] and done[0].completion_tokens == 8
    assert done[1].finish_reason == "cancelled" and done[1].text == texts[1] == "one two"
    await asyncio.sleep(0.01)
    sample_1 = llm.requests[1][0]
    assert sample_1 in llm.aborted and llm.requests[0][0] not in llm.aborted


class StoppingTokenizer(StandInTokenizer):
    """Runs ``then`` (once) right after the engine has tokenized a prompt: in the loop's next
    round, after the engine has created its sample tasks and before they take their first step."""

    then: Any = None

    def encode(self, text: str, add_special_tokens: bool = True) -> list[int]:
        if self.then is not None:
            asyncio.get_running_loop().call_soon(self.then)
            self.then = None
        return super().encode(text, add_special_tokens)


@pytest.mark.parametrize("share_prefill", [False, True])
async def test_a_sample_stopped_before_its_request_starts_still_ends(share_prefill: bool) -> None:
    tokenizer = StoppingTokenizer()
    llm = StandInLLM(lambda prompt, seed: "one two three", tokenizer_impl=tokenizer)
    engine = engine_on(llm, share_prefill=share_prefill)
    stream = engine.stream(GenerationRequest.chat(QUESTION, n=2))
    tokenizer.then = stream.cancel if share_prefill else lambda: stream.stop(1)
    row = await asyncio.wait_for(stream.completions(), 5)  # no hang: every sample says it ended
    if share_prefill:  # cancelled before sample 0 started: nothing was sent
        assert [c.finish_reason for c in row] == ["cancelled", "cancelled"] and llm.requests == []
    else:
        assert [(c.finish_reason, c.text) for c in row] == [("stop", "one two three"), ("cancelled", "")]
        assert len(llm.requests) == 1  # sample 1 never reached vLLM


async def test_cancelling_the_call_aborts_every_sample() -> None:
    llm = StandInLLM(lambda prompt, seed: "word " * 50, token_delay=0.01)
    engine = engine_on(llm)
    call = asyncio.ensure_future(engine.generate([GenerationRequest.chat(QUESTION, n=3)]))
    while len(llm.requests) < 3:
        await asyncio.sleep(0.005)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    await asyncio.sleep(0.02)
    assert {request_id for request_id, _, _ in llm.requests} <= set(llm.aborted)


async def test_rows_arrive_as_each_request_finishes() -> None:
    llm = StandInLLM(lambda prompt, seed: "short" if "fast" in prompt else "a much longer answer " * 5)
    engine = engine_on(llm)
    arrivals = [
        position
        async for arrived in engine.generate_each([GenerationRequest.chat("slow"), GenerationRequest.chat("fast")])
        for position, _ in arrived
    ]
    assert arrivals == [1, 0]


# -- errors and closing ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raised", "expected", "message"),
    [
        (ValueError("bad stop"), InvalidInputError, "vLLM refused the request: ValueError: bad stop"),
        (type("EngineDeadError", (RuntimeError,), {})("gone"), BackendUnavailableError, "vLLM engine is dead"),
        (type("VLLMValidationError", (VLLMClientError,), {})("max_tokens"), InvalidInputError, "refused"),
        (RuntimeError("boom"), EngineError, "vLLM failed: RuntimeError: boom"),  # the cause of EngineGenerateError
    ],
)
async def test_vllm_errors_become_ponder_errors(raised: Exception, expected: type, message: str) -> None:
    llm = StandInLLM(lambda prompt, seed: "one two three", fail_with=raised)
    with pytest.raises(expected, match=message):
        await engine_on(llm).generate([GenerationRequest.chat(QUESTION, n=2)])


@pytest.mark.parametrize(
    ("reason", "finish", "error"),
    [
        ("error", "error", "vLLM failed on the request (finish_reason 'error')"),
        ("abort", "error", "vLLM aborted the request"),
        ("repetition", "length", None),
        ("something-new", "error", "vLLM ended the request: finish_reason 'something-new'"),
    ],
)
async def test_finish_reasons_other_than_stop_and_length(reason: str, finish: str, error: str | None) -> None:
    llm = StandInLLM(lambda prompt, seed: "one two three", finish_with=reason)
    [[completion]] = await engine_on(llm).generate([GenerationRequest.chat(QUESTION, logprobs=True)])
    assert (completion.finish_reason, completion.error) == (finish, error)
    assert completion.text == ("" if error else "one two three") and completion.stop_sequence is None
    assert (completion.logprobs is None) == (error is not None)


def test_the_engine_serves_in_one_event_loop() -> None:
    llm = saying("4")
    engine = engine_on(llm)
    request = GenerationRequest.chat(QUESTION)
    [[first]] = asyncio.run(engine.generate([request]))
    assert first.text == "4"
    with pytest.raises(EngineError, match="serves in the one event loop it started in"):
        asyncio.run(engine.generate([request]))  # vLLM's output handler is a task of the first loop
    assert len(llm.requests) == 1


async def test_closing_shuts_vllm_down_and_refuses_more_work() -> None:
    llm = saying("4")
    engine = engine_on(llm)
    await engine.generate([GenerationRequest.chat(QUESTION)])
    await engine.aclose()
    await engine.aclose()
    assert llm.shut_down
    with pytest.raises(EngineError, match="closed"):
        await engine.generate([GenerationRequest.chat(QUESTION)])


# -- the plugin -------------------------------------------------------------------------------------


def test_the_plugin_is_built_in_and_needs_a_model() -> None:
    plugin = engine_plugin("vllm")
    options = {info.name: info for info in plugin.describe()}
    assert options["model"].required and options["share_prefill"].default is True
    assert plugin.form == "vllm:MODEL"
    with pytest.raises(InvalidInputError, match="engine 'vllm' needs option model"):
        create_engine("vllm")


def test_without_vllm_the_error_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "vllm", None)
    with pytest.raises(BackendUnavailableError, match=r"pip install 'ponder\[vllm\]'"):
        create_engine("vllm", model="Qwen/Qwen2.5-0.5B-Instruct")
    result = CliRunner().invoke(cli, ["solve", QUESTION, "--engine", "vllm", "--model", "m"])
    assert result.exit_code == 1 and "Traceback" not in result.stderr, result.output
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: --engine vllm needs vLLM (and a GPU): pip install 'ponder[vllm]'")


# -- strategies give the same results as on the fake engine ---------------------------------------

SAMPLES = ["The answer is 4.", "I get 4, so the answer is 4.", "The answer is 5."]
JUDGE = {"answer is 4": 0.3, "answer is 5": 0.9}


def choose(prompt: str, seed: int) -> Scripted:
    """A sample's text by its seed; a judge's verdict (P(yes) by the solution it is asked about)."""
    if "Reply with Yes or No" in prompt:  # the self-eval judge's question, after the solution
        p = next(p for key, p in JUDGE.items() if key in prompt)
        return Scripted("Yes" if p >= 0.5 else "No", top=(("Yes", math.log(p)), ("No", math.log(1 - p))))
    return Scripted(SAMPLES[seed % 3])


def fake_engine() -> FakeEngine:
    return FakeEngine(
        lambda request, i: choose(prompt_text(request), derive_seed(request.seed, request.first_index + i))
    )


@pytest.mark.parametrize(
    ("strategy", "options"), [("self-consistency", {}), ("best-of-n", {}), ("best-of-n", {"scorer": "self-eval:fresh"})]
)
async def test_strategies_give_the_same_results_as_on_the_fake(strategy: str, options: dict[str, str]) -> None:
    results = []
    for engine in (fake_engine(), engine_on(StandInLLM(choose))):
        results.append(await ponder.asolve(QUESTION, engine=engine, strategy=strategy, budget=6, options=options))
        await engine.aclose()
    fake, vllm = results
    assert vllm.answer == fake.answer and vllm.votes == fake.votes
    assert [(c.text, c.answer, c.score) for c in vllm.candidates] == [
        (c.text, c.answer, c.score) for c in fake.candidates
    ]
    assert vllm.usage.completion_tokens == fake.usage.completion_tokens
    assert len({c.text for c in vllm.candidates}) > 1  # the seeds did pick different samples
