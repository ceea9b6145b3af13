"""Review fixes of the Hogwild! collaboration (issue #23), without a model: counters that count
only what was decoded, ``max_steps`` as an exact cap, a collaboration's own failure failing it
alone (never a hang, never the other callers), a run that stops between two steps cancelling its
collaboration, and ``answer_from`` naming the step the answer came from."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from tests.support.fake_llama import FakeSampler
from tests.support.hogwild_llama import SharedFakeEngine, SharingGenerator
from tests.unit.test_hogwild import end_entry, scripted, start
from tests.unit.test_hogwild_scheduler import collab, end, run, steps

import ponder.engines.llama.collab as collab_module
import ponder.engines.llama.scheduler as scheduler_module
import ponder.strategies.hogwild as hogwild_module
from ponder.core.errors import EngineError, InvalidInputError
from ponder.core.usage import total
from ponder.engines.base import GenerationRequest
from ponder.engines.collaboration import CollabRequest, CollabStream
from ponder.engines.fake import FakeEngine
from ponder.engines.llama.scheduler import Scheduler
from ponder.engines.streaming import QueueStream
from ponder.strategies.hogwild_prompts import AnswerFormat

EMPTY = "EMPTY[{step}]: "


class NoHeaderGenerator(SharingGenerator):
    """Tokenizes the header ``EMPTY`` to nothing (a tokenizer that drops it)."""

    def text_tokens(self, text: str) -> list[int]:
        return [] if text.startswith("EMPTY") else super().text_tokens(text)


@pytest.fixture(autouse=True)
def fake_sampler(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scheduler_module, "Sampler", FakeSampler)
    monkeypatch.setattr(collab_module, "Sampler", FakeSampler)


@pytest.fixture
def scheduler() -> Iterator[Scheduler]:
    scheduler = Scheduler(NoHeaderGenerator(n_slots=8, n_ctx=4000, n_batch=64), prefill_chunk=16)  # type: ignore[arg-type]
    yield scheduler
    scheduler.close()


def drawn(events: list[object]) -> int:
    return sum(s.tokens for s in steps(events)) + sum(end(events).partial_tokens)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "options",
    [
        {"workers": 3, "max_tokens": 100, "step_tokens": 3, "max_steps": 4},  # ends on "steps"
        {"workers": 3, "max_tokens": 200, "step_tokens": 4, "final": lambda text: "<13>" in text},  # on "answer"
        {"workers": 3, "max_tokens": 100, "step_tokens": 5, "total_tokens": 25},  # on "tokens"
    ],
)
async def test_prompt_tokens_computed_are_tokens_decoded(scheduler: Scheduler, options: dict[str, object]) -> None:
    # A step moved into the history opens the worker's next step; when the collaboration ends
    # right then, that header is never decoded and must not count as computed.
    before = scheduler.decoded_tokens
    events = await run(scheduler, collab(**options))  # type: ignore[arg-type]
    counters = end(events).counters
    assert scheduler.decoded_tokens - before == counters["tokens_decoded"]
    decoded_drawn = counters["tokens_decoded"] - counters["prompt_tokens_computed"]
    assert drawn(events) - 3 <= decoded_drawn <= drawn(events)  # at most one token per worker drawn last
    usage = end(events).usage + total([s.usage for s in steps(events)])
    assert usage.prompt_tokens_computed == counters["prompt_tokens_computed"]
    assert counters["prompt_tokens_recomputed"] == 0


async def test_max_steps_caps_the_history_exactly(scheduler: Scheduler) -> None:
    # three workers in lockstep finish their steps in the same decode step: only 4 may join
    events = await run(scheduler, collab(workers=3, max_tokens=100, step_tokens=3, max_steps=4))
    assert end(events).reason == "steps"
    assert len(steps(events)) == end(events).counters["steps_moved"] == 4
    assert [s.order for s in steps(events)] == [1, 2, 3, 4]
    assert drawn(events) == end(events).usage.completion_tokens + sum(s.usage.completion_tokens for s in steps(events))


def test_a_worker_header_must_not_be_empty() -> None:
    with pytest.raises(InvalidInputError, match="header must not be empty"):
        CollabRequest(GenerationRequest(text="x"), ("A: ", ""))


async def test_a_collaboration_failing_at_admission_fails_alone_and_does_not_hang(scheduler: Scheduler) -> None:
    # with its prompt cached, a collaboration opens its workers' steps when admitted
    await run(scheduler, collab(workers=2, max_tokens=6))
    bad = CollabRequest(collab().prompt, ("W0[{step}]: ", EMPTY), delimiter="<7>")
    stream = CollabStream(bad, asyncio.get_running_loop(), on_cancel=scheduler.poke)
    scheduler.submit_collab(stream, scheduler.new_caller())
    with pytest.raises(EngineError, match="has no tokens"):
        await asyncio.wait_for(stream.next(), 5)
    assert not scheduler.collabs.busy
    assert end(await run(scheduler, collab(workers=2, max_tokens=6))).reason == "exhausted"  # the engine goes on


async def test_a_collaboration_failing_after_a_decode_leaves_the_other_callers_alone(scheduler: Scheduler) -> None:
    sample = GenerationRequest(text="another caller's question", n=2, max_tokens=40)
    other = QueueStream(sample, asyncio.get_running_loop(), on_stop=lambda i: None)
    scheduler.submit(other, scheduler.new_caller())
    good = asyncio.ensure_future(run(scheduler, collab(workers=2, max_tokens=30, step_tokens=5)))
    bad = CollabRequest(GenerationRequest(text="a prompt of its own, not cached"), ("W0: ", EMPTY), delimiter="<7>")
    stream = CollabStream(bad, asyncio.get_running_loop(), on_cancel=scheduler.poke)
    scheduler.submit_collab(stream, scheduler.new_caller())
    with pytest.raises(EngineError, match="has no tokens"):
        await asyncio.wait_for(stream.next(), 5)
    completions = await asyncio.wait_for(other.completions(), 5)
    assert [c.finish_reason for c in completions] == ["length", "length"]
    assert end(await asyncio.wait_for(good, 5)).reason == "exhausted"


@pytest.fixture
def shared() -> Iterator[SharedFakeEngine]:
    engine = SharedFakeEngine(n_slots=8, n_ctx=8000, n_batch=64, delay=0.002)
    yield engine
    asyncio.run(engine.aclose())


def test_a_run_stopped_between_two_steps_cancels_its_collaboration(
    shared: SharedFakeEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def go() -> str | None:
        run = start(shared, max_tokens=2000, workers=2, step_tokens=4)
        assert await run.step()  # the first step joined the history: the workers go on
        monkeypatch.setattr(run.ctx.ledger, "limit_reached", lambda: "seconds")  # time ran out meanwhile
        await run.run()
        for _ in range(200):
            if not shared.scheduler.collabs.busy:
                break
            await asyncio.sleep(0.005)
        return run.stop_reason

    assert asyncio.run(go()) == "seconds"
    assert not shared.scheduler.collabs.busy  # before the fix: 2 x 2,000 tokens more, for nobody


def test_a_run_stopped_between_two_steps_stops_its_resending_workers() -> None:
    steps = {"Alice": ["It is 12.\n\n"] * 500, "Bob": ["Yes 12.\n\n"] * 500}
    engine = FakeEngine(scripted(steps))

    async def go() -> int:
        run = start(engine, max_tokens=5000, workers=2)
        assert await run.step()
        run.ctx.ledger.limit_reached = lambda: "seconds"  # type: ignore[method-assign]
        await run.run()
        asked = len(engine.requests)
        await asyncio.sleep(0.05)
        return len(engine.requests) - asked

    assert asyncio.run(go()) == 0


def test_answer_from_names_the_step_the_answer_came_from(monkeypatch: pytest.MonkeyPatch) -> None:
    # a step the predicate calls final but whose answer the task cannot read: the answer is the vote's
    stated = AnswerFormat("the answer", lambda text: "done" in text)
    monkeypatch.setattr(hogwild_module, "answer_format", lambda task: stated)
    steps = {"Alice": ["I think 12.\n\n", "We are done here.\n\n"], "Bob": ["It is 12.\n\n"] * 3}
    result = asyncio.run(start(FakeEngine(scripted(steps, default="")), workers=2).run())
    entry = end_entry(result)
    assert entry["reason"] == "answer"
    assert entry["answer_from"] == "vote" and result.answer == "12"
