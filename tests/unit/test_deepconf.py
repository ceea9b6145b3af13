"""DeepConf: the confidence math by hand, online stopping and consensus on a scripted streaming engine."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

import pytest

import ponder
from ponder.core.confidence import (
    default_window,
    group_confidences,
    percentile,
    token_confidence,
    trace_score,
)
from ponder.core.errors import InvalidInputError
from ponder.core.usage import Usage
from ponder.engines import FakeEngine
from ponder.engines.base import Completion, EngineCapabilities, EngineInfo, GenerationRequest, TokenLogprob
from ponder.engines.streaming import QueueStream, SampleDelta, SampleDone

QUESTION = "Tom has 3 boxes with 4 apples each. How many apples?"

# -- the math -----------------------------------------------------------------------------------


def test_token_confidence_is_minus_the_mean_top_logprob() -> None:
    assert token_confidence([-0.1, -2.3]) == pytest.approx(1.2)
    assert token_confidence([0.0] * 5) == 0.0
    with pytest.raises(ValueError):
        token_confidence([])


def test_groups_slide_by_one_and_a_short_trace_is_one_group() -> None:
    assert group_confidences([1, 2, 3, 4], 2) == [1.5, 2.5, 3.5]
    assert group_confidences([1, 2, 3], 8) == [2.0]
    assert group_confidences([], 4) == []


def test_trace_scores() -> None:
    confs = [4.0, 4.0, 1.0, 1.0, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0]
    assert trace_score(confs, "mean", window=2) == pytest.approx(3.5)
    assert trace_score(confs, "lowest", window=2) == 1.0  # the window over the two 1.0s
    assert trace_score(confs, "bottom10", window=2) == 1.0  # 11 groups: the lowest one
    assert trace_score(confs, "tail", window=2, tail=3) == 4.0
    assert trace_score([], "lowest", window=2) == 0.0


def test_percentile_interpolates_like_numpy_and_the_window_scales() -> None:
    assert percentile([1.0, 2.0, 3.0, 4.0], 10) == pytest.approx(1.3)
    assert percentile([5.0], 90) == 5.0
    assert default_window(128) == 8 and default_window(1024) == 64 and default_window(10**6) == 2048


# -- a scripted streaming engine ----------------------------------------------------------------

Plan = Callable[[GenerationRequest, int], list[tuple[str, float]]]  # each token and its confidence


class ConfidenceEngine:
    """Streams scripted tokens, each with ``top_logprobs`` alternatives whose mean is ``-confidence``;
    honours ``stop(i)`` between tokens; counts the tokens made after a stop was asked for."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.capabilities = EngineCapabilities(logprobs=True, seeded=True, streams=True)
        self.info = EngineInfo(name="scripted", model="confidence")
        self.requests: list[GenerationRequest] = []
        self.feeds: list[asyncio.Future[None]] = []

    def stream(self, request: GenerationRequest) -> QueueStream:
        self.requests.append(request)
        stream = QueueStream(request, asyncio.get_running_loop())
        self.feeds.append(asyncio.ensure_future(self._feed(stream)))
        return stream

    async def _feed(self, stream: QueueStream) -> None:
        request = stream.request
        plans = [self.plan(request, request.first_index + i) for i in range(request.n)]
        made: list[list[TokenLogprob]] = [[] for _ in plans]
        live = set(range(request.n))
        step = 0
        while live:
            for i in sorted(live):
                if stream.stopped(i) or step >= len(plans[i]):
                    live.discard(i)
                    finish = "cancelled" if step < len(plans[i]) else "stop"
                    text = "".join(t.token for t in made[i])
                    stream.push(
                        SampleDone(
                            i,
                            Completion(
                                text,
                                len(made[i]),
                                finish,
                                Usage(completion_tokens=len(made[i])),
                                index=i,
                                logprobs=tuple(made[i]),
                            ),
                        )
                    )
                    continue
                word, confidence = plans[i][step]
                top = tuple((f"alt{j}", -confidence) for j in range(request.top_logprobs or 1))
                token = TokenLogprob(word, -0.1, top)
                made[i].append(token)
                stream.push(SampleDelta(i, word, len(made[i]), (token,)))
            step += 1
            await asyncio.sleep(0)

    async def generate(self, requests: Sequence[GenerationRequest]) -> list[list[Completion]]:
        return [await self.stream(r).completions() for r in requests]

    async def aclose(self) -> None:
        return None


