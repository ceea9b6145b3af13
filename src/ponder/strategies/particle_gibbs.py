"""Particle Gibbs over reasoning steps (Puri et al. 2025, section 3.2).

Algorithm: split the budget into ``sweeps`` sweeps of N = budget // sweeps particles. The first
sweep is plain particle filtering (see :mod:`ponder.strategies.particle_filtering`). When a
sweep has finished, draw a reference particle from its particles by their weights
softmax(logit(score) / weight_temperature). The next sweep runs the filter with N - 1 new
particles plus the reference, which is not sampled: at depth t it holds the reference's first
t steps with the score they had, takes part in the weights, and keeps its slot at every
resampling (conditional SMC), while the other N - 1 slots are drawn from all N particles.
The answer is decided over the particles of every sweep (best finished, or a weighted vote).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ponder.context import StepContext
from ponder.core.errors import InvalidInputError
from ponder.core.params import check, param
from ponder.core.seeding import derive_seed
from ponder.search.steps import Partial
from ponder.strategies.base import StepInfo
from ponder.strategies.particle_filtering import (
    RESAMPLE_SALT,
    ParticleFiltering,
    ParticleFilteringParams,
    Swarm,
    weights,
)


@dataclass(frozen=True)
class ParticleGibbsParams(ParticleFilteringParams):
    sweeps: int = param(2, "particle-filtering sweeps; each has budget // sweeps particles")

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
            reference = self._draw_reference(state, ctx)
            state = Swarm(reference=reference, sweep=state.sweep + 1, pool=state.pool + state.particles)
        return await super().step(state, ctx)

    def _draw_reference(self, state: Swarm, ctx: StepContext) -> Partial:
        """One particle of the finished sweep, drawn by its weight (seeded by the sweep)."""
        probs = weights(state.particles, self.params.weight_temperature)
        rng = np.random.default_rng(derive_seed(ctx.settings.seed, RESAMPLE_SALT, state.sweep, 10**6))
        return state.particles[int(rng.choice(len(probs), p=probs))]

    def done(self, state: Swarm, ctx: StepContext) -> bool:
        return state.finished and state.sweep >= self.params.sweeps - 1

    def final_particles(self, state: Swarm) -> tuple[Partial, ...]:
        """The particles of every sweep."""
        return state.pool + state.particles
