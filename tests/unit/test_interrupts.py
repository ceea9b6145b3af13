"""Interrupts on running runs (issue #21 item 1): hard, soft and update, on a scripted streaming engine.

The :class:`FakeEngine` streams word by word, deterministically, so ``run.interrupt_at(k, ...)``
interrupts right after a sample's k-th word, always at the same place. Its script reasons at length
and answers after the notes a signal appends: a hard interrupt's answer cue gets " 7.", the soft
note " so the answer is 9.", an update note " with the update the answer is 11.".
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections.abc import Sequence
from typing import Any, ClassVar

import pytest

import ponder
from ponder.context import StepContext
from ponder.context.interrupts import SOFT_NOTE, InterruptSettings, answer_cue
from ponder.core.decision import Decision
from ponder.core.errors import InvalidInputError
from ponder.core.usage import Usage
from ponder.core.voting import vote
from ponder.engines import FakeEngine, GenerationRequest
from ponder.engines.fake import prompt_text
from ponder.strategies.base import StepInfo, Strategy, step_info
from ponder.strategies.sampling import Samples

QUESTION = "Tom has 3 boxes of 4 apples. How many apples?"
CUE = answer_cue("math")
LENGTH = 30  # words of reasoning a sample would write uninterrupted


def reasoning(request: GenerationRequest, index: int) -> str:
    prefix = request.assistant_prefix
    if prefix.endswith(CUE):
        return " 7."
    if prefix.endswith(SOFT_NOTE):
        return " so the answer is 9."
    if prefix.endswith("]\n\n"):
        return " with the update the answer is 11."
    identity = request.first_index + index
    user = request.messages[-1].content if request.messages else ""
    answer = 13 if "Update:" in user else 12
    return " ".join(f"w{identity}.{k}" for k in range(LENGTH)) + f" The answer is {answer}."


def texts(result: ponder.SolveResult) -> list[str]:
    return [c.text for c in result.candidates]


def interrupt_entry(result: ponder.SolveResult) -> dict[str, Any]:
    [entry] = [e for e in result.trace if e["action"] == "interrupt"]
    return entry


def without_time(usage: Usage) -> Usage:
    return dataclasses.replace(usage, wall_seconds=0.0)


# -- no interrupt: nothing changes --------------------------------------------------------------


@pytest.mark.parametrize(
    ("strategy", "options"),
    [
        ("self-consistency", {}),
        ("self-consistency", {"batch": 2}),
        ("adaptive-self-consistency", {"batch": 3}),
        ("deepconf", {"mode": "offline"}),
        ("best-of-n", {}),
    ],
)
async def test_an_interruptible_run_without_interrupts_is_the_plain_run(strategy: str, options: dict[str, Any]) -> None:
    plain_engine, live_engine = FakeEngine(reasoning), FakeEngine(reasoning)
    plain = await ponder.asolve(QUESTION, engine=plain_engine, strategy=strategy, options=options, budget=6, seed=3)
    live = await ponder.start(QUESTION, live_engine, strategy=strategy, options=options, budget=6, seed=3).run()
    assert live.candidates == plain.candidates and texts(live) == texts(plain)
    assert live.answer == plain.answer and live.votes == plain.votes
    assert live.trace == plain.trace and live.stop_reason == plain.stop_reason == "done"
    assert without_time(live.usage) == without_time(plain.usage)
    assert [r.seed for r in live_engine.requests] == [r.seed for r in plain_engine.requests]


# -- hard ----------------------------------------------------------------------------------------


async def test_hard_interrupt_concludes_every_live_sample_from_its_partial_reasoning() -> None:
    engine = FakeEngine(reasoning)
    run = ponder.start(QUESTION, engine, budget=3, max_tokens=64)
    run.interrupt_at(5, "hard")
    result = await run.run()

    assert result.stop_reason == "interrupted"
    assert result.answer == "7" and result.votes == {"7": 3.0}
    # Sample 0 had just written its 5th word; the others (their turns come after it) 4 words.
    partial = [5, 4, 4]
    for candidate, words in zip(result.candidates, partial, strict=True):
        reasoned = " ".join(f"w{candidate.index}.{k}" for k in range(words))
        assert candidate.text == reasoned + CUE + " 7."
        assert candidate.completion_tokens == words + 1 and candidate.finish_reason == "stop"
    # Within one decode step: each sample stopped at the very next event, then one continuation each,
    # capped at the answer cue's tokens, continuing the partial text (prefix reuse) with the cue.
    continuations = engine.requests[1:]
    assert [r.first_index for r in continuations] == [0, 1, 2]
    assert all(r.n == 1 and r.max_tokens == InterruptSettings().answer_tokens for r in continuations)
    assert [r.assistant_prefix for r in continuations] == [c.text[: -len(" 7.")] for c in result.candidates]
    entry = interrupt_entry(result)
    assert entry["signals"] == [{"signal": 1, "mode": "hard"}]
    assert [(s["sample"], s["tokens"], s["extra_tokens"], s["concluded"]) for s in entry["samples"]] == [
        (0, 5, 1, True),
        (1, 4, 1, True),
        (2, 4, 1, True),
    ]
    assert entry["extra_tokens"] == 3 and result.usage.interrupt_tokens == 3
    assert result.usage.completion_tokens == sum(partial) + 3
    assert result.usage.engine_calls == 4


async def test_a_hard_interrupt_from_another_thread_stops_a_running_run() -> None:
    class Slow(FakeEngine):
        def stream(self, request: GenerationRequest) -> Any:
            made = super().stream(request)
            events = made._events

            async def slowly() -> Any:
                async for event in events():
                    await asyncio.sleep(0.01)
                    yield event

            made._events = slowly  # type: ignore[method-assign]
            return made

    engine = Slow(reasoning)
    run = ponder.start(QUESTION, engine, budget=2, max_tokens=64)
    task = asyncio.ensure_future(run.run())
    await asyncio.sleep(0.1)  # some words in
    thread = threading.Thread(target=run.interrupt, args=("hard",))
    thread.start()
    thread.join()
    result = await asyncio.wait_for(task, 10)
    assert result.stop_reason == "interrupted" and result.answer == "7"
    assert all(c.text.endswith(CUE + " 7.") and c.completion_tokens < LENGTH for c in result.candidates)


async def test_hard_interrupt_reaches_the_streams_of_deepconf_and_adaptive() -> None:
    for strategy, options in (("deepconf", {"mode": "offline"}), ("adaptive-self-consistency", {"batch": 4})):
        run = ponder.start(QUESTION, FakeEngine(reasoning), strategy=strategy, options=options, budget=4, max_tokens=64)
        run.interrupt_at(3, "hard")
        result = await run.run()
        assert result.stop_reason == "interrupted", strategy
        assert result.answer == "7", strategy
        assert all(c.text.endswith(CUE + " 7.") for c in result.candidates), strategy


async def test_hard_interrupt_after_some_steps_keeps_them_and_draws_nothing_new() -> None:
    engine = FakeEngine(reasoning)
    run = ponder.start(QUESTION, engine, budget=6, max_tokens=64, options={"batch": 2})
    assert await run.step()  # two finished samples
    run.interrupt_at(2, "hard")
    result = await run.run()
    assert [c.answer for c in result.candidates] == ["12", "12", "7", "7"]
    assert result.stop_reason == "interrupted" and result.answer == "12"  # the tie goes to the first seen
    assert [r.first_index for r in engine.requests if not r.assistant_prefix] == [0, 2]


class TwoCalls(Strategy[Any, Samples]):
    """A step that streams samples, then asks for more (a hard interrupt drops the whole step)."""

    name: ClassVar[str] = "two-calls"
    summary: ClassVar[str] = "test"

    def init(self, ctx: StepContext) -> Samples:
        return Samples()

    async def step(self, state: Samples, ctx: StepContext) -> tuple[Samples, StepInfo]:
        first = await ctx.sample(1, temperature=0.5)
        second = await ctx.sample(1, temperature=0.5)
        return Samples(state.candidates + tuple(first + second), finished=True), step_info("sample")

    def done(self, state: Samples, ctx: StepContext) -> bool:
        return state.finished

    def decide(self, state: Samples, ctx: StepContext) -> Decision:
        return vote(state.candidates, ctx.task)


async def test_a_step_that_asks_for_more_after_a_hard_interrupt_is_dropped() -> None:
    engine = FakeEngine(reasoning)
    plan = ponder.api.plan(QUESTION, budget=2, max_tokens=64)
    run = dataclasses.replace(plan, algorithm=TwoCalls()).start(engine)
    run.interrupt_at(3, "hard")
    result = await run.run()
    assert result.stop_reason == "interrupted"
    assert result.candidates == [] and result.answer is None
    assert len(engine.requests) == 2  # the first sample and its conclusion; the second never started
    assert interrupt_entry(result)["samples"][0]["concluded"]


async def test_an_open_thinking_section_is_closed_before_the_cue() -> None:
    def thinking(request: GenerationRequest, index: int) -> str:
        if request.assistant_prefix.endswith(CUE):
            return " 7."
        return "<think> " + " ".join(f"t{k}" for k in range(20)) + " </think> The answer is 12."

    engine = FakeEngine(thinking)
    run = ponder.start(QUESTION, engine, budget=1, max_tokens=64)
    run.interrupt_at(4, "hard")
    [candidate] = (await run.run()).candidates
    assert candidate.text == "<think> t0 t1 t2\n</think>" + CUE + " 7."
    assert InterruptSettings(thinking=False).cue("math", "<think> a") == CUE
    assert InterruptSettings(thinking=True).cue("math", "no tags") == "\n</think>" + CUE


async def test_an_engine_that_cannot_continue_keeps_the_partial_text() -> None:
    engine = FakeEngine(reasoning)
    engine.capabilities = dataclasses.replace(engine.capabilities, raw_continuation=False)
    run = ponder.start(QUESTION, engine, budget=2, max_tokens=64)
    run.interrupt_at(3, "hard")
    result = await run.run()
    assert result.stop_reason == "interrupted"
    assert [c.finish_reason for c in result.candidates] == ["cancelled", "cancelled"]
    assert [c.completion_tokens for c in result.candidates] == [3, 2]
    assert not any(s["continued"] for s in interrupt_entry(result)["samples"])
    assert len(engine.requests) == 1


# -- soft ----------------------------------------------------------------------------------------


async def test_soft_interrupt_appends_the_note_and_reduces_the_budget() -> None:
    engine = FakeEngine(reasoning)
    settings = InterruptSettings(soft_budget=0.5, answer_tokens=4)
    run = ponder.start(QUESTION, engine, budget=4, max_tokens=64, options={"batch": 2}, interrupt_settings=settings)
    run.interrupt_at(6, "soft")
    result = await run.run()
    assert result.stop_reason == "interrupted"  # concluded the step in progress, then stopped
    assert len(result.candidates) == 2 and result.answer == "9"
    first, second = engine.requests[1:]
    assert first.assistant_prefix.endswith(SOFT_NOTE) and second.assistant_prefix.endswith(SOFT_NOTE)
    assert (first.max_tokens, second.max_tokens) == (29, 30)  # half of the 58 and 59 tokens left
    entry = interrupt_entry(result)
    assert [(s["mode"], s["tokens"], s["extra_tokens"]) for s in entry["samples"]] == [("soft", 6, 5), ("soft", 5, 5)]


async def test_soft_then_hard_concludes_the_hurried_samples() -> None:
    def hurried(request: GenerationRequest, index: int) -> str:
        if request.assistant_prefix.endswith(CUE):
            return " 7."
        return " ".join(f"h{k}" for k in range(40)) if request.assistant_prefix else reasoning(request, index)

    engine = FakeEngine(hurried)
    run = ponder.start(QUESTION, engine, budget=1, max_tokens=64)
    run.interrupt_at(3, "soft")
    run.interrupt_at(8, "hard")
    result = await run.run()
    [candidate] = result.candidates
    assert candidate.text.startswith("w0.0 w0.1 w0.2" + SOFT_NOTE + "h0 h1 h2 h3 h4")
    assert candidate.text.endswith(CUE + " 7.") and candidate.answer == "7"
    assert [(s["mode"], s["tokens"]) for s in interrupt_entry(result)["samples"]] == [("soft", 3), ("hard", 8)]


# -- update --------------------------------------------------------------------------------------


class PrefixCachingFake(FakeEngine):
    """A fake with a prefix cache: it computes only the prompt words past the longest prefix of an
    earlier sequence (an earlier prompt with its generated text); ``computed`` lists, per sample
    made, its request and the prompt words it computed."""

    def __init__(self, script: Any) -> None:
        super().__init__(script)
        self.seen: list[list[str]] = []
        self.computed: list[tuple[GenerationRequest, int]] = []

    def _sample(self, request: GenerationRequest, index: int, prompt_tokens: int) -> Any:
        sample = super()._sample(request, index, prompt_tokens)
        words = prompt_text(request).split()
        cached = max((_common(words, before) for before in self.seen), default=0)
        self.seen.append(words + sample.text.split())
        sample.usage = dataclasses.replace(sample.usage, prompt_tokens_computed=len(words) - cached)
        self.computed.append((request, len(words) - cached))
        return sample


def _common(a: Sequence[str], b: Sequence[str]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


async def test_an_update_reaches_live_samples_reusing_their_prefix_and_later_samples_see_it() -> None:
    engine = PrefixCachingFake(reasoning)
    run = ponder.start(QUESTION, engine, budget=4, max_tokens=64, options={"batch": 2})
    run.interrupt_at(5, "update", "Tom has 5 boxes.")
    result = await run.run()
    assert result.stop_reason == "done"  # an update does not stop the run
    assert [c.answer for c in result.candidates] == ["11", "11", "13", "13"]
    note = "\n\n[Update from the user: Tom has 5 boxes.]\n\n"
    updated, later = engine.requests[1:3], engine.requests[3]
    assert [r.max_tokens for r in updated] == [64 - 5, 64 - 4]  # what each had left
    assert all(r.assistant_prefix.endswith(note) for r in updated)
    assert later.messages is not None and later.messages[-1].content == QUESTION + "\n\nUpdate: Tom has 5 boxes."
    assert result.question == QUESTION
    # The continuations computed only the note: their prompt and partial text were cached.
    continued = [(len(prompt_text(r).split()), computed) for r, computed in engine.computed if r in updated]
    assert continued and all(computed == len(note.split()) < requested for requested, computed in continued)
    entry = interrupt_entry(result)
    assert entry["signals"] == [{"signal": 1, "mode": "update", "text": "Tom has 5 boxes."}]
    assert [(s["sample"], s["tokens"]) for s in entry["samples"]] == [(0, 5), (1, 4)]


async def test_an_update_before_a_sample_starts_restarts_it_on_the_updated_question() -> None:
    engine = FakeEngine(reasoning)
    run = ponder.start(QUESTION, engine, budget=2, max_tokens=64)
    run.update("Tom has 5 boxes.")  # before the run starts: every sample sees the updated question
    result = await run.run()
    assert [c.answer for c in result.candidates] == ["13", "13"]
    assert len(engine.requests) == 1

    engine = FakeEngine(reasoning)
    run = ponder.start(QUESTION, engine, budget=3, max_tokens=64)
    run.interrupt_at(1, "update", "Tom has 5 boxes.")  # samples 1 and 2 have not written a word yet
    result = await run.run()
    assert [c.answer for c in result.candidates] == ["11", "13", "13"]
    restarted = engine.requests[2:]
    assert all(r.assistant_prefix == "" and "Update: Tom has 5 boxes." in r.messages[-1].content for r in restarted)  # type: ignore[index]
    assert [r.seed for r in restarted] == [engine.requests[0].seed] * 2  # the same samples, on the new question
    assert [s["restarted"] for s in interrupt_entry(result)["samples"]] == [False, True, True]


# -- the API -------------------------------------------------------------------------------------


async def test_interrupts_check_their_arguments() -> None:
    run = ponder.start(QUESTION, FakeEngine(reasoning), budget=1)
    with pytest.raises(InvalidInputError):
        run.interrupt("later")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        run.update("   ")
    with pytest.raises(InvalidInputError):
        run.update("\ud800")
    with pytest.raises(InvalidInputError):
        run.interrupt_at(0, "hard")
    with pytest.raises(InvalidInputError):
        InterruptSettings(soft_budget=0)
    with pytest.raises(InvalidInputError):
        InterruptSettings(update_note="no place for the text")


async def test_signals_after_the_run_ended_do_nothing() -> None:
    run = ponder.start(QUESTION, FakeEngine(reasoning), budget=1)
    result = await run.run()
    run.interrupt("hard")
    run.update("too late")
    assert run.result().candidates == result.candidates and run.stop_reason == "done"
    assert not [e for e in run.trace if e["action"] == "interrupt"]


# -- review fixes --------------------------------------------------------------------------------


async def test_a_second_hard_interrupt_keeps_the_answers_being_formed() -> None:
    for fork, remote in ((False, False), (True, True)):
        run = ponder.start(QUESTION, FakeEngine(reasoning, fork=fork, remote=remote), budget=4, seed=3, max_tokens=64)
        run.interrupt_at(5, "hard")
        run.interrupt_at(5, "hard")  # reaches only samples already answering the first
        run.interrupt_at(6, "hard")  # while they answer
        result = await run.run()
        assert result.stop_reason == "interrupted" and result.answer == "7", (fork, remote)
        assert len(result.candidates) == 4 and all(c.text.endswith(CUE + " 7.") for c in result.candidates)
        assert [s["signal"] for s in interrupt_entry(result)["samples"]] == [1, 1, 1, 1]


async def test_a_hard_interrupt_after_all_answers_were_formed_keeps_the_step() -> None:
    class Scored(TwoCalls):
        """One streamed sample, then a pause (as a judge would take), then done."""

        async def step(self, state: Samples, ctx: StepContext) -> tuple[Samples, StepInfo]:
            first = await ctx.sample(1, temperature=0.5)
            await asyncio.sleep(0.05)
            return Samples(state.candidates + tuple(first), finished=True), step_info("sample")

    plan = ponder.api.plan(QUESTION, budget=1, max_tokens=64)
    run = dataclasses.replace(plan, algorithm=Scored()).start(FakeEngine(reasoning))
    run.interrupt_at(3, "hard")
    task = asyncio.ensure_future(run.run())
    await asyncio.sleep(0.02)  # the sample has answered; the step pauses
    run.interrupt("hard")
    result = await task
    assert result.answer == "7" and result.stop_reason == "interrupted"


@pytest.mark.parametrize("mode", ["soft", "update"])
async def test_a_soft_interrupt_or_update_leaves_a_sample_answering_a_hard_one_alone(mode: str) -> None:
    engine = FakeEngine(reasoning)
    run = ponder.start(QUESTION, engine, budget=2, max_tokens=64)
    run.interrupt_at(5, "hard")
    run.interrupt_at(5, mode, "Tom has 5 boxes.")  # at once after the hard one
    run.interrupt_at(6, mode, "Tom has 6 boxes.")  # while the answers are written
    result = await run.run()
    assert result.answer == "7" and result.stop_reason == "interrupted"
    for candidate, words in zip(result.candidates, (5, 4), strict=True):
        assert candidate.text == " ".join(f"w{candidate.index}.{k}" for k in range(words)) + CUE + " 7."
    assert {s["mode"] for s in interrupt_entry(result)["samples"]} == {"hard"}
    assert len(engine.requests) == 3  # the samples and one answer each: nothing cut, nothing continued again


async def test_a_server_that_takes_n_is_interrupted_through_per_sample_streams() -> None:
    engine = FakeEngine(reasoning, fork=True, remote=True)
    run = ponder.start(QUESTION, engine, budget=4, seed=3, max_tokens=64)
    run.interrupt_at(5, "hard")
    result = await run.run()
    assert result.answer == "7" and len(result.candidates) == 4 and result.stop_reason == "interrupted"
    # A plain solve still asks the server for all four samples in one request.
    plain = FakeEngine(reasoning, fork=True, remote=True)
    await ponder.asolve(QUESTION, engine=plain, budget=4, seed=3, max_tokens=64)
    assert [r.n for r in plain.requests] == [4]


class Connecting(FakeEngine):
    """A server's engine that learns what it can do when it connects (on its first stream):
    before, it reports no streaming and no raw continuation, like a fresh ``OpenAIEngine``."""

    def __init__(self, script: Any) -> None:
        super().__init__(script, remote=True)
        self.known = self.capabilities
        self.capabilities = dataclasses.replace(self.capabilities, streams=False, raw_continuation=False)

    def stream(self, request: GenerationRequest) -> Any:
        self.capabilities = self.known
        return super().stream(request)


async def test_a_fresh_server_engine_is_interrupted_once_it_has_connected() -> None:
    engine = Connecting(reasoning)
    run = ponder.start(QUESTION, engine, budget=2, max_tokens=64)
    run.interrupt_at(5, "hard")
    result = await run.run()
    assert result.answer == "7" and all(c.text.endswith(CUE + " 7.") for c in result.candidates)

    engine = Connecting(reasoning)
    run = ponder.start(QUESTION, engine, budget=1, max_tokens=64)
    run.interrupt_at(5, "soft")
    [candidate] = (await run.run()).candidates
    assert SOFT_NOTE in candidate.text and candidate.answer == "9"


async def test_a_soft_interrupt_the_engine_cannot_continue_does_not_cut_the_sample() -> None:
    engine = FakeEngine(reasoning)
    engine.capabilities = dataclasses.replace(engine.capabilities, raw_continuation=False)
    run = ponder.start(QUESTION, engine, budget=1, max_tokens=64)
    run.interrupt_at(5, "soft")
    run.interrupt_at(6, "update", "Tom has 5 boxes.")
    [candidate] = (await run.run()).candidates
    assert candidate.answer == "12" and candidate.finish_reason == "stop" and len(engine.requests) == 1


class Steps(TwoCalls):
    """A sampled first step, then a batched one (``sample_each``) that no interrupt can cut."""

    async def step(self, state: Samples, ctx: StepContext) -> tuple[Samples, StepInfo]:
        if not state.candidates:
            first = await ctx.sample(2, temperature=0.5)
            return Samples(tuple(first)), step_info("sample")
        more = await ctx.sample_each([ctx.messages()], temperature=0.5)
        return Samples(state.candidates + tuple(more), finished=True), step_info("sample-each")


async def test_a_hard_interrupt_with_nothing_live_keeps_the_best_answer_so_far() -> None:
    class SlowBatches(FakeEngine):
        async def generate(self, requests: Sequence[GenerationRequest]) -> Any:
            await asyncio.sleep(0.3)
            return await super().generate(requests)

    plan = ponder.api.plan(QUESTION, budget=3, max_tokens=64)
    run = dataclasses.replace(plan, algorithm=Steps()).start(SlowBatches(reasoning))
    assert await run.step()
    task = asyncio.ensure_future(run.run())
    await asyncio.sleep(0.05)  # the batched step is under way
    run.interrupt("hard")
    result = await asyncio.wait_for(task, 5)
    assert result.stop_reason == "interrupted"
    assert result.answer == "12" and len(result.candidates) == 2  # the first step's, not None


async def test_repeated_signals_only_shrink_a_samples_token_cap() -> None:
    def hurried(request: GenerationRequest, index: int) -> str:
        if request.assistant_prefix:
            return " ".join(f"h{k}" for k in range(80))
        return reasoning(request, index)

    settings = InterruptSettings(soft_budget=0.5, answer_tokens=4)
    engine = FakeEngine(hurried)
    run = ponder.start(QUESTION, engine, budget=1, max_tokens=64, interrupt_settings=settings)
    run.interrupt_at(6, "soft")  # cap 6 + 29 = 35
    run.interrupt_at(10, "soft")  # cap 10 + ceil(25 / 2) = 23, not 10 + 27
    run.interrupt_at(14, "update", "Tom has 5 boxes.")  # 23 - 14 = 9 left, not 50
    result = await run.run()
    assert [r.max_tokens for r in engine.requests] == [64, 29, 13, 9]
    assert result.candidates[0].completion_tokens == 23

    engine = FakeEngine(hurried)  # an update after a soft interrupt does not restore the budget
    run = ponder.start(QUESTION, engine, budget=1, max_tokens=64, interrupt_settings=settings)
    run.interrupt_at(6, "soft")
    run.interrupt_at(8, "update", "Tom has 5 boxes.")
    await run.run()
    assert [r.max_tokens for r in engine.requests] == [64, 29, 27]


async def test_bad_arguments_from_another_thread_raise_in_that_thread() -> None:
    run = ponder.start(QUESTION, FakeEngine(reasoning), budget=2, max_tokens=64, options={"batch": 1})
    assert await run.step()  # the run is bound to this loop
    errors: list[BaseException] = []

    def send(call: Any, *args: Any) -> None:
        try:
            call(*args)
        except BaseException as exc:
            errors.append(exc)

    calls = [
        (run.update, "bad \ud800"),
        (run.update, "  "),
        (run.interrupt_at, 0, "hard"),
        (run.interrupt_at, 5, "later"),
        (run.interrupt_at, 5, "update", "bad \ud800"),
        (run.interrupt, "later"),
    ]
    for call in calls:
        thread = threading.Thread(target=send, args=call)
        thread.start()
        thread.join()
    assert len(errors) == len(calls) and all(isinstance(e, InvalidInputError) for e in errors)
    result = await run.run()
    assert result.stop_reason == "done" and not run.ctx.interrupts.signals


async def test_signals_sent_before_the_first_step_act_on_the_runs_loop() -> None:
    run = ponder.start(QUESTION, FakeEngine(reasoning), budget=2, max_tokens=64)
    acted: list[threading.Thread] = []
    signal = run.ctx.interrupts.signal

    def recorded(mode: Any, text: str = "") -> int:
        acted.append(threading.current_thread())
        return signal(mode, text)

    run.ctx.interrupts.signal = recorded  # type: ignore[method-assign]
    thread = threading.Thread(target=run.interrupt, args=("hard",))
    thread.start()
    thread.join()
    assert acted == []  # nothing ran in the sending thread
    result = await run.run()
    assert acted == [threading.current_thread()]
    assert result.stop_reason == "interrupted" and result.candidates == []