def tokens(answer: str, confidence: float, length: int = 24, drop_at: int | None = None) -> list[tuple[str, float]]:
    words = [(f" w{k}", confidence if drop_at is None or k < drop_at else 0.5) for k in range(length - 4)]
    return words + [(" The", confidence), (" answer", confidence), (" is", confidence), (f" {answer}.", confidence)]


async def test_online_stops_a_trace_whose_group_confidence_falls_and_it_does_not_vote() -> None:
    def plan(request: GenerationRequest, identity: int) -> list[tuple[str, float]]:
        if identity < 4:  # warm-up: confident, split 3 to 1 so the vote is not settled
            return tokens("12" if identity < 3 else "13", 3.0 + 0.1 * identity)
        if identity == 5:  # confidence collapses at token 10: stopped there, its "7" never counts
            return tokens("7", 3.5, drop_at=10)
        return tokens("12", 3.5)

    engine = ConfidenceEngine(plan)
    run = ponder.start(
        QUESTION, engine, strategy="deepconf", budget=8, max_tokens=128, options={"warmup": 4, "batch": 4, "tau": 1.0}
    )
    result = await run.run()
    stopped = [c for c in result.candidates if c.finish_reason == "cancelled"]
    assert [c.index for c in stopped] == [5]
    # threshold 3.03 (10th percentile of 3.0..3.3), window 8 (128 // 16): the group mean falls below it
    # at the second low token, token 12; the engine may make one more before it sees the stop
    assert 12 <= stopped[0].completion_tokens <= 13
    assert "7" not in result.votes and result.answer == "12"
    assert run.ctx.ledger.spent == 8
    assert result.trace[0]["action"] == "warmup" and result.trace[0]["threshold"] == pytest.approx(3.03, abs=0.01)


async def test_consensus_after_the_warm_up_stops_sampling() -> None:
    engine = ConfidenceEngine(lambda request, identity: tokens("12", 2.5))
    run = ponder.start(QUESTION, engine, strategy="deepconf", budget=16, max_tokens=128)
    result = await run.run()
    assert result.answer == "12" and run.ctx.ledger.spent == 4  # the warm-up's max(2, 16 // 4) traces
    assert [entry["action"] for entry in result.trace] == ["warmup"]
    assert all(r.top_logprobs == 20 for r in engine.requests)


async def test_offline_keeps_the_most_confident_traces() -> None:
    def plan(request: GenerationRequest, identity: int) -> list[tuple[str, float]]:
        return tokens("12", 4.0) if identity < 2 else tokens("13", 1.5)  # 2 confident against 6 unsure

    engine = ConfidenceEngine(plan)
    filtered = await ponder.asolve(
        QUESTION, engine=engine, strategy="deepconf", budget=8, max_tokens=128, options={"mode": "offline", "eta": 25}
    )
    assert filtered.answer == "12"
    everyone = await ponder.asolve(
        QUESTION, engine=engine, strategy="deepconf", budget=8, max_tokens=128, options={"mode": "offline", "eta": 100}
    )
    assert everyone.answer == "13"  # 6 x 1.5 outweighs 2 x 4.0


async def test_an_engine_without_logprobs_is_refused_clearly() -> None:
    engine = FakeEngine(["The answer is 12."])
    engine.capabilities = EngineCapabilities(logprobs=False)
    with pytest.raises(InvalidInputError, match="deepconf needs token logprobs"):
        await ponder.asolve(QUESTION, engine=engine, strategy="deepconf", budget=4)


async def test_the_confidence_scorer_composes_with_best_of_n() -> None:
    def plan(request: GenerationRequest, identity: int) -> list[tuple[str, float]]:
        return tokens("12", 4.0) if identity == 2 else tokens("13", 1.0)

    result = await ponder.asolve(
        QUESTION,
        engine=ConfidenceEngine(plan),
        strategy="best-of-n",
        budget=4,
        max_tokens=128,
        options={"scorer": "confidence"},
    )
    assert result.answer == "12"


async def test_a_split_warm_up_keeps_sampling_even_when_few_traces_pass_the_threshold() -> None:
    def plan(request: GenerationRequest, identity: int) -> list[tuple[str, float]]:
        return tokens("12" if identity % 2 else "13", 3.0 + 0.1 * identity)

    run = ponder.start(
        QUESTION, ConfidenceEngine(plan), strategy="deepconf", budget=8, max_tokens=128, options={"eta": 10}
    )  # only the most confident warm-up trace passes: not a consensus
    result = await run.run()
    assert run.ctx.ledger.spent > 4 and [e["action"] for e in result.trace] == ["warmup", "sample"]
