"""Hogwild! collaborations in the embedded engine's scheduler, on a stand-in for llama.cpp
(tests/support/fake_llama.py, with position shifts and range sharing added): the cache layout
after every step moved into the history, nothing computed twice, one batch with other callers,
the end conditions."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from tests.support.fake_llama import FakeSampler
from tests.support.hogwild_llama import SharingGenerator

import ponder.engines.llama.collab as collab_module
import ponder.engines.llama.scheduler as scheduler_module
from ponder.core.errors import ContextOverflowError
from ponder.core.usage import total
from ponder.engines.base import GenerationRequest
from ponder.engines.collaboration import CollabEnd, CollabEvent, CollabRequest, CollabStream, FinishedStep
from ponder.engines.llama.collab import CollabJob
from ponder.engines.llama.scheduler import Scheduler

DELIMITER = "<7>"  # the fake model prints token t as "<t>"
PROMPT = "Alice and Bob solve a problem together. "


@pytest.fixture(autouse=True)
def fake_sampler(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scheduler_module, "Sampler", FakeSampler)
    monkeypatch.setattr(collab_module, "Sampler", FakeSampler)


@pytest.fixture
def generator() -> SharingGenerator:
    return SharingGenerator(n_slots=8, n_ctx=4000, n_batch=64)


@pytest.fixture
def scheduler(generator: SharingGenerator) -> Iterator[Scheduler]:
    scheduler = Scheduler(generator, prefill_chunk=16)  # type: ignore[arg-type]
    yield scheduler
    scheduler.close()


def collab(workers: int = 2, max_tokens: int = 40, **options: object) -> CollabRequest:
    headers = tuple(f"W{i}[{{step}}]: " for i in range(workers))
    prompt = GenerationRequest(text=PROMPT, max_tokens=max_tokens)
    return CollabRequest(prompt, headers, delimiter=DELIMITER, **options)  # type: ignore[arg-type]


async def run(scheduler: Scheduler, request: CollabRequest, cancel_after: int = -1) -> list[CollabEvent]:
    stream = CollabStream(request, asyncio.get_running_loop(), on_cancel=scheduler.poke)
    scheduler.submit_collab(stream, scheduler.new_caller())
    events: list[CollabEvent] = []
    while not events or not isinstance(events[-1], CollabEnd):
        events.append(await stream.next())
        if len(events) == cancel_after:
            stream.cancel()
    return events


def steps(events: list[CollabEvent]) -> list[FinishedStep]:
    return [e for e in events if isinstance(e, FinishedStep)]


def end(events: list[CollabEvent]) -> CollabEnd:
    last = events[-1]
    assert isinstance(last, CollabEnd)
    return last


async def test_every_worker_holds_the_prompt_the_history_in_order_and_its_own_step(
    scheduler: Scheduler, generator: SharingGenerator, monkeypatch: pytest.MonkeyPatch
) -> None:
    history: list[int] = []
    checked = 0
    move = CollabJob._move

    def checked_move(job: CollabJob, worker: object) -> bool:
        nonlocal checked
        step = list(worker.step)  # type: ignore[attr-defined]
        blank = not worker.text.strip()  # type: ignore[attr-defined]
        final = move(job, worker)  # type: ignore[arg-type]
        history.extend([] if blank else step)
        for other in job.live():
            cells = generator.context.cells[other.seq]
            assert sorted(cells) == list(range(len(cells)))  # no holes
            assert [cells[p] for p in sorted(cells)] == job.prompt + history + other.step
            checked += 1
        return final

    monkeypatch.setattr(CollabJob, "_move", checked_move)
    events = await run(scheduler, collab(workers=3, max_tokens=30, step_tokens=6))
    assert checked > 10
    finished = steps(events)
    assert [s.order for s in finished] == list(range(1, len(finished) + 1))
    assert {s.worker for s in finished} == {0, 1, 2}
    for worker in range(3):  # each worker numbers its own steps from 1
        numbers = [s.number for s in finished if s.worker == worker]
        assert numbers == list(range(1, len(numbers) + 1))
    assert end(events).reason == "exhausted"
    assert sum(s.tokens for s in finished) + sum(end(events).partial_tokens) == 3 * 30


async def test_nothing_is_computed_twice(scheduler: Scheduler, generator: SharingGenerator) -> None:
    request = collab(workers=3, max_tokens=30, step_tokens=6)
    before = scheduler.decoded_tokens
    events = await run(scheduler, request)
    counters = end(events).counters
    prompt = len(generator.prompt_tokens(request.prompt))
    headers = sum(len(generator.text_tokens(s.header)) for s in steps(events))
    closings = len(generator.text_tokens(DELIMITER)) * sum(not s.text.endswith(DELIMITER) for s in steps(events))
    inserted = prompt + headers + closings  # a step cut short is closed with the delimiter
    drawn = sum(s.tokens for s in steps(events))
    assert counters["steps_moved"] == len(steps(events)) > 5
    assert counters["prompt_tokens_recomputed"] == 0
    assert counters["history_tokens_shared"] > 0 and counters["cells_shifted"] > 0
    # everything decoded: the prompt once, each header once, each drawn token at most once
    assert scheduler.decoded_tokens - before == counters["tokens_decoded"] <= inserted + drawn
    assert counters["prompt_tokens_computed"] == inserted
    usage = end(events).usage + total([s.usage for s in steps(events)])  # each event: the usage since the last
    assert usage.prompt_tokens_computed == inserted
    assert usage.completion_tokens == 90


async def test_the_prompt_is_served_from_the_slot_cache_the_second_time(scheduler: Scheduler) -> None:
    request = collab(workers=2, max_tokens=10, step_tokens=4)
    first = end(await run(scheduler, request)).counters["prompt_tokens_computed"]
    second = end(await run(scheduler, request)).counters["prompt_tokens_computed"]
    assert second < first  # the prompt stayed in a slot: only headers are new


async def test_the_first_final_answer_ends_the_collaboration(scheduler: Scheduler) -> None:
    request = collab(workers=2, max_tokens=200, step_tokens=5, final=lambda text: "<13>" in text)
    events = await run(scheduler, request)
    finished = steps(events)
    assert end(events).reason == "answer"
    first = next(i for i, s in enumerate(finished) if s.final)
    assert first >= len(finished) - 2  # only steps completed in the same decode step follow it
    assert "<13>" in finished[first].text
    assert sum(s.tokens for s in finished) < 400


async def test_a_faulty_final_predicate_counts_as_no_answer(scheduler: Scheduler) -> None:
    def broken(text: str) -> bool:
        raise ValueError("boom")

    events = await run(scheduler, collab(workers=2, max_tokens=12, step_tokens=4, final=broken))
    assert end(events).reason == "exhausted"


async def test_the_total_token_budget_cuts_all_workers(scheduler: Scheduler) -> None:
    events = await run(scheduler, collab(workers=3, max_tokens=100, step_tokens=5, total_tokens=25))
    assert end(events).reason == "tokens"
    assert sum(s.tokens for s in steps(events)) + sum(end(events).partial_tokens) == 25


async def test_max_steps_ends_it(scheduler: Scheduler) -> None:
    events = await run(scheduler, collab(workers=2, max_tokens=100, step_tokens=3, max_steps=4))
    assert end(events).reason == "steps"
    assert len(steps(events)) == 4


async def test_cancel_gives_the_steps_in_progress() -> None:
    scheduler = Scheduler(SharingGenerator(n_slots=8, n_ctx=4000, n_batch=64, delay=0.002))  # type: ignore[arg-type]
    try:
        events = await run(scheduler, collab(workers=2, max_tokens=600, step_tokens=4), cancel_after=2)
    finally:
        scheduler.close()
    assert end(events).reason == "cancelled"
    assert len(end(events).partial) == 2
    assert sum(s.tokens for s in steps(events)) + sum(end(events).partial_tokens) < 1200


async def test_a_collaboration_shares_the_batch_with_other_callers(scheduler: Scheduler) -> None:
    request = collab(workers=2, max_tokens=30, step_tokens=5)
    sample = GenerationRequest(text="another caller's question", n=2, max_tokens=30)

    async def alone() -> int:
        before = scheduler.decode_steps
        await run(scheduler, request)
        stream = scheduler_module.QueueStream(sample, asyncio.get_running_loop(), on_stop=lambda i: None)
        scheduler.submit(stream, scheduler.new_caller())
        await stream.completions()
        return scheduler.decode_steps - before

    sequential = await alone()
    before = scheduler.decode_steps
    stream = scheduler_module.QueueStream(sample, asyncio.get_running_loop(), on_stop=lambda i: None)
    scheduler.submit(stream, scheduler.new_caller())
    await asyncio.gather(run(scheduler, request), stream.completions())
    assert scheduler.decode_steps - before < sequential


async def test_more_workers_than_sequences_fail_clearly(scheduler: Scheduler) -> None:
    stream = CollabStream(collab(workers=9), asyncio.get_running_loop())
    scheduler.submit_collab(stream, scheduler.new_caller())
    with pytest.raises(ContextOverflowError, match="9 workers"):
        await stream.next()


async def test_same_request_same_history(scheduler: Scheduler) -> None:
    request = collab(workers=2, max_tokens=20, step_tokens=4)
    first = [(s.worker, s.text) for s in steps(await run(scheduler, request))]
    second = [(s.worker, s.text) for s in steps(await run(scheduler, request))]
    assert first == second


async def test_a_collaboration_cancelled_before_its_workers_began_ends_empty(scheduler: Scheduler) -> None:
    stream = CollabStream(collab(workers=3), asyncio.get_running_loop(), on_cancel=scheduler.poke)
    stream.cancel()
    scheduler.submit_collab(stream, scheduler.new_caller())
    ended = await stream.next()
    assert isinstance(ended, CollabEnd) and ended.reason == "cancelled" and ended.partial == ("", "", "")
