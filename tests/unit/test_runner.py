"""StrategyRun: stepping, interrupting, the budgets (generations, tokens, seconds) and usage."""

from __future__ import annotations

import asyncio
import dataclasses
import math
from collections.abc import Sequence

import pytest

import ponder
from ponder.core.errors import InvalidInputError
from ponder.engines import Completion, FakeEngine, GenerationRequest, Scripted
from ponder.engines.fake import prompt_text
from ponder.scorers import SelfEvalJudge
from ponder.strategies import StrategyRun

QUESTION = "What is 2 + 2?"
JUDGE_MARK = SelfEvalJudge.follow_up  # the judge's question, asked after the sample's own chat


def numbered(request: GenerationRequest, index: int) -> str:
    """Sample identity i answers i % 3 (identities: 0, 1, 2, ... across batches)."""
    return f"The answer is {(request.first_index + index) % 3}."


class GatedEngine(FakeEngine):
    """A fake whose calls from number ``block_from`` (0-based) on wait until ``release`` is set
    (it does not stream, so every sample goes through ``generate``)."""

    def __init__(self, script, *, block_from: int) -> None:  # type: ignore[no-untyped-def]
        super().__init__(script)
        self.capabilities = dataclasses.replace(self.capabilities, streams=False)
        self.block_from = block_from
        self.entered = asyncio.Event()
        self.release = asyncio.Event()
        self.cancelled = 0

    async def generate(self, requests: Sequence[GenerationRequest]) -> list[list[Completion]]:
        if self.calls >= self.block_from:
            self.entered.set()
            try:
                await self.release.wait()
            except asyncio.CancelledError:
                self.cancelled += 1
                raise
        return await super().generate(requests)


class SlowEngine(FakeEngine):
    """A fake that takes ``delay`` seconds per call (it does not stream, so every call is ``generate``)."""

    def __init__(self, script, *, delay: float) -> None:  # type: ignore[no-untyped-def]
        super().__init__(script)
        self.capabilities = dataclasses.replace(self.capabilities, streams=False)
        self.delay = delay

    async def generate(self, requests: Sequence[GenerationRequest]) -> list[list[Completion]]:
        await asyncio.sleep(self.delay)
        return await super().generate(requests)


# -- stepping --------------------------------------------------------------------------------


async def test_stepping_self_consistency_in_batches() -> None:
    engine = FakeEngine(numbered)
    run = ponder.start(QUESTION, engine, options={"batch": 2}, budget=6)
    assert isinstance(run, StrategyRun)
    assert run.result().candidates == [] and run.result().answer is None
    assert run.result().stop_reason == "running"

    assert await run.step()
    early = run.result()
    assert len(early.candidates) == 2
    assert [c.answer for c in early.candidates] == ["0", "1"]
    assert early.answer == "0"  # tie: the first seen
    assert early.stop_reason == "running"
    assert len(early.trace) == 1

    assert await run.step()
    assert await run.step()
    assert not await run.step()  # the budget is used: done
    result = run.result()
    assert run.stop_reason == result.stop_reason == "done"
    assert [entry["n"] for entry in result.trace] == [2, 2, 2]
    assert [entry["step"] for entry in result.trace] == [1, 2, 3]
    assert all(entry["action"] == "sample" for entry in result.trace)
    assert len(result.candidates) == 6
    assert result.votes == {"0": 2.0, "1": 2.0, "2": 2.0}
    assert not await run.step()  # stays stopped
    assert engine.calls == 3


async def test_batches_have_consecutive_sample_identities() -> None:
    seen: list[tuple[int, int]] = []

    def script(request: GenerationRequest, index: int) -> str:
        seen.append((request.first_index, index))
        return numbered(request, index)

    engine = FakeEngine(script)
    result = await ponder.start(QUESTION, engine, options={"batch": 2}, budget=6, seed=9).run()
    assert [r.first_index for r in engine.requests] == [0, 2, 4]
    assert [r.n for r in engine.requests] == [2, 2, 2]
    assert {r.seed for r in engine.requests} == {9}
    assert seen == [(0, 0), (0, 1), (2, 0), (2, 1), (4, 0), (4, 1)]
    assert [c.index for c in result.candidates] == [0, 1, 2, 3, 4, 5]

    # The same samples as one big batch draws.
    whole = await ponder.start(QUESTION, FakeEngine(numbered), budget=6, seed=9).run()
    assert [c.text for c in whole.candidates] == [c.text for c in result.candidates]


