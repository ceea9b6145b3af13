"""Self-consistency (Wang et al. 2023): sample N solutions, answer by majority vote.

Algorithm: draw ``budget`` samples at temperature T (default 0.8) - in one engine call, so a
forking engine computes the prompt once, or in steps of ``batch`` samples, so the run can be
interrupted with a vote over what it has - extract each final answer, group equivalent answers
(math-verify for math) and return the group with the most votes. Samples without an answer do
not vote; ties go to the answer seen first (sample order is fixed by the seed).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ponder.context import StepContext
from ponder.context.programs import sample_programs
from ponder.core.decision import Decision
from ponder.core.params import check, param
from ponder.core.voting import vote
from ponder.strategies.base import StepInfo, Strategy, step_info
from ponder.strategies.sampling import Samples


@dataclass(frozen=True)
class SelfConsistencyParams:
    batch: int = param(0, "samples per step; 0 draws the whole budget in one step")
    program: bool = param(False, "program of thought: samples are Python programs; their printout is the answer")

    def __post_init__(self) -> None:
        check(self.batch >= 0, f"batch must be >= 0, got {self.batch}")


class SelfConsistency(Strategy[SelfConsistencyParams, Samples]):
    """Majority vote over the extracted answers of ``budget`` samples."""

    name: ClassVar[str] = "self-consistency"
    summary: ClassVar[str] = "N samples, majority vote over equivalent answers"
    Params: ClassVar[type] = SelfConsistencyParams

    def init(self, ctx: StepContext) -> Samples:
        return Samples()

    async def step(self, state: Samples, ctx: StepContext) -> tuple[Samples, StepInfo]:
        left = ctx.ledger.remaining()
        n = min(self.params.batch, left) if self.params.batch else left
        temperature = self.temperature(ctx)
        if self.params.program:
            new = await sample_programs(ctx, n, temperature=temperature)
        else:
            new = await ctx.sample(n, temperature=temperature)
        candidates = state.candidates + tuple(new)
        decision = vote(candidates, ctx.task)
        info = step_info(
            "sample",
            n=n,
            temperature=temperature,
            votes=decision.votes,
            unanswered=sum(c.answer is None for c in candidates),
        )
        return Samples(candidates), info

    def done(self, state: Samples, ctx: StepContext) -> bool:
        return len(state.candidates) >= ctx.budget.generations

    def decide(self, state: Samples, ctx: StepContext) -> Decision:
        return vote(state.candidates, ctx.task)


@dataclass(frozen=True)
class ProgramOfThoughtParams(SelfConsistencyParams):
    program: bool = param(True, "samples are Python programs run in the sandbox (this strategy's point)")


class ProgramOfThought(SelfConsistency):
    """Program of thought (Chen et al. 2023; the DOTS action set): the model writes a Python
    program, the sandbox runs it, the printed value is the answer; with a budget above one, a
    majority vote over the programs' answers (failed programs do not vote)."""

    name: ClassVar[str] = "program-of-thought"
    summary: ClassVar[str] = "the model writes a program; the sandbox runs it; its printout answers"
    Params: ClassVar[type] = ProgramOfThoughtParams
