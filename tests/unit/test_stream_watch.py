"""Watching a run's samples grow (issue #19 item 4): the context's watcher and the live state.

A watcher attached to a run's context hears every generator sample of every strategy (drawn with
``sample``, ``stream``, continuations, step-wise search, sub-contexts) without the strategy
knowing, and the run's result is the same with and without one. Scripted engines; no model.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from typing import Any

import pytest

import ponder
from ponder.context.live import LiveSamples
from ponder.context.watch import (
    SampleEnded,
    SampleEvent,
    SampleGrew,
    SampleKey,
    SampleStarted,
    stream_usage,
    streams_alike,
)
from ponder.core.result import SolveResult
from ponder.core.seeding import derive_seed
from ponder.engines.base import EngineCapabilities, GenerationRequest
from ponder.engines.fake import FakeEngine
from ponder.engines.http import OpenAIEngine
from ponder.scorers.prm import ScriptedPRM

QUESTION = "What is 2 + 2?"


def voting(request: GenerationRequest, index: int) -> str:
    identity = request.first_index + index
    return f"Sample {identity} thinks a while about it. The answer is {5 if identity % 3 == 1 else 4}."


def steps(request: GenerationRequest, index: int) -> str:
    """Two steps separated by a blank line; the second states the answer."""
    done = [s for s in request.assistant_prefix.split("\n\n") if s]
    draw = derive_seed(request.seed, request.first_index + index) % 100
    if not done:
        return f"First step, draw {draw}.\n\nleftover"
    return f"Second step, draw {draw}. The answer is {4 if draw % 2 else 5}."


PIPELINE = {"layers": [{"type": "generator", "samples": 3}, {"type": "critic"}, {"type": "fuser"}]}


def scripted_prm() -> ScriptedPRM:
    return ScriptedPRM(lambda question, s: [0.5 + 0.01 * (len(x) % 40) for x in s], aggregation="min")


def without_wall_times(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: without_wall_times(v) for k, v in value.items() if k != "wall_seconds"}
    if isinstance(value, list):
        return [without_wall_times(v) for v in value]
    return value


def comparable(result: SolveResult) -> dict[str, Any]:
    """The result without its wall times (wherever they are: usage, trace, components)."""
    return dict(without_wall_times(result.to_dict()))


RUNS: list[tuple[str, dict[str, Any], Any]] = [
    ("self-consistency", {}, voting),
    ("self-consistency", {"batch": 2}, voting),
    ("adaptive-self-consistency", {}, voting),  # draws with ctx.stream
    ("revise", {}, voting),
    ("beam-search", {"prm": "scripted"}, steps),  # step-wise: continuations, served as the engine prefers
    ("particle-filtering", {"prm": "scripted"}, steps),
    ("pipeline", {}, voting),
]


async def watched(strategy: str, options: dict[str, Any], script: Any, **engine: Any) -> tuple[Any, list[SampleEvent]]:
    events: list[SampleEvent] = []
    kwargs: dict[str, Any] = {"scorers": {"scripted": scripted_prm()}}
    if strategy == "pipeline":
        kwargs["pipeline"] = PIPELINE
    else:
        kwargs.update(strategy=strategy, options=options)
    run = ponder.start(QUESTION, FakeEngine(script, **engine), budget=6, seed=7, max_tokens=64, **kwargs)
    run.ctx.watch(events.append)
    result = await run.run()
    return result, events


async def unwatched(strategy: str, options: dict[str, Any], script: Any, **engine: Any) -> Any:
    kwargs: dict[str, Any] = {"scorers": {"scripted": scripted_prm()}}
    if strategy == "pipeline":
        kwargs["pipeline"] = PIPELINE
    else:
        kwargs.update(strategy=strategy, options=options)
    return await ponder.start(QUESTION, FakeEngine(script, **engine), budget=6, seed=7, max_tokens=64, **kwargs).run()


def texts(events: list[SampleEvent]) -> dict[SampleKey, str]:
    """Each sample's whole text, as the events tell it."""
    out: dict[SampleKey, str] = {}
    for event in events:
        if isinstance(event, SampleStarted):
            out[event.key] = event.prefix
        elif isinstance(event, SampleGrew):
            out[event.key] = out.get(event.key, "") + event.text
    return out


@pytest.mark.parametrize(("strategy", "options", "script"), RUNS)
@pytest.mark.parametrize("engine", [{}, {"fork": True}, {"fork": True, "remote": True}])
async def test_a_watcher_changes_nothing_in_the_result(
    strategy: str, options: dict[str, Any], script: Any, engine: dict[str, Any]
) -> None:
    result, events = await watched(strategy, options, script, **engine)
    assert comparable(result) == comparable(await unwatched(strategy, options, script, **engine))
    assert events and all(isinstance(e, SampleStarted | SampleGrew | SampleEnded) for e in events)
    whole = texts(events)
    for candidate in result.candidates:  # every candidate was seen, whole
        assert candidate.text in whole.values()


