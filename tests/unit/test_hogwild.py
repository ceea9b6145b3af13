"""The hogwild strategy without a model: scripted workers on the re-sending protocol (the fake
engine), and the shared-cache path over the scheduler's llama.cpp stand-in."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Iterator

import pytest
from tests.support.fake_llama import FakeSampler
from tests.support.hogwild_llama import SharedFakeEngine

import ponder.engines.llama.collab as collab_module
import ponder.engines.llama.scheduler as scheduler_module
from ponder.answers import get_task
from ponder.context import StepContext
from ponder.core.budget import Budget
from ponder.core.errors import InvalidInputError
from ponder.core.result import SolveResult
from ponder.core.settings import SolveSettings
from ponder.engines.base import Completion, GenerationRequest
from ponder.engines.fake import FakeEngine
from ponder.registry import get_strategy
from ponder.strategies import StrategyRun
from ponder.strategies.hogwild import Hogwild, HogwildParams
from ponder.strategies.hogwild_prompts import answer_format

QUESTION = "Sara has 5 apples and buys 7 more. How many apples does she have?"
HEADER = re.compile(r"\*\*(\w+) \[(\d+)\]:\*\* ")

Steps = dict[str, list[str]]


def scripted(steps: Steps, default: str = "I keep thinking about it.") -> Callable[[GenerationRequest, int], str]:
    """Each worker's steps in order: the worker and step come from the last header of the request's
    partial answer (the history, then the worker's own header)."""

    def script(request: GenerationRequest, index: int) -> str:
        name, number = HEADER.findall(request.assistant_prefix)[-1]
        own = steps.get(name, [])
        return own[int(number) - 1] if int(number) <= len(own) else default

    return script


class SlowEngine(FakeEngine):
    """The fake engine answering after ``delay`` seconds per word, so steps finish in time order."""

    def __init__(self, script: Callable[[GenerationRequest, int], str], delay: float = 0.005) -> None:
        super().__init__(script)
        self.delay = delay

    async def generate(self, requests: list[GenerationRequest]) -> list[list[Completion]]:  # type: ignore[override]
        rows = await super().generate(requests)
        await asyncio.sleep(self.delay * max(c.completion_tokens for row in rows for c in row))
        return rows


def start(engine: object, budget: Budget | None = None, max_tokens: int = 64, **options: object) -> StrategyRun:
    ctx = StepContext(
        QUESTION,
        engine,  # type: ignore[arg-type]
        SolveSettings(max_tokens=max_tokens, seed=1),
        get_task("math"),
        budget or Budget(generations=8),
    )
    return StrategyRun(Hogwild.from_options(options), ctx)


def run(engine: object, **options: object) -> SolveResult:
    return asyncio.run(start(engine, **options).run())  # type: ignore[arg-type]


def history(result: SolveResult) -> list[tuple[str, int]]:
    entries = [e for e in result.trace if e["action"] == "step"]
    entries += [s for e in result.trace if e["action"] == "end" for s in e["steps"]]
    assert [e["order"] for e in entries] == list(range(1, len(entries) + 1))
    return [(e["worker"], e["number"]) for e in entries]


def end_entry(result: SolveResult) -> dict[str, object]:
    [entry] = [e for e in result.trace if e["action"] == "end"]
    return entry


def ended_by_interrupt(result: SolveResult) -> bool:
    """The run's last entry is the hard interrupt, after the collaboration's end, which says it was
    cancelled (these tests interrupt in the middle of a step: the step reads the end)."""
    ends = [e for e in result.trace if e["action"] == "end"]
    interrupt = result.trace[-1]
    hard = interrupt["action"] == "interrupt" and interrupt["signals"][0]["mode"] == "hard"
    return hard and len(ends) == 1 and ends[0]["reason"] == "cancelled"


ANSWERED: Steps = {
    "Alice": ["I will add the apples.\n\n", "5 + 7 = 12.\n\n", "So the answer is 12.\n\n"],
    "Bob": ["I will check Alice's sum.\n\n", "Checking: 12 - 7 = 5. Right.\n\n", "Let me check again.\n\n"],
}


def test_the_first_final_answer_ends_the_run_and_the_others_stop() -> None:
    engine = FakeEngine(scripted(ANSWERED))
    result = run(engine, workers=2)
    assert result.answer == "12"
    assert history(result) == [("Alice", 1), ("Bob", 1), ("Alice", 2), ("Bob", 2), ("Alice", 3)]
    end = end_entry(result)
    assert end["reason"] == "answer" and end["answer_from"] == "Alice [3]"
    assert end["shared_cache"] is False
    asked = len(engine.requests)
    assert asked == 6  # Bob's third step was asked for, then dropped: nobody writes after the answer
    assert result.stop_reason == "done"
    assert [c.index for c in result.candidates] == [0, 1]
    # Bob's dropped step was generated all the same: it is paid for
    assert result.usage.completion_tokens == sum(len(s.split()) for texts in ANSWERED.values() for s in texts)


def test_each_request_holds_the_history_then_the_workers_own_step() -> None:
    engine = FakeEngine(scripted(ANSWERED))
    run(engine, workers=2)
    last = engine.requests[-1]  # Bob's third step, asked after Alice's second and his own second
    assert last.assistant_prefix.startswith("**Alice [1]:** Hi, I'm Alice. Let's split the work:")
    headers = HEADER.findall(last.assistant_prefix)
    assert headers == [("Alice", "1"), ("Bob", "1"), ("Alice", "2"), ("Bob", "2"), ("Bob", "3")]
    assert last.stop == ("\n\n",)
    assert "Alice and Bob" in (last.messages or ())[-1].content
    assert '"The answer is" followed by the number' in (last.messages or ())[-1].content
    seeds = {(r.first_index, r.seed) for r in engine.requests}
    assert len(seeds) == len(engine.requests)  # every request seeded by (worker, step, part)


def test_the_history_is_in_the_order_steps_finish() -> None:
    steps: Steps = {
        "Alice": ["Let me work through the whole problem slowly, adding everything with care here.\n\n"],
        "Bob": ["Five.\n\n", "Plus seven.\n\n", "Twelve.\n\n"],
    }
    result = run(SlowEngine(scripted(steps, default="")), workers=2)
    order = history(result)
    assert order[:3] == [("Bob", 1), ("Bob", 2), ("Bob", 3)]  # Bob's short steps finish first
    assert ("Alice", 1) in order
    ends = [e["ended"] for e in result.trace if e["action"] == "step"]
    assert ends == sorted(ends)


def test_without_a_final_answer_the_workers_vote() -> None:
    steps: Steps = {
        "Alice": ["I think it is 12.\n\n"],
        "Bob": ["I get 12 too.\n\n"],
        "Carol": ["Maybe 11.\n\n"],
    }
    result = run(FakeEngine(scripted(steps, default="")), workers=3)
    assert result.answer == "12"
    assert result.votes == {"12": 2.0, "11": 1.0}
    assert end_entry(result)["reason"] == "exhausted"
    assert end_entry(result)["answer_from"] == "vote"


def test_a_step_ends_at_the_delimiter_only_after_a_sentence() -> None:
    parts = ["x = 5 + 7\n\nmore", "= 12.\n\n"]  # the first delimiter comes before the sentence ends
    engine = FakeEngine(lambda request, index: parts[len(engine.requests) - 1] if len(engine.requests) <= 2 else "")
    result = run(engine, workers=1, max_tokens=8)
    entries = [e for e in result.trace if e["action"] == "step"] + end_entry(result)["steps"]  # type: ignore[operator]
    assert entries[0]["text"] == "x = 5 + 7\n\n= 12."  # one step, asked for in two parts
    assert engine.requests[1].assistant_prefix.endswith("x = 5 + 7\n\n")
    unsplit = FakeEngine(lambda request, index: parts[0] if len(unsplit.requests) == 1 else "")
    result = run(unsplit, workers=1, max_tokens=8, sentence_end=False)
    assert end_entry(result)["steps"] == [] and history(result) == [("Alice", 1)]


def test_step_tokens_caps_each_step() -> None:
    engine = FakeEngine(scripted({"Alice": ["one two three four five six seven eight\n\n"] * 3}))
    result = run(engine, workers=1, step_tokens=3, max_tokens=9)
    assert all(r.max_tokens <= 3 for r in engine.requests)
    assert [e["tokens"] for e in result.trace if e["action"] == "step"][:2] == [3, 3]


def test_the_generation_budget_bounds_the_workers() -> None:
    engine = FakeEngine(scripted(ANSWERED))
    result = run(engine, workers=4, budget=Budget(generations=2))
    assert {r.first_index for r in engine.requests} == {0, 1}
    assert len(result.candidates) == 2


def test_the_token_budget_cuts_the_run_with_its_answer_so_far() -> None:
    steps: Steps = {"Alice": ["It is 12 I think.\n\n"] * 9, "Bob": ["Also 12 here.\n\n"] * 9}
    engine = FakeEngine(scripted(steps))
    result = run(engine, workers=2, budget=Budget(generations=8, tokens=14))
    assert result.stop_reason == "tokens"
    assert result.answer == "12"
    assert len(engine.requests) <= 6  # the workers stopped at the budget
    assert 14 <= result.usage.completion_tokens <= 14 + 5  # a request in flight may pass it by one step


def test_the_time_budget_cuts_the_run_and_stops_the_workers() -> None:
    steps: Steps = {"Alice": ["It is 12.\n\n"] * 500, "Bob": ["Yes 12.\n\n"] * 500}
    engine = SlowEngine(scripted(steps), delay=0.01)

    async def go() -> tuple[SolveResult, int]:
        result = await start(engine, budget=Budget(generations=8, seconds=0.3), max_tokens=5000, workers=2).run()
        asked = len(engine.requests)
        await asyncio.sleep(0.2)
        return result, len(engine.requests) - asked

    result, later = asyncio.run(go())
    assert result.stop_reason == "seconds"
    assert result.answer == "12"
    assert later == 0  # the workers stopped with the run


def test_a_hard_interrupt_answers_from_what_the_workers_wrote() -> None:
    steps: Steps = {"Alice": ["Five and seven make 12.\n\n"] * 500, "Bob": ["I agree, 12.\n\n"] * 500}
    engine = SlowEngine(scripted(steps), delay=0.01)

    async def go() -> SolveResult:
        run = start(engine, max_tokens=5000, workers=2)
        task = asyncio.ensure_future(run.run())
        while len([e for e in run.trace if e["action"] == "step"]) < 3 and not task.done():
            await asyncio.sleep(0.01)
        run.interrupt("hard")
        return await task

    result = asyncio.run(go())
    assert result.stop_reason == "interrupted"
    assert result.answer == "12"
    assert ended_by_interrupt(result)


def test_options_are_checked() -> None:
    for options, message in [
        ({"workers": 0}, "workers must be in 1..8"),
        ({"workers": 9}, "workers must be in 1..8"),
        ({"delimiter": ""}, "delimiter must not be empty"),
        ({"step_tokens": -1}, "step_tokens must be >= 0"),
        ({"prompt": "Solve {problem}"}, "unknown field {problem}"),
    ]:
        with pytest.raises(InvalidInputError, match=re.escape(message)):
            get_strategy("hogwild", options)
    assert get_strategy("hogwild", {"workers": "3"}).params == HogwildParams(workers=3)


def test_a_final_answer_is_recognised_in_the_tasks_format() -> None:
    math, choice, label = answer_format("math"), answer_format("choice"), answer_format("label")
    assert math.stated("So the answer is 12.") and math.stated("It is \\boxed{12}.")
    assert not math.stated("We need the answer: first add.") and not math.stated("\\boxed{answer}")
    assert choice.stated("The answer is (B).") and not choice.stated("The answer is a bit long")
    assert label.stated("The answer is True.") and not label.stated("The answer is unclear")
    assert answer_format("code").stated("```python\nprint(1)\n```")


# -- the shared-cache path (the scheduler's stand-in for llama.cpp) ------------------------------


@pytest.fixture
def shared() -> Iterator[SharedFakeEngine]:
    patch = pytest.MonkeyPatch()
    patch.setattr(scheduler_module, "Sampler", FakeSampler)
    patch.setattr(collab_module, "Sampler", FakeSampler)
    engine = SharedFakeEngine(n_slots=8, n_ctx=4000, n_batch=64, delay=0.0005)
    yield engine
    asyncio.run(engine.aclose())
    patch.undo()


def test_on_a_shared_cache_the_trace_is_the_engines_history_and_the_ledger_its_cost(
    shared: SharedFakeEngine,
) -> None:
    before = shared.scheduler.decoded_tokens
    result = run(shared, workers=3, step_tokens=5, max_tokens=20)
    end = end_entry(result)
    assert end["shared_cache"] is True and end["reason"] == "exhausted"
    counters = end["counters"]
    assert isinstance(counters, dict)
    assert counters["prompt_tokens_recomputed"] == 0
    assert counters["tokens_decoded"] == shared.scheduler.decoded_tokens - before
    order = history(result)
    assert len(order) == counters["steps_moved"] and {w for w, _ in order} == {"Alice", "Bob", "Carol"}
    assert result.usage.completion_tokens == 3 * 20
    assert result.usage.prompt_tokens_computed == counters["prompt_tokens_computed"]
    assert result.answer is not None  # the fake's tokens print as <t>: the vote reads numbers


def test_on_a_shared_cache_the_token_budget_is_exact(shared: SharedFakeEngine) -> None:
    result = run(shared, workers=2, step_tokens=4, max_tokens=100, budget=Budget(generations=8, tokens=17))
    assert result.stop_reason == "tokens"
    assert result.usage.completion_tokens == 17


def test_on_a_shared_cache_a_hard_interrupt_ends_the_collaboration(shared: SharedFakeEngine) -> None:
    async def go() -> SolveResult:
        run = start(shared, max_tokens=1000, workers=2, step_tokens=4)
        task = asyncio.ensure_future(run.run())
        while len(run.trace) < 2 and not task.done():
            await asyncio.sleep(0.001)
        run.interrupt("hard")
        return await task

    result = asyncio.run(go())
    assert result.stop_reason == "interrupted"
    assert ended_by_interrupt(result)
    assert result.usage.completion_tokens < 2000
    for _ in range(200):  # the engine stops the workers at its next step
        if not shared.scheduler.collabs.busy:
            break
        time.sleep(0.005)
    assert not shared.scheduler.collabs.busy


def test_an_interrupt_set_at_a_token_count_acts_when_a_worker_reaches_it() -> None:
    steps: Steps = {"Alice": ["It is 12 I think.\n\n"] * 50, "Bob": ["Also 12 here.\n\n"] * 50}

    async def go() -> SolveResult:
        run = start(FakeEngine(scripted(steps)), max_tokens=500, workers=2)
        run.interrupt_at(12, "hard")
        return await run.run()

    result = asyncio.run(go())
    assert result.stop_reason == "interrupted" and result.answer == "12"
    assert result.usage.completion_tokens < 200  # the scripts hold 450 tokens: the workers were stopped