async def test_completed_run_is_done() -> None:
    result = await ponder.start(QUESTION, FakeEngine(numbered), budget=3).run()
    assert result.stop_reason == "done"
    assert len(result.candidates) == 3
    greedy = await ponder.start(QUESTION, FakeEngine(numbered), strategy="greedy", budget=3).run()
    assert greedy.stop_reason == "done"
    assert len(greedy.candidates) == 1


# -- interrupt -------------------------------------------------------------------------------


async def test_interrupt_during_a_step_keeps_earlier_steps() -> None:
    engine = GatedEngine(numbered, block_from=1)
    run = ponder.start(QUESTION, engine, options={"batch": 2}, budget=6)
    assert await run.step()

    pending = asyncio.create_task(run.step())
    await asyncio.wait_for(engine.entered.wait(), 5)
    run.interrupt()
    assert await asyncio.wait_for(pending, 5) is False

    assert run.stop_reason == "interrupted"
    result = run.result()
    assert result.stop_reason == "interrupted"
    assert [c.index for c in result.candidates] == [0, 1]
    assert [entry["action"] for entry in result.trace] == ["sample", "interrupt"]
    assert result.trace[1]["signals"] == [{"signal": 1, "mode": "hard"}] and result.trace[1]["samples"] == []
    assert result.answer == "0"
    assert engine.cancelled == 1  # the step in progress was cancelled
    assert not await run.step()
    assert engine.calls == 1  # only the first call completed


async def test_interrupt_a_running_run() -> None:
    engine = GatedEngine(numbered, block_from=2)
    run = ponder.start(QUESTION, engine, options={"batch": 1}, budget=10)
    task = asyncio.create_task(run.run())
    await asyncio.wait_for(engine.entered.wait(), 5)
    run.interrupt()
    result = await asyncio.wait_for(task, 5)
    assert result.stop_reason == "interrupted"
    assert [c.answer for c in result.candidates] == ["0", "1"]


async def test_interrupt_before_the_first_step() -> None:
    engine = FakeEngine(numbered)
    run = ponder.start(QUESTION, engine, budget=4)
    run.interrupt()
    result = await run.run()
    assert result.stop_reason == "interrupted"
    assert result.candidates == [] and result.answer is None
    assert engine.calls == 0


# -- time and token budgets ------------------------------------------------------------------


async def test_time_budget_stops_with_the_finished_candidates() -> None:
    engine = SlowEngine(numbered, delay=0.2)
    run = ponder.start(QUESTION, engine, options={"batch": 1}, budget=10, time_budget=0.3)
    result = await asyncio.wait_for(run.run(), 5)
    assert result.stop_reason == "seconds"
    # 0.2 s per call and 0.3 s in all: one step finishes, the second is cut short.
    assert 1 <= len(result.candidates) <= 2
    assert len(result.candidates) == len(result.trace) == engine.calls
    assert [c.index for c in result.candidates] == list(range(len(result.candidates)))
    assert result.answer == "0"


async def test_time_budget_longer_than_the_work_is_done() -> None:
    engine = SlowEngine(numbered, delay=0.01)
    result = await ponder.start(QUESTION, engine, options={"batch": 1}, budget=3, time_budget=30).run()
    assert result.stop_reason == "done"
    assert len(result.candidates) == 3


async def test_token_budget_stops_after_the_step_that_crossed_it() -> None:
    engine = FakeEngine(["The answer is 4 indeed"])  # 5 tokens each
    run = ponder.start(QUESTION, engine, options={"batch": 2}, budget=10, token_budget=12)
    result = await run.run()
    assert result.stop_reason == "tokens"
    assert len(result.trace) == 2  # 10 tokens after the first step, 20 after the second
    assert len(result.candidates) == 4
    assert result.usage.completion_tokens == 20
    assert result.answer == "4"


async def test_token_budget_reached_exactly() -> None:
    engine = FakeEngine(["The answer is 4 indeed"])
    result = await ponder.start(QUESTION, engine, options={"batch": 2}, budget=10, token_budget=10).run()
    assert result.stop_reason == "tokens"
    assert len(result.candidates) == 2


async def test_scorer_tokens_do_not_count_against_the_token_budget() -> None:
    engine = FakeEngine(
        lambda request, index: (
            Scripted("Yes", top=(("Yes", -0.1),)) if JUDGE_MARK in prompt_text(request) else "The answer is 4"
        )
    )  # 4 tokens
    result = await ponder.start(QUESTION, engine, strategy="best-of-n", budget=3, token_budget=13).run()
    assert result.stop_reason == "done"  # 12 sampled tokens < 13; the judges' tokens are the scorer's
    assert result.usage.completion_tokens == 12
    assert result.usage.scorer_calls == 1
    assert all(c.score is not None for c in result.candidates)


