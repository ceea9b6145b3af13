"""Sample-then-score strategies.

- ``best-of-n`` (Bag of Tricks; search-and-learn): N samples, each scored by a scorer (an ORM,
  a judge, a verifier); the answer of the top-scored sample wins.
- ``weighted-best-of-n`` (search-and-learn): the same scores summed over samples with
  equivalent answers; the answer with the largest total wins.
- ``weighted-majority`` (Bag of Tricks): a majority vote in which each sample's vote is weighted
  by its sequence probability (exp of mean token log-probability) or by a scorer.

Each runs in two steps, sample then score, so an interrupted run still answers by majority.
The scorer is a name: a built-in one, or one the caller passed (``scorers={"unit-tests": ...}``).
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

from ponder.context import StepContext
from ponder.context.programs import sample_programs
from ponder.core.decision import Decision
from ponder.core.params import param
from ponder.core.voting import best_scored, vote
from ponder.scorers import SCORERS
from ponder.strategies.base import StepInfo, Strategy, step_info
from ponder.strategies.sampling import Samples


@dataclass(frozen=True)
class ScorerParams:
    scorer: str = param("self-eval", "scorer of each sample: " + ", ".join(sorted(SCORERS)))
    program: bool = param(False, "program of thought: samples are Python programs; their printout is the answer")


@dataclass(frozen=True)
class WeightParams:
    scorer: str = param(
        "probability", "vote weight: sequence probability, or any scorer: " + ", ".join(sorted(SCORERS))
    )
    program: bool = param(False, "program of thought: samples are Python programs; their printout is the answer")


class _SampleThenScore(Strategy[Any, Samples]):
    """N samples in one step, one scoring step, then a decision from the scores."""

    name: ClassVar[str]
    summary: ClassVar[str]
    Params: ClassVar[type] = ScorerParams

    def init(self, ctx: StepContext) -> Samples:
        return Samples()

    async def step(self, state: Samples, ctx: StepContext) -> tuple[Samples, StepInfo]:
        scorer = ctx.scorer(self.params.scorer)
        if not state.candidates:
            temperature = self.temperature(ctx)
            n = ctx.ledger.remaining()
            logprobs = getattr(scorer, "needs_logprobs", False)
            top = getattr(scorer, "needs_top_logprobs", 0)  # the confidence scorer reads each token's alternatives
            if self.params.program:
                candidates = await sample_programs(ctx, n, temperature=temperature, logprobs=logprobs, top_logprobs=top)
            else:
                candidates = await ctx.sample(n, temperature=temperature, logprobs=logprobs, top_logprobs=top)
            return Samples(tuple(candidates)), step_info("sample", n=n, temperature=temperature)
        scored = await ctx.score(self.params.scorer, state.candidates)
        info = step_info("score", scorer=self.params.scorer, scores=[round(c.score or 0.0, 4) for c in scored])
        return Samples(tuple(scored), finished=True), info

    def done(self, state: Samples, ctx: StepContext) -> bool:
        return state.finished

    @abstractmethod
    def decide(self, state: Samples, ctx: StepContext) -> Decision:
        """The answer from the (possibly not yet scored) samples."""


class BestOfN(_SampleThenScore):
    name: ClassVar[str] = "best-of-n"
    summary: ClassVar[str] = "N samples, the top-scored one wins"

    def decide(self, state: Samples, ctx: StepContext) -> Decision:
        return best_scored(state.candidates, ctx.task)


class WeightedBestOfN(_SampleThenScore):
    name: ClassVar[str] = "weighted-best-of-n"
    summary: ClassVar[str] = "N samples, scores summed over equivalent answers"

    def decide(self, state: Samples, ctx: StepContext) -> Decision:
        if not state.finished:
            return vote(state.candidates, ctx.task)
        return vote(state.candidates, ctx.task, [c.score or 0.0 for c in state.candidates])


class WeightedMajority(WeightedBestOfN):
    name: ClassVar[str] = "weighted-majority"
    summary: ClassVar[str] = "majority vote weighted by sequence probability or a scorer"
    Params: ClassVar[type] = WeightParams
