"""Adaptive self-consistency: sample in small batches until the vote is settled.

Algorithm (Aggarwal et al. 2023, Adaptive-Consistency; Manvi et al. 2024, Adaptive
Inference-Time Compute): repeat - draw ``batch`` more samples (never past the budget), vote over
equivalent answers, and stop once the leader is likely enough to stay ahead:
``stop_rule=beta`` (P under the Beta posterior of the top two counts >= ``threshold``),
``dirichlet`` (the same over all answers), or ``self-eval`` (the model, shown the leading
answer, says it would not do better by starting over, P(no) >= ``threshold``). At least
``min_samples`` are drawn first. With ``prune_tokens > 0`` each batch is first generated only that
far; unfinished samples are ranked by the same restart self-evaluation and only the best
``prune_keep`` fraction are continued, so unpromising samples stop early (their tokens are still
counted); ``prune_by`` ranks them with another scorer instead (``confidence``: the samples' own
trace confidence, free). ``weight_by`` weights the final vote by a scorer's scores (e.g.
``confidence``, DeepConf's confidence-weighted vote); the stopping rules count plain votes.
Samples have the identities 0, 1, 2, ... of self-consistency's samples, so with the same seed the
first k samples are the same in both.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Literal

from ponder.context import StepContext
from ponder.core.decision import Decision
from ponder.core.params import check, param
from ponder.core.result import Candidate
from ponder.core.seeding import derive_seed
from ponder.core.voting import top_two, vote
from ponder.strategies.base import StepInfo, Strategy, step_info
from ponder.strategies.sampling import Samples
from ponder.strategies.stopping import beta_leader_probability, dirichlet_leader_probability


@dataclass(frozen=True)
class AdaptiveParams:
    batch: int = param(4, "samples drawn per step")
    threshold: float = param(0.95, "stop once the stopping rule's probability reaches this")
    stop_rule: Literal["beta", "dirichlet", "self-eval"] = param("beta", "how the leader's lead is judged")
    min_samples: int = param(2, "samples drawn before any stop")
    prune_tokens: int = param(0, "0: off; else generate this many tokens, then continue only the best")
    prune_keep: float = param(0.5, "fraction of unfinished samples continued after pruning")
    prune_by: str = param("restart", "scorer ranking unfinished samples when pruning (confidence: free)")
    weight_by: str = param("", "scorer weighting the final vote ('' for plain votes; e.g. confidence)")

    def __post_init__(self) -> None:
        check(self.batch >= 1, f"batch must be >= 1, got {self.batch}")
        check(0 < self.threshold < 1, f"threshold must be in (0, 1), got {self.threshold}")
        check(self.min_samples >= 1, f"min_samples must be >= 1, got {self.min_samples}")
        check(self.prune_tokens >= 0, f"prune_tokens must be >= 0, got {self.prune_tokens}")
        check(0 < self.prune_keep <= 1, f"prune_keep must be in (0, 1], got {self.prune_keep}")


@dataclass(frozen=True)
class AdaptiveState(Samples):
    leader_probability: float = 0.0
    drawn: int = 0  # generations drawn so far, pruned ones included


class AdaptiveSelfConsistency(Strategy[AdaptiveParams, AdaptiveState]):
    """Self-consistency that stops sampling once the answer is settled."""

    name: ClassVar[str] = "adaptive-self-consistency"
    summary: ClassVar[str] = "sample in batches until the leading answer is likely to stay ahead"
    Params: ClassVar[type] = AdaptiveParams

    def init(self, ctx: StepContext) -> AdaptiveState:
        return AdaptiveState()

    async def step(self, state: AdaptiveState, ctx: StepContext) -> tuple[AdaptiveState, StepInfo]:
        n = min(self.params.batch, ctx.ledger.remaining())
        temperature = self.temperature(ctx)
        new, pruned = await self._draw(n, temperature, ctx)
        if self.params.weight_by:
            new = await ctx.score(self.params.weight_by, new)
        candidates = state.candidates + tuple(new)
        decision = vote(candidates, ctx.task)
        probability = await self._leader_probability(candidates, decision, ctx)
        finished = len(candidates) >= self.params.min_samples and probability >= self.params.threshold
        info = step_info(
            "sample",
            n=n,
            kept=len(new),
            pruned=pruned,
            votes=decision.votes,
            leader_probability=round(probability, 4),
            stop=finished,
        )
        return AdaptiveState(candidates, finished, probability, state.drawn + n), info

    async def _draw(self, n: int, temperature: float, ctx: StepContext) -> tuple[list[Candidate], int]:
        wanted = [ctx.scorer(name) for name in (self.params.weight_by, self.params.prune_by) if name]
        top = max((getattr(scorer, "needs_top_logprobs", 0) for scorer in wanted), default=0)
        if not self.params.prune_tokens or self.params.prune_tokens >= ctx.settings.max_tokens:
            return await ctx.sample(n, temperature=temperature, top_logprobs=top), 0
        partial = await ctx.sample(n, temperature=temperature, max_tokens=self.params.prune_tokens, top_logprobs=top)
        finished = [c for c in partial if c.finish_reason != "length"]  # done, or failed: nothing to continue
        open_ = [c for c in partial if c.finish_reason == "length"]
        if not open_:
            return finished, 0
        ranked = sorted(await ctx.score(self.params.prune_by, open_), key=lambda c: -(c.score or 0.0))
        keep = ranked[: max(1, math.ceil(self.params.prune_keep * len(open_)))]
        rest = ctx.settings.max_tokens - self.params.prune_tokens
        continued = await ctx.extend(keep, max_tokens=rest, temperature=temperature)
        return sorted(finished + continued, key=lambda c: c.index), len(open_) - len(keep)

    async def _leader_probability(
        self, candidates: tuple[Candidate, ...], decision: Decision, ctx: StepContext
    ) -> float:
        if decision.answer is None:
            return 0.0
        if self.params.stop_rule == "beta":
            leader, runner_up = top_two(decision.votes)
            return beta_leader_probability(int(leader), int(runner_up))
        if self.params.stop_rule == "dirichlet":
            seed = derive_seed(ctx.settings.seed, len(candidates))
            return dirichlet_leader_probability([int(v) for v in decision.votes.values()], seed)
        representative = next(c for c in candidates if c.answer == decision.answer)
        [scored] = await ctx.score("restart", [representative])
        return scored.score or 0.0

    def done(self, state: AdaptiveState, ctx: StepContext) -> bool:
        return state.finished or ctx.ledger.remaining() == 0

    def decide(self, state: AdaptiveState, ctx: StepContext) -> Decision:
        if self.params.weight_by:
            return vote(state.candidates, ctx.task, [c.score or 0.0 for c in state.candidates])
        return vote(state.candidates, ctx.task)
