"""FakeEngine.stream: scripted samples word by word, deterministic, stoppable mid-way."""

from __future__ import annotations

import asyncio

import pytest

from ponder.engines import FakeEngine, GenerationRequest, Scripted
from ponder.engines.streaming import SampleDelta, SampleDone, SampleStream, StreamEvent, Streams

SCRIPT = ["one two three four", "alpha beta", "x y z"]


async def events_of(stream: SampleStream, stop_after: dict[int, int] | None = None) -> list[StreamEvent]:
    """Every event of ``stream``, stopping sample i after its ``stop_after[i]``-th delta."""
    seen: list[StreamEvent] = []
    deltas: dict[int, int] = {}
    async for event in stream:
        seen.append(event)
        if isinstance(event, SampleDelta):
            deltas[event.index] = deltas.get(event.index, 0) + 1
            if stop_after and deltas[event.index] == stop_after.get(event.index):
                stream.stop(event.index)
    return seen


def texts(events: list[StreamEvent]) -> dict[int, str]:
    joined: dict[int, str] = {}
    for event in events:
        if isinstance(event, SampleDelta):
            joined[event.index] = joined.get(event.index, "") + event.text
    return joined


def test_the_fake_streams() -> None:
    engine = FakeEngine(SCRIPT)
    assert isinstance(engine, Streams) and engine.capabilities.streams


async def test_words_arrive_round_robin_and_end_as_generate_does() -> None:
    request = GenerationRequest(text="q", n=3)
    stream = FakeEngine(SCRIPT).stream(request)
    assert isinstance(stream, SampleStream)
    events = await events_of(stream)
    order = [(type(e).__name__, e.index) for e in events]
    assert order[:6] == [("SampleDelta", 0), ("SampleDelta", 1), ("SampleDelta", 2)] * 2
    assert [e.text for e in events if isinstance(e, SampleDelta) and e.index == 0] == ["one", " two", " three", " four"]
    assert [e.tokens for e in events if isinstance(e, SampleDelta) and e.index == 0] == [1, 2, 3, 4]
    done = {e.index: e.completion for e in events if isinstance(e, SampleDone)}
    [expected] = await FakeEngine(SCRIPT).generate([request])
    assert [done[i] for i in range(3)] == expected
    assert texts(events) == {i: c.text for i, c in enumerate(expected)}
    for index in range(3):  # nothing of a sample after its SampleDone
        last = max(k for k, e in enumerate(events) if e.index == index)
        assert isinstance(events[last], SampleDone)


async def test_completions_equal_generate_with_stops_and_caps() -> None:
    script = ["one two\nSTEP three", "w1 w2 w3 w4 w5", "  spaced   words  \n"]
    request = GenerationRequest(text="q", n=3, stop=("STEP",), max_tokens=3, logprobs=True)
    streamed = await FakeEngine(script, fork=True).stream(request).completions()
    [generated] = await FakeEngine(script, fork=True).generate([request])
    assert streamed == generated
    assert [c.finish_reason for c in streamed] == ["stop", "length", "stop"]
    assert streamed[0].stop_sequence == "STEP"


async def test_stop_ends_a_sample_with_its_text_so_far() -> None:
    request = GenerationRequest(text="q", n=3, logprobs=True)
    stream = FakeEngine(SCRIPT).stream(request)
    events = await events_of(stream, stop_after={0: 2})
    done = {e.index: e.completion for e in events if isinstance(e, SampleDone)}
    assert done[0].finish_reason == "cancelled" and done[0].text == "one two" == texts(events)[0]
    assert done[0].completion_tokens == 2 and done[0].usage.completion_tokens == 2
    assert done[0].logprobs is not None and [t.token for t in done[0].logprobs] == ["one", "two"]
    stopped_at = next(k for k, e in enumerate(events) if isinstance(e, SampleDone) and e.index == 0)
    assert not any(isinstance(e, SampleDelta) and e.index == 0 for e in events[stopped_at:])
    assert [done[1].text, done[2].text] == ["alpha beta", "x y z"]
    assert done[1].finish_reason == done[2].finish_reason == "stop"


async def test_cancel_ends_every_sample() -> None:
    stream = FakeEngine(SCRIPT).stream(GenerationRequest(text="q", n=3))
    first = await anext(aiter(stream))
    assert isinstance(first, SampleDelta) and first.index == 0
    stream.cancel()
    completions = await stream.completions()
    assert [c.finish_reason for c in completions] == ["cancelled"] * 3
    assert [c.text for c in completions] == ["one", "", ""]


async def test_stop_before_reading_and_out_of_range() -> None:
    stream = FakeEngine(SCRIPT).stream(GenerationRequest(text="q", n=2))
    stream.stop(1)
    with pytest.raises(IndexError):
        stream.stop(2)
    completions = await stream.completions()
    assert [c.finish_reason for c in completions] == ["stop", "cancelled"]
    assert completions[1].text == "" and completions[1].completion_tokens == 0


async def test_the_same_scenario_gives_the_same_events() -> None:
    async def run() -> list[StreamEvent]:
        return await events_of(FakeEngine(SCRIPT).stream(GenerationRequest(text="q", n=3)), stop_after={1: 1, 2: 2})

    first, second = await run(), await run()
    assert first == second


async def test_other_tasks_run_between_events() -> None:
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    task = asyncio.ensure_future(ticker())
    try:
        events = await events_of(FakeEngine(["a b c d e f"]).stream(GenerationRequest(text="q")))
    finally:
        task.cancel()
    assert len(events) == 7 and ticks >= 6


async def test_logprobs_ride_on_the_deltas() -> None:
    engine = FakeEngine([Scripted("yes it is", logprob=-0.25, top=(("yes", -0.25), ("no", -1.5)))])
    events = await events_of(engine.stream(GenerationRequest(text="q", top_logprobs=2)))
    deltas = [e for e in events if isinstance(e, SampleDelta)]
    assert [len(d.logprobs) for d in deltas] == [1, 1, 1]
    assert deltas[0].logprobs[0].top == (("yes", -0.25), ("no", -1.5)) and deltas[1].logprobs[0].top == ()
    plain = await events_of(FakeEngine(["yes it is"]).stream(GenerationRequest(text="q")))
    assert all(e.logprobs == () for e in plain if isinstance(e, SampleDelta))


async def test_requests_and_calls_are_recorded_and_the_script_advances() -> None:
    engine = FakeEngine(SCRIPT)
    request = GenerationRequest(text="q", n=2)
    first = await engine.stream(request).completions()
    [second] = await engine.generate([request])
    assert engine.calls == 2 and engine.requests == [request, request]
    assert [c.text for c in first + second] == ["one two three four", "alpha beta", "x y z", "one two three four"]


async def test_an_empty_sample_ends_without_a_delta() -> None:
    events = await events_of(FakeEngine(["STOP now"]).stream(GenerationRequest(text="q", stop=("STOP",))))
    assert len(events) == 1 and isinstance(events[0], SampleDone) and events[0].completion.text == ""


async def test_leaving_the_loop_cancels_the_rest() -> None:
    stream = FakeEngine(SCRIPT).stream(GenerationRequest(text="q", n=2))
    async for _ in stream:
        break
    completions = await stream.completions()  # Python closes the abandoned loop a few loop turns later
    assert [c.finish_reason for c in completions] == ["cancelled", "cancelled"]
    for completion, script in zip(completions, SCRIPT[:2], strict=True):
        assert script.startswith(completion.text) and len(completion.text) < len(script)
