"""The embedded engine's scheduler, on a stand-in for llama.cpp (tests/support/fake_llama.py):
many callers in one batch, stops, failures that stay with their caller, callers that go away."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest
from tests.support.fake_llama import UNTOKENIZABLE, FakeGenerator, FakeSampler

import ponder.engines.llama.scheduler as scheduler_module
from ponder.core.errors import InvalidInputError
from ponder.engines.base import Completion, GenerationRequest
from ponder.engines.llama.scheduler import Scheduler
from ponder.engines.streaming import QueueStream, SampleDelta


@pytest.fixture(autouse=True)
def fake_sampler(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scheduler_module, "Sampler", FakeSampler)


@pytest.fixture
def scheduler() -> Iterator[Scheduler]:
    scheduler = Scheduler(FakeGenerator(), prefill_chunk=8)  # type: ignore[arg-type]
    yield scheduler
    scheduler.close()


def request(text: str, n: int = 2, max_tokens: int = 12, **options: object) -> GenerationRequest:
    return GenerationRequest(text=text, n=n, max_tokens=max_tokens, **options)  # type: ignore[arg-type]


def open_stream(scheduler: Scheduler, r: GenerationRequest) -> QueueStream:
    stream = QueueStream(r, asyncio.get_running_loop(), on_stop=lambda index: scheduler.poke())
    scheduler.submit(stream, scheduler.new_caller())
    return stream


async def texts(scheduler: Scheduler, r: GenerationRequest) -> list[str]:
    return [c.text for c in await open_stream(scheduler, r).completions()]


async def test_concurrent_callers_each_get_the_samples_they_get_alone(scheduler: Scheduler) -> None:
    requests = [request(f"question number {k} " * (k + 1), n=2) for k in range(4)]
    alone = [await texts(scheduler, r) for r in requests]
    steps = scheduler.decode_steps
    together = await asyncio.gather(*(texts(scheduler, r) for r in requests))
    assert together == alone
    assert scheduler.decode_steps - steps < sum(len(r.text or "") for r in requests)  # they shared steps


async def test_more_samples_than_sequences_wait_for_room(scheduler: Scheduler) -> None:
    rows = await asyncio.gather(*(open_stream(scheduler, request(f"q{k}", n=5)).completions() for k in range(3)))
    assert [len(row) for row in rows] == [5, 5, 5]
    assert all(c.finish_reason in ("stop", "length") for row in rows for c in row)


async def test_a_sample_stopped_before_it_begins_takes_no_sequence(scheduler: Scheduler) -> None:
    stream = open_stream(scheduler, request("never mind", n=3, max_tokens=40))
    stream.stop(1)
    done: list[Completion] = await stream.completions()
    assert done[1].finish_reason == "cancelled" and done[1].completion_tokens == 0
    assert [c.finish_reason for c in (done[0], done[2])] != ["cancelled", "cancelled"]


async def test_a_stop_string_is_never_streamed() -> None:
    scheduler = Scheduler(FakeGenerator(), prefill_chunk=8)  # type: ignore[arg-type]
    try:
        probe = await texts(scheduler, request("abc", n=1, max_tokens=6))
        stop = probe[0][4:9]  # a string the sample will produce, spread over two tokens
        stream = open_stream(scheduler, request("abc", n=1, max_tokens=6, stop=(stop,)))
        sent = "".join([e.text async for e in stream if isinstance(e, SampleDelta)])
        [final] = stream._done.values()
        assert sent == final.text and stop not in sent and final.stop_sequence == stop
    finally:
        scheduler.close()


async def test_a_prompt_the_tokenizer_refuses_fails_alone(scheduler: Scheduler) -> None:
    good = open_stream(scheduler, request("fine question", n=2))
    bad = open_stream(scheduler, request(f"bad {UNTOKENIZABLE} question", n=2))
    with pytest.raises(InvalidInputError, match="cannot be tokenized"):
        await bad.completions()
    assert len(await good.completions()) == 2


def test_a_caller_whose_event_loop_closed_does_not_stop_the_engine() -> None:
    scheduler = Scheduler(FakeGenerator(delay=0.005), prefill_chunk=8)  # type: ignore[arg-type]
    try:

        async def gives_up() -> None:  # a time budget runs out: asyncio.run ends and closes its loop
            stream = open_stream(scheduler, request("slow question", n=4, max_tokens=400))
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(stream.completions(), 0.05)

        asyncio.run(gives_up())
        time.sleep(0.1)

        async def next_caller() -> list[Completion]:
            return await asyncio.wait_for(open_stream(scheduler, request("next", n=1, max_tokens=3)).completions(), 5)

        assert len(asyncio.run(next_caller())) == 1
    finally:
        scheduler.close()


async def test_deterministic_mode_serves_callers_one_at_a_time_each_from_an_empty_cache() -> None:
    generator = FakeGenerator()
    resets: list[int] = []
    clear = generator.reset_cache

    def counted() -> None:
        resets.append(scheduler.decode_steps)
        clear()

    generator.reset_cache = counted  # type: ignore[method-assign]
    scheduler = Scheduler(generator, deterministic=True, prefill_chunk=8)  # type: ignore[arg-type]
    try:
        streams = [open_stream(scheduler, request(f"caller {k}", n=2, max_tokens=6)) for k in range(3)]
        await asyncio.gather(*(s.completions() for s in streams))
        assert len(resets) == 3  # every caller, even one that waited while another ran
    finally:
        scheduler.close()
