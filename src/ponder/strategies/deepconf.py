"""DeepConf: parallel thinking that stops unconfident traces early (Fu et al. 2025, "Deep Think
with Confidence", arXiv 2508.15260).

Confidence (:mod:`ponder.core.confidence`): token confidence ``C_i = -(1/k) sum_{j<=k} log
P_i(j)`` over the top ``k`` alternatives; group confidence, the mean ``C`` over a sliding window
of ``w`` tokens; trace scores ``mean``, ``lowest`` (group), ``bottom10`` (the lowest 10% of
groups), ``tail``.

*Offline* (``mode=offline``): sample the budget's ``N`` traces; keep the top ``eta`` % by the
trace score ``score``; answer by majority vote weighted by that score.

*Online* (``mode=online``, the default):
1. warm-up: ``N_init`` traces run to the end; the stopping threshold ``s`` is the ``100 - eta``
   percentile of their lowest-group confidences (``eta=90`` keeps 90%: DeepConf-high, the
   conservative setting; ``eta=10``: DeepConf-low, aggressive);
2. then the rest of the budget's traces are drawn at once (as the reference code does; ``batch``
   draws them that many at a time instead); each is stopped the moment its current group
   confidence (a full window) falls below ``s``: its decoding ends at once (the engine's
   per-sample stop) and it does not vote;
3. sampling stops once the leading answer's share of the confidence-weighted vote of every
   finished trace so far (warm-up ones included; each weighted by its lowest-group confidence)
   reaches ``tau`` (0.95), or when the budget is spent (the paper's adaptive sampling);
4. the answer: the confidence-weighted vote of the warm-up traces whose lowest-group confidence is
   at least ``s`` and of every later trace that finished (the reference code's vote).

Defaults follow the paper (``k = 20``, ``eta = 90``, ``tau = 0.95``, bottom-10% offline score) with
two deliberate changes of scale, since the paper's values assume budgets of 512 traces of up to
64k tokens: ``warmup=0`` means ``N_init = max(2, budget // 4)`` (the paper: 16 of 512) and
``window=0`` means ``w = max(8, min(2048, max_tokens // 16))`` (the paper: 2048). Needs an engine
that returns top logprobs (the embedded one, vLLM, SGLang, llama.cpp's servers): any other gets a
clear error.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import ClassVar, Literal

from ponder.context import StepContext, reply_prompt
from ponder.core.confidence import (
    TRACE_SCORES,
    RunningGroup,
    TraceScore,
    default_window,
    group_confidences,
    percentile,
    token_confidence,
    trace_score,
)
from ponder.core.decision import Decision
from ponder.core.errors import InvalidInputError
from ponder.core.params import check, param
from ponder.core.result import Candidate
from ponder.core.voting import vote, winner
from ponder.engines.streaming import SampleDelta, SampleDone
from ponder.strategies.base import StepInfo, Strategy, step_info


@dataclass(frozen=True)
class DeepConfParams:
    mode: Literal["online", "offline"] = param("online", "online: stop unconfident traces early; offline: filter")
    eta: float = param(90.0, "percent of traces kept: 90 conservative (DeepConf-high), 10 aggressive (-low)")
    top_k: int = param(20, "alternatives per token in its confidence (the paper's k)")
    window: int = param(0, "tokens per confidence group; 0: max(8, min(2048, max_tokens // 16))")
    warmup: int = param(0, "online warm-up traces; 0: max(2, budget // 4)")
    batch: int = param(0, "online traces per step; 0: all the budget has left, at once (the reference code)")
    tau: float = param(0.95, "online: stop sampling once the leader's weighted vote share reaches this")
    score: TraceScore = param("bottom10", "offline trace score: " + ", ".join(TRACE_SCORES))

    def __post_init__(self) -> None:
        check(0 < self.eta <= 100, f"eta must be in (0, 100], got {self.eta}")
        check(1 <= self.top_k <= 20, f"top_k must be in [1, 20], got {self.top_k}")
        check(self.window >= 0, f"window must be >= 0, got {self.window}")
        check(self.warmup >= 0, f"warmup must be >= 0, got {self.warmup}")
        check(self.batch >= 0, f"batch must be >= 0, got {self.batch}")
        check(0 < self.tau <= 1, f"tau must be in (0, 1], got {self.tau}")


@dataclass(frozen=True)
class Trace:
    """One sample with its confidences: lowest group, and whether it was stopped early."""

    candidate: Candidate
    lowest: float
    stopped: bool = False


@dataclass(frozen=True)
class ConfState:
    """Traces so far (the first ``warm`` are the warm-up's), the online threshold (``None`` until
    the warm-up ends), and whether sampling is over."""

    traces: tuple[Trace, ...] = ()
    threshold: float | None = None
    warm: int = 0
    finished: bool = False


class DeepConf(Strategy[DeepConfParams, ConfState]):
    """Confidence-filtered, early-stopped parallel thinking (see the module docstring)."""

    name: ClassVar[str] = "deepconf"
    summary: ClassVar[str] = "stop traces whose confidence falls; confidence-weighted vote (Fu et al. 2025)"
    Params: ClassVar[type] = DeepConfParams

    def init(self, ctx: StepContext) -> ConfState:
        if not ctx.engine.capabilities.logprobs:
            raise InvalidInputError(
                f"deepconf needs token logprobs, which the {ctx.engine.info.name} engine "
                "does not return (use the embedded engine, vLLM, SGLang or llama.cpp's server)"
            )
        return ConfState()

    def window(self, ctx: StepContext) -> int:
        return self.params.window or default_window(ctx.settings.max_tokens)

    def warmup(self, ctx: StepContext) -> int:
        return min(self.params.warmup or max(2, ctx.budget.generations // 4), ctx.budget.generations)

    async def step(self, state: ConfState, ctx: StepContext) -> tuple[ConfState, StepInfo]:
        temperature = self.temperature(ctx)
        if self.params.mode == "offline":
            traces = await self._draw(ctx, ctx.ledger.remaining(), temperature, threshold=None)
            return ConfState(traces, finished=True), step_info("sample", n=len(traces), temperature=temperature)
        if state.threshold is None:
            warm = await self._draw(ctx, self.warmup(ctx), temperature, threshold=None)
            threshold = percentile([t.lowest for t in warm], 100 - self.params.eta)
            state = ConfState(warm, threshold, warm=len(warm), finished=ctx.ledger.remaining() == 0)
            share = self._leader_share(state, ctx)
            info = step_info("warmup", n=len(warm), threshold=round(threshold, 4), leader_share=round(share, 4))
            return replace(state, finished=state.finished or share >= self.params.tau), info
        n = min(self.params.batch or ctx.ledger.remaining(), ctx.ledger.remaining())
        new = await self._draw(ctx, n, temperature, threshold=state.threshold, before=state)
        state = replace(state, traces=state.traces + new)
        share = self._leader_share(state, ctx)
        finished = share >= self.params.tau or ctx.ledger.remaining() == 0
        info = step_info(
            "sample",
            n=n,
            stopped=sum(t.stopped for t in new),
            leader_share=round(share, 4),
            tokens=[t.candidate.completion_tokens for t in new],
        )
        return replace(state, finished=finished), info

    async def _draw(
        self, ctx: StepContext, n: int, temperature: float, *, threshold: float | None, before: ConfState | None = None
    ) -> tuple[Trace, ...]:
        """``n`` traces streamed at once; with ``threshold``, each is stopped when its group
        confidence falls below it, and (online) the rest are stopped once the vote is settled."""
        window = self.window(ctx)
        stream, identities = ctx.stream(n, temperature=temperature, top_logprobs=self.params.top_k)
        groups = [RunningGroup(window) for _ in range(n)]
        stopped: set[int] = set()
        traces: dict[int, Trace] = {}
        async for event in stream:
            if isinstance(event, SampleDelta) and threshold is not None and event.index not in stopped:
                group = groups[event.index]
                for token in event.logprobs:  # checked token by token: a delta may hold several
                    if not token.top:
                        raise InvalidInputError("deepconf needs each token's top logprobs; the engine sent none")
                    group.add(token_confidence([lp for _, lp in token.top]))
                    if group.full and group.value < threshold:
                        stopped.add(event.index)
                        stream.stop(event.index)
                        break
            elif isinstance(event, SampleDone):
                candidate = ctx.candidate(
                    event.completion, identities.start + event.index, prompt=reply_prompt(stream.request)
                )
                lowest = _lowest(candidate, window)
                traces[event.index] = Trace(candidate, lowest, stopped=event.index in stopped)
                if before is not None and len(traces) < n and self._settled(before, traces, ctx):
                    for index in range(n):  # the vote is settled: unfinished traces end now, unvoted
                        if index not in traces and index not in stopped:
                            stopped.add(index)
                            stream.stop(index)
        return tuple(traces[i] for i in sorted(traces))

    def _settled(self, before: ConfState, traces: dict[int, Trace], ctx: StepContext) -> bool:
        state = replace(before, traces=before.traces + tuple(traces.values()))
        return self._leader_share(state, ctx) >= self.params.tau

    @staticmethod
    def _voters(state: ConfState) -> list[Trace]:
        """Online: warm-up traces at or above the threshold, and later traces that finished."""
        assert state.threshold is not None
        return [
            t
            for i, t in enumerate(state.traces)
            if not t.stopped and t.candidate.answer is not None and (i >= state.warm or t.lowest >= state.threshold)
        ]

    def _leader_share(self, state: ConfState, ctx: StepContext) -> float:
        """The leading answer's share of the confidence-weighted vote of every finished trace (the
        paper's consensus beta)."""
        voters = [t for t in state.traces if not t.stopped and t.candidate.answer is not None]
        total = sum(t.lowest for t in voters)
        if not voters or total <= 0:
            return 0.0
        votes = vote([t.candidate for t in voters], ctx.task, [t.lowest for t in voters]).votes
        leader = winner(votes)
        return 0.0 if leader is None else votes[leader] / total

    def done(self, state: ConfState, ctx: StepContext) -> bool:
        return state.finished

    def decide(self, state: ConfState, ctx: StepContext) -> Decision:
        candidates = tuple(t.candidate for t in state.traces)
        if self.params.mode == "offline":
            window = self.window(ctx)
            scored = [
                (t, trace_score(t.candidate.confidences or (), self.params.score, window=window))
                for t in state.traces
                if t.candidate.answer is not None
            ]
            keep = sorted(scored, key=lambda pair: -pair[1])[: max(1, math.ceil(len(scored) * self.params.eta / 100))]
            decision = vote([t.candidate for t, _ in keep], ctx.task, [s for _, s in keep])
            return Decision(decision.answer, candidates, decision.votes)
        if state.threshold is None:
            return vote(candidates, ctx.task)
        voters = self._voters(state)
        decision = vote([t.candidate for t in voters], ctx.task, [t.lowest for t in voters])
        return Decision(decision.answer, candidates, decision.votes)


def _lowest(candidate: Candidate, window: int) -> float:
    """A trace's lowest group confidence (0 without confidences: a failed sample)."""
    groups = group_confidences(candidate.confidences or (), window)
    return min(groups) if groups else 0.0
