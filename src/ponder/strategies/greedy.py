"""Greedy decoding: one generation at temperature 0, the baseline every strategy must beat."""

from __future__ import annotations

from typing import ClassVar

from ponder.context import StepContext
from ponder.core.decision import Decision
from ponder.core.params import NoParams
from ponder.core.voting import vote
from ponder.strategies.base import StepInfo, Strategy, step_info
from ponder.strategies.sampling import Samples


class Greedy(Strategy[NoParams, Samples]):
    """One sample; temperature 0 unless the caller sets one. Uses one generation of the budget."""

    name: ClassVar[str] = "greedy"
    summary: ClassVar[str] = "one generation at temperature 0"
    Params: ClassVar[type] = NoParams

    def init(self, ctx: StepContext) -> Samples:
        return Samples()

    async def step(self, state: Samples, ctx: StepContext) -> tuple[Samples, StepInfo]:
        temperature = self.temperature(ctx, n=1)
        candidates = await ctx.sample(1, temperature=temperature)
        return Samples(tuple(candidates), finished=True), step_info("generate", n=1, temperature=temperature)

    def done(self, state: Samples, ctx: StepContext) -> bool:
        return state.finished

    def decide(self, state: Samples, ctx: StepContext) -> Decision:
        return vote(state.candidates, ctx.task)