async def test_sampled_samples_grow_word_by_word_and_end_with_their_answers() -> None:
    result, events = await watched("self-consistency", {}, voting)
    grew: dict[SampleKey, list[SampleGrew]] = defaultdict(list)
    for event in events:
        if isinstance(event, SampleGrew):
            grew[event.key].append(event)
    assert len(grew) == 6
    for deltas in grew.values():
        assert len(deltas) == len(voting(GenerationRequest.chat("q"), 0).split())  # one delta a word
        assert [d.tokens for d in deltas] == list(range(1, len(deltas) + 1))
    ended = {e.key: e for e in events if isinstance(e, SampleEnded)}
    whole = texts(events)
    assert sorted(whole.values()) == sorted(c.text for c in result.candidates)
    by_text = {c.text: c for c in result.candidates}
    assert all(ended[key].answer == by_text[text].answer for key, text in whole.items())
    # samples take turns: the first sample's second word comes before any sample ends
    first_end = next(i for i, e in enumerate(events) if isinstance(e, SampleEnded))
    assert sum(isinstance(e, SampleGrew) for e in events[:first_end]) > 6


async def test_several_samples_in_one_server_request_arrive_whole() -> None:
    """A server that takes ``n`` seeds its samples differently from its per-sample streams, so a
    watched run that is not interruptible draws them as without a watcher: they arrive whole, one
    delta each. An interruptible run streams them, one stream per sample, so interrupts reach them."""
    events: list[SampleEvent] = []
    engine = FakeEngine(voting, fork=True, remote=True)
    run = ponder.api.plan(QUESTION, budget=6, seed=7, max_tokens=64).start(engine, interruptible=False)
    run.ctx.watch(events.append)
    await run.run()
    grew = [e for e in events if isinstance(e, SampleGrew)]
    assert len(grew) == 6 and len({e.key for e in grew}) == 6
    assert [r.n for r in engine.requests] == [6]

    _, events = await watched("self-consistency", {}, voting, fork=True, remote=True)
    grew = [e for e in events if isinstance(e, SampleGrew)]
    assert len(grew) > 6 and len({e.key for e in grew}) == 6  # word by word


def test_streams_alike() -> None:
    one, many = GenerationRequest.chat("q"), GenerationRequest.chat("q", n=4)
    local = EngineCapabilities(fork=True, streams=True)
    server_n = EngineCapabilities(fork=True, streams=True, remote=True)
    assert streams_alike(local, many) and streams_alike(server_n, one) and not streams_alike(server_n, many)
    assert streams_alike(dataclasses.replace(server_n, fork=False), many)  # fan-out: one request a sample
    assert not streams_alike(EngineCapabilities(), one)
    # a server whose streams carry no usage (llama-cpp-python) would count differently
    assert not streams_alike(dataclasses.replace(server_n, fork=False), one, stream_usage=False)
    assert not stream_usage(OpenAIEngine(base_url="http://127.0.0.1:9", profile="llama-cpp-python"))
    assert stream_usage(OpenAIEngine(base_url="http://127.0.0.1:9", profile="llama.cpp")) and stream_usage(
        FakeEngine("x")
    )


async def test_continuations_carry_their_prefix_and_sub_contexts_have_scopes_of_their_own() -> None:
    _, events = await watched("beam-search", {"prm": "scripted"}, steps)
    starts = [e for e in events if isinstance(e, SampleStarted)]
    assert any(e.prefix.startswith("First step") for e in starts)  # second steps continue first ones
    second = next(e for e in starts if e.prefix)
    assert texts(events)[second.key].startswith(second.prefix + "Second step")
    _, piped = await watched("pipeline", {}, voting)
    scopes = {scope for scope, _ in texts(piped)}
    assert len(scopes) >= 2 and 0 not in scopes  # each component's context has a scope of its own


# -- the live state ------------------------------------------------------------------------------


def feed(live: LiveSamples, *events: SampleEvent) -> None:
    for event in events:
        live.apply(event)


def test_live_samples_vote_and_leader() -> None:
    live = LiveSamples(lambda text: text.rsplit("is ", 1)[1].strip(".") if "is " in text else None)
    assert live.leader() is None and live.votes() == {}
    a, b, c, d = (0, 0), (0, 1), (0, 2), (0, 3)
    feed(live, SampleStarted(a), SampleGrew(a, "The answer is 4.", 4), SampleEnded(a, "stop", "4"))
    feed(live, SampleStarted(b), SampleGrew(b, "Long thoughts, long thoughts, the answer is 5", 9))
    feed(live, SampleStarted(c), SampleGrew(c, "So it is 4", 4))
    assert live.votes() == {"4": 1}
    assert live.leader() == c  # live and agreeing with the leading answer, though shorter than b
    feed(live, SampleGrew(c, " or not; it is 6", 8))
    assert live.leader() == b  # no live sample agrees now: the longest live one
    feed(live, SampleEnded(b, "stop", "5"), SampleEnded(c, "stop", "6"))
    feed(live, SampleStarted(d), SampleGrew(d, "x", 1), SampleEnded(d, "stop", "5"))
    assert live.votes() == {"5": 2, "4": 1, "6": 1}
    assert live.leader() is None  # none live
    assert [s.number for s in live.samples.values()] == [1, 2, 3, 4]
    assert live.samples[c].last_line() == "So it is 4 or not; it is 6" and live.samples[c].tokens == 8


def test_a_restarted_sample_takes_its_new_prefix() -> None:
    live = LiveSamples()
    key = (0, 5)
    feed(live, SampleStarted(key), SampleGrew(key, "Step 1.\n\n", 3), SampleEnded(key, "stop", None))
    feed(live, SampleStarted(key, "Step 1.\n\n", 3), SampleGrew(key, "Step 2.", 5))
    sample = live.samples[key]
    assert sample.live and sample.text == "Step 1.\n\nStep 2." and sample.start == len("Step 1.\n\n")
    assert sample.tokens == 5 and sample.number == 1 and sample.last_line() == "Step 2."
