"""Greedy decoding: one generation at temperature 0, the baseline every strategy must beat."""

from __future__ import annotations

from typing import Any, ClassVar

from ponder.strategies.core import Decision, StepContext
from ponder.strategies.params import NoParams
from ponder.strategies.sampling import Samples, vote


class Greedy:
    """One sample; temperature 0 unless the caller sets one. Uses one generation of the budget."""

    name: ClassVar[str] = "greedy"
    summary: ClassVar[str] = "one generation at temperature 0"
    Params: ClassVar[type] = NoParams

    def __init__(self, params: NoParams = NoParams()) -> None:
        self.params = params

    def init(self, ctx: StepContext) -> Samples:
        return Samples()

    async def step(self, state: Samples, ctx: StepContext) -> tuple[Samples, dict[str, Any]]:
        temperature = ctx.temperature(0.0)
        candidates = await ctx.sample(1, first_index=0, temperature=temperature)
        return Samples(tuple(candidates), finished=True), {"action": "generate", "n": 1, "temperature": temperature}

    def done(self, state: Samples, ctx: StepContext) -> bool:
        return state.finished

    def decide(self, state: Samples, ctx: StepContext) -> Decision:
        return vote(state.candidates, ctx.task)
