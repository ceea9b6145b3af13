"""Adaptive self-consistency: draw samples until the answer is settled, checking after each one.

Algorithm (Aggarwal et al. 2023, Adaptive-Consistency; Manvi et al. 2024, Adaptive
Inference-Time Compute): draw samples one at a time and, after each, stop once the stopping rule
says the answer is settled (never past the budget; at least ``min_samples`` first):

- ``stop_rule=beta`` (Aggarwal et al.): votes over equivalent answers; stop once P(the leader's
  share beats the runner-up's) under the Beta posterior of the top two counts >= ``threshold``;
- ``dirichlet`` (Aggarwal et al.): the same over all answers, by seeded Monte Carlo;
- ``self-eval`` (Manvi et al.): the model self-evaluates each sample (the ``restart`` judge: "would
  you do better if you started over?", P(no)); stop once a sample's P(no) >= ``threshold``.

The answer: the majority vote under ``beta`` and ``dirichlet`` (``weight_by`` weights it by a
scorer's scores, e.g. ``confidence``, DeepConf's confidence-weighted vote; the stopping rules count
plain votes); under ``self-eval``, Manvi et al.'s selection: the answer of the sample with the best
self-evaluation (best-of-N by that score; ``self_eval_select=vote`` takes the vote instead).

Samples are drawn ``batch`` at a time (one engine call, so a forking engine computes the prompt
once) as a stream, yet the rule is checked after every sample, as in the papers: samples are
checked in their order (identities 0, 1, 2, ..., those of self-consistency's samples, so with the
same seed the first k samples are the same in both), each as soon as it and every earlier one
have finished, whatever order they finish in. Once the rule is met after sample k, the rest of the
batch is stopped with the engine's per-sample stop (an engine that cannot stop one sample
finishes it) and nothing after sample k votes: the samples that vote are exactly those of drawing
one at a time, so ``batch`` changes the cost, not the answer. What the stopped and discarded
samples generated is counted in the usage, and the trace counts them (``stopped``: cut short;
``discarded``: finished after the stopping point).

With ``prune_tokens > 0`` each batch is first generated only that far; unfinished samples are
ranked by the same restart self-evaluation (Manvi et al.'s early pruning) and only the best
``prune_keep`` fraction are continued, so unpromising samples stop early (their tokens are still
counted); ``prune_by`` ranks them with another scorer instead (``confidence``: the samples' own
trace confidence, free). Pruned batches are checked sample by sample once drawn.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import ClassVar, Literal

from ponder.context import StepContext, reply_prompt
from ponder.core.decision import Decision
from ponder.core.params import check, param
from ponder.core.result import Candidate
from ponder.core.seeding import derive_seed
from ponder.core.voting import best_scored, top_two, vote
from ponder.engines.streaming import SampleDone
from ponder.strategies.base import StepInfo, Strategy, step_info
from ponder.strategies.sampling import Samples
from ponder.strategies.stopping import beta_leader_probability, dirichlet_leader_probability

SELF_EVAL = "restart"  # the scorer of Manvi et al.'s capability-aware self-evaluation


@dataclass(frozen=True)
class AdaptiveParams:
    batch: int = param(4, "samples drawn per engine call (the rule is checked after every sample)")
    threshold: float = param(0.95, "stop once the stopping rule's probability reaches this")
    stop_rule: Literal["beta", "dirichlet", "self-eval"] = param("beta", "how the leader's lead is judged")
    min_samples: int = param(2, "samples drawn before any stop")
    prune_tokens: int = param(0, "0: off; else generate this many tokens, then continue only the best")
    prune_keep: float = param(0.5, "fraction of unfinished samples continued after pruning")
    prune_by: str = param("restart", "scorer ranking unfinished samples when pruning (confidence: free)")
    weight_by: str = param("", "scorer weighting the final vote ('' for plain votes; e.g. confidence)")
    self_eval_select: Literal["best", "vote"] = param(
        "best", "stop_rule=self-eval: the best self-evaluated sample's answer (Manvi et al.), or the vote"
    )

    def __post_init__(self) -> None:
        check(self.batch >= 1, f"batch must be >= 1, got {self.batch}")
        check(0 < self.threshold < 1, f"threshold must be in (0, 1), got {self.threshold}")
        check(self.min_samples >= 1, f"min_samples must be >= 1, got {self.min_samples}")
        check(self.prune_tokens >= 0, f"prune_tokens must be >= 0, got {self.prune_tokens}")
        check(0 < self.prune_keep <= 1, f"prune_keep must be in (0, 1], got {self.prune_keep}")
        check(
            not (self.weight_by and self.stop_rule == "self-eval" and self.self_eval_select == "best"),
            "weight_by weights the vote, but with stop_rule=self-eval the answer is the best self-evaluated "
            "sample: set self_eval_select=vote to weight the vote",
        )


@dataclass(frozen=True)
class AdaptiveState(Samples):
    leader_probability: float = 0.0
    drawn: int = 0  # generations drawn so far, pruned, stopped and discarded ones included
    evaluations: tuple[float, ...] = ()  # stop_rule=self-eval: each candidate's P(no restart)


@dataclass
class _Tally:
    """One step's running check: the candidates that vote so far and the rule's verdict."""

    candidates: list[Candidate]
    evaluations: list[float]
    probability: float
    finished: bool = False
    kept: int = 0


class AdaptiveSelfConsistency(Strategy[AdaptiveParams, AdaptiveState]):
    """Self-consistency that stops sampling once the answer is settled."""

    name: ClassVar[str] = "adaptive-self-consistency"
    summary: ClassVar[str] = "sample until the answer is settled, checking after every sample"
    Params: ClassVar[type] = AdaptiveParams

    def init(self, ctx: StepContext) -> AdaptiveState:
        return AdaptiveState()

    async def step(self, state: AdaptiveState, ctx: StepContext) -> tuple[AdaptiveState, StepInfo]:
        n = min(self.params.batch, ctx.ledger.remaining())
        temperature = self.temperature(ctx)
        tally = _Tally(list(state.candidates), list(state.evaluations), state.leader_probability)
        pruned = stopped = discarded = 0
        if self.params.prune_tokens and self.params.prune_tokens < ctx.settings.max_tokens:
            drawn, pruned = await self._draw_pruned(n, temperature, ctx)
            discarded = len(drawn) - await self._check(tally, drawn, ctx)
        else:
            stopped, discarded = await self._stream(n, temperature, ctx, tally)
        candidates = tally.candidates
        if self.params.weight_by and tally.kept:
            candidates[-tally.kept :] = await ctx.score(self.params.weight_by, candidates[-tally.kept :])
        info = step_info(
            "sample",
            n=n,
            kept=tally.kept,
            pruned=pruned,
            stopped=stopped,
            discarded=discarded,
            votes=vote(candidates, ctx.task).votes,
            leader_probability=round(tally.probability, 4),
            stop=tally.finished,
        )
        new_state = AdaptiveState(
            tuple(candidates), tally.finished, tally.probability, state.drawn + n, tuple(tally.evaluations)
        )
        return new_state, info

    def _top_logprobs(self, ctx: StepContext) -> int:
        """Top logprobs the scorers of this run read (1 where they need only each token's logprob)."""
        wanted = [ctx.scorer(name) for name in (self.params.weight_by, self.params.prune_by) if name]
        top = max((getattr(scorer, "needs_top_logprobs", 0) for scorer in wanted), default=0)
        return max(top, int(any(getattr(scorer, "needs_logprobs", False) for scorer in wanted)))

    async def _stream(self, n: int, temperature: float, ctx: StepContext, tally: _Tally) -> tuple[int, int]:
        """Draw ``n`` samples as one stream, checking each in order as soon as it and the ones
        before it have finished; once the rule is met, stop the rest. (stopped, discarded)."""
        stream, identities = ctx.stream(n, temperature=temperature, top_logprobs=self._top_logprobs(ctx))
        prompt = reply_prompt(stream.request)
        ready: dict[int, Candidate] = {}
        ended: set[int] = set()
        position = stopped = discarded = 0
        async for event in stream:
            if not isinstance(event, SampleDone):
                continue
            ended.add(event.index)
            if tally.finished:  # ended after the stopping point: cut short, or done before the stop arrived
                cut = event.completion.finish_reason == "cancelled"
                stopped, discarded = stopped + cut, discarded + (not cut)
                continue
            ready[event.index] = ctx.candidate(event.completion, identities.start + event.index, prompt=prompt)
            run = []
            while position in ready:
                run.append(ready.pop(position))
                position += 1
            if run:
                discarded += len(run) - await self._check(tally, run, ctx)
            if tally.finished:
                discarded += len(ready)  # finished, but after the stopping point
                for index in range(n):
                    if index not in ended:
                        stream.stop(index)
        return stopped, discarded

    async def _check(self, tally: _Tally, samples: Sequence[Candidate], ctx: StepContext) -> int:
        """Add ``samples`` (in order) to the tally one at a time, checking the rule after each,
        until it is met; how many were added."""
        evaluations: list[float] = []
        if self.params.stop_rule == "self-eval":  # the ready samples judged in one call
            evaluations = [c.score or 0.0 for c in await ctx.score(SELF_EVAL, samples)]
        for i, sample in enumerate(samples):
            if tally.finished:
                return i
            if evaluations:
                tally.evaluations.append(evaluations[i])
                sample = sample if self.params.weight_by else replace(sample, score=evaluations[i])
            tally.candidates.append(sample)
            tally.kept += 1
            tally.probability = self._leader_probability(tally, ctx)
            tally.finished = (
                len(tally.candidates) >= self.params.min_samples and tally.probability >= self.params.threshold
            )
        return len(samples)

    def _leader_probability(self, tally: _Tally, ctx: StepContext) -> float:
        if self.params.stop_rule == "self-eval":
            return tally.evaluations[-1]  # the sample just drawn (the rule is checked after every one)
        decision = vote(tally.candidates, ctx.task)
        if decision.answer is None:
            return 0.0
        if self.params.stop_rule == "beta":
            leader, runner_up = top_two(decision.votes)
            return beta_leader_probability(int(leader), int(runner_up))
        seed = derive_seed(ctx.settings.seed, len(tally.candidates))
        return dirichlet_leader_probability([int(v) for v in decision.votes.values()], seed)

    async def _draw_pruned(self, n: int, temperature: float, ctx: StepContext) -> tuple[list[Candidate], int]:
        top = self._top_logprobs(ctx)
        partial = await ctx.sample(
            n, temperature=temperature, max_tokens=self.params.prune_tokens, top_logprobs=top, logprobs=top > 0
        )
        finished = [c for c in partial if c.finish_reason != "length"]  # done, or failed: nothing to continue
        open_ = [c for c in partial if c.finish_reason == "length"]
        if not open_:
            return finished, 0
        ranked = sorted(await ctx.score(self.params.prune_by, open_), key=lambda c: -(c.score or 0.0))
        keep = ranked[: max(1, math.ceil(self.params.prune_keep * len(open_)))]
        rest = ctx.settings.max_tokens - self.params.prune_tokens
        continued = await ctx.extend(keep, max_tokens=rest, temperature=temperature)
        return sorted(finished + continued, key=lambda c: c.index), len(open_) - len(keep)

    def done(self, state: AdaptiveState, ctx: StepContext) -> bool:
        return state.finished or ctx.ledger.remaining() == 0

    def decide(self, state: AdaptiveState, ctx: StepContext) -> Decision:
        if self.params.stop_rule == "self-eval" and self.params.self_eval_select == "best":
            return best_scored(state.candidates, ctx.task)  # each candidate's score is its self-evaluation
        if self.params.weight_by:
            return vote(state.candidates, ctx.task, [c.score or 0.0 for c in state.candidates])
        return vote(state.candidates, ctx.task)
