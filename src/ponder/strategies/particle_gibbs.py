"""Particle Gibbs over reasoning steps (Puri et al. 2025, section 3.2).

Algorithm: split the budget into ``sweeps`` sweeps of N = budget // sweeps particles. The first
sweep is plain particle filtering (see :mod:`ponder.strategies.particle_filtering`). When a
sweep has ended, draw a reference particle from its N particles by their weights
``softmax(log w)`` (with the default ``ess_threshold=1``: ``softmax(logit(last score) /
weight_temperature)``, as the reference code). The next sweep runs the filter with N - 1 new
(free) particles plus the reference, which is not sampled (conditional SMC): while the free
particles grow, at depth t it holds the reference's first t steps with the score they had, takes
part in the weights, and keeps its slot at every resampling, while the N - 1 free slots are drawn
from all N particles. The sweep ends as soon as every free particle has finished (the reference
code's loop), however long the reference is; slot 0 then holds the whole reference.

The answer (``answer_from=last``, the reference code's) is decided over the last sweep's N
particles, the reference included: the highest-scored (``answer=best``, its argmax of the last
rewards) or a vote weighted by their weights (``answer=vote``). ``answer_from=all`` pools the
particles of every sweep instead (each with its weight when its sweep ended), an option of ours.
A run stopped in the middle of a sweep answers from the last sweep that ended.

Deliberate difference from the reference code: at depth t its reference takes part with the
score after its (t+1)-th step while its copies keep its first t steps; ponder weighs the prefix
it copies, by the score that prefix had.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np

from ponder.context import StepContext
from ponder.core.errors import InvalidInputError
from ponder.core.params import check, param
from ponder.core.seeding import derive_seed
from ponder.search.steps import Partial
from ponder.strategies.base import StepInfo
from ponder.strategies.particle_filtering import RESAMPLE_SALT, ParticleFiltering, ParticleFilteringParams, Swarm


@dataclass(frozen=True)
class ParticleGibbsParams(ParticleFilteringParams):
    sweeps: int = param(2, "particle-filtering sweeps; each has budget // sweeps particles")
    answer_from: Literal["last", "all"] = param(
        "last", "particles the answer is decided over: the last sweep's (as Puri et al.), or every sweep's"
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        check(self.sweeps >= 1, f"sweeps must be >= 1, got {self.sweeps}")


class ParticleGibbs(ParticleFiltering):
    """Sweeps of particle filtering, each keeping a reference particle from the one before."""

    name: ClassVar[str] = "particle-gibbs"
    summary: ClassVar[str] = "particle filtering sweeps conditioned on a reference particle (Puri et al. 2025)"
    Params: ClassVar[type] = ParticleGibbsParams
    params: ParticleGibbsParams

    def particles_per_sweep(self, ctx: StepContext) -> int:
        """budget // sweeps (at least 2 when there is more than one sweep)."""
        n = ctx.budget.generations // self.params.sweeps
        if n < 2 and self.params.sweeps > 1:
            raise InvalidInputError(
                f"particle-gibbs needs at least 2 particles per sweep: budget {ctx.budget.generations} "
                f"for {self.params.sweeps} sweeps; raise the budget or lower sweeps"
            )
        return max(n, 1)

    async def step(self, state: Swarm, ctx: StepContext) -> tuple[Swarm, StepInfo]:
        if state.finished:  # a sweep ended and another remains (else done() stopped the run)
            state = Swarm(
                reference=self._draw_reference(state, ctx),
                sweep=state.sweep + 1,
                pool=state.pool + state.particles,
                pool_log_weights=state.pool_log_weights + state.log_weights,
            )
        return await super().step(state, ctx)

    def _draw_reference(self, state: Swarm, ctx: StepContext) -> Partial:
        """One particle of the ended sweep, drawn by its weight (seeded by the sweep)."""
        rng = np.random.default_rng(derive_seed(ctx.settings.seed, RESAMPLE_SALT, state.sweep, 10**6))
        probs = state.probs()
        return state.particles[int(rng.choice(len(probs), p=probs))]

    def done(self, state: Swarm, ctx: StepContext) -> bool:
        return state.finished and state.sweep >= self.params.sweeps - 1

    def final_particles(self, state: Swarm) -> tuple[tuple[Partial, ...], tuple[float, ...]]:
        """The last sweep's particles (the last that ended, if the run stopped inside one), or
        every sweep's with ``answer_from=all``; with their log weights."""
        if self.params.answer_from == "all":
            return state.pool + state.particles, state.pool_log_weights + state.log_weights
        if state.finished or not state.pool:
            return state.particles, state.log_weights
        n = len(state.particles)  # every sweep has N particles
        return state.pool[-n:], state.pool_log_weights[-n:]