# -- generations -----------------------------------------------------------------------------


async def test_generations_are_never_exceeded() -> None:
    engine = FakeEngine(numbered)
    result = await ponder.start(QUESTION, engine, options={"batch": 4}, budget=6).run()
    assert [entry["n"] for entry in result.trace] == [4, 2]
    assert len(result.candidates) == 6
    assert sum(r.n for r in engine.requests) == 6


@pytest.mark.parametrize("budget", [1, 2, 5])
@pytest.mark.parametrize("batch", [0, 1, 3])
async def test_total_candidates_within_budget(budget: int, batch: int) -> None:
    engine = FakeEngine(numbered)
    result = await ponder.start(QUESTION, engine, options={"batch": batch}, budget=budget).run()
    assert len(result.candidates) == budget
    assert sum(r.n for r in engine.requests) == budget
    assert result.stop_reason == "done"


async def test_sample_rejects_zero_and_more_than_remaining() -> None:
    engine = FakeEngine(numbered)
    run = ponder.start(QUESTION, engine, budget=3)
    ctx = run.ctx
    with pytest.raises(InvalidInputError, match="asked for 0"):
        await ctx.sample(0, temperature=0.5)
    with pytest.raises(InvalidInputError, match="asked for 4 generations with 3 left"):
        await ctx.sample(4, temperature=0.5)
    assert engine.calls == 0 and ctx.ledger.spent == 0

    assert len(await ctx.sample(2, temperature=0.5)) == 2
    assert ctx.ledger.remaining() == 1
    with pytest.raises(InvalidInputError, match="asked for 2 generations with 1 left"):
        await ctx.sample(2, temperature=0.5)
    [last] = await ctx.sample(1, temperature=0.5)
    assert last.index == 2
    assert ctx.ledger.remaining() == 0
    with pytest.raises(InvalidInputError):
        await ctx.sample(1, temperature=0.5)
    assert engine.calls == 2


# -- usage -----------------------------------------------------------------------------------


async def test_engine_calls_count_batches() -> None:
    engine = FakeEngine(numbered)
    result = await ponder.start(QUESTION, engine, options={"batch": 2}, budget=6).run()
    usage = result.usage
    assert usage.engine_calls == 3
    assert usage.completion_tokens == sum(c.completion_tokens for c in result.candidates) == 6 * 4
    assert usage.prompt_tokens == sum(len(prompt_text(r).split()) * r.n for r in engine.requests)
    assert (usage.scorer_calls, usage.scorer_tokens) == (0, 0)


def judged(request: GenerationRequest, index: int) -> Scripted | str:
    if JUDGE_MARK in prompt_text(request):
        return Scripted("Yes", top=(("Yes", math.log(0.8)), ("No", math.log(0.2))))
    return "The answer is 4."


async def test_scorer_usage_is_counted_apart() -> None:
    engine = FakeEngine(judged)
    result = await ponder.start(QUESTION, engine, strategy="best-of-n", budget=3).run()
    usage = result.usage
    samples = [r for r in engine.requests if JUDGE_MARK not in prompt_text(r)]
    judges = [r for r in engine.requests if JUDGE_MARK in prompt_text(r)]
    assert len(samples) == 1 and len(judges) == 3
    assert engine.calls == 2  # one sampling batch, one judging batch
    assert usage.engine_calls == 1
    assert usage.scorer_calls == 1
    assert usage.completion_tokens == 3 * 4  # the samples' tokens only
    assert usage.prompt_tokens == 3 * len(prompt_text(samples[0]).split())
    assert usage.scorer_tokens == sum(len(prompt_text(r).split()) + 1 for r in judges)
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens + usage.scorer_tokens
    # prompt tokens computed: the fake computes every judge prompt in full; the generator's stay apart
    assert usage.scorer_prompt_tokens_computed == sum(len(prompt_text(r).split()) for r in judges)
    assert usage.prompt_tokens_computed == usage.prompt_tokens


async def test_separate_scorer_engine_gets_the_judging() -> None:
    engine = FakeEngine(judged)
    judge = FakeEngine(judged)
    result = await ponder.start(QUESTION, engine, scorer_engine=judge, strategy="best-of-n", budget=2).run()
    assert all(JUDGE_MARK not in prompt_text(r) for r in engine.requests)
    assert len(judge.requests) == 2 and all(JUDGE_MARK in prompt_text(r) for r in judge.requests)
    assert (result.usage.engine_calls, result.usage.scorer_calls) == (1, 1)
    assert result.usage.scorer_tokens == sum(len(prompt_text(r).split()) + 1 for r in judge.requests)
