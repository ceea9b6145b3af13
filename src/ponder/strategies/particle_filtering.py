"""Particle filtering over reasoning steps (Puri et al. 2025, "A Probabilistic Inference Approach
to Inference-Time Scaling of LLMs using Particle-Based Monte Carlo Methods").

Algorithm, with N particles (the budget) that start as empty solutions:
1. extend every unfinished particle by one step (sampled at temperature T, 0.8 by default);
   finished particles are frozen: never extended, never counted again against the budget;
2. score every newly extended particle's whole partial answer with the PRM and weight each
   particle by ``w = logit(score) / weight_temperature`` (a frozen one keeps its weight);
3. if every particle has finished, or ``max_steps`` (40) steps have been taken, stop; else, when
   the effective sample size of ``softmax(w)`` is below ``ess_threshold * N`` (always, at 1.0),
   draw N ancestors by softmax(w) with the chosen scheme (multinomial, systematic, stratified or
   residual) and continue from copies of them; go to 1.
The answer is the highest-scored finished particle's (``answer=best``) or a vote over all N
particles weighted by softmax(w) (``answer=vote``). Copies of one particle share its state: on a
forking engine their next steps are drawn from one cached prefix.

``particle-gibbs`` (the same paper) repeats the filter for several sweeps, each conditioned on a
reference particle drawn from the previous sweep; see :mod:`ponder.strategies.particle_gibbs`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, ClassVar, Literal

import numpy as np

from ponder.context import StepContext
from ponder.core.decision import Decision
from ponder.core.params import check, param
from ponder.core.seeding import derive_seed
from ponder.search.decide import decide_partials
from ponder.search.expand import Expander
from ponder.search.resampling import effective_sample_size, logit, resample, should_resample, softmax
from ponder.search.steps import Partial, StepParams, prefix, root
from ponder.strategies.base import StepInfo, Strategy

RESAMPLE_SALT = 7919  # keeps the resampling draws apart from the sampling seeds

Scheme = Literal["multinomial", "systematic", "stratified", "residual"]


@dataclass(frozen=True)
class ParticleFilteringParams(StepParams):
    resampling: Scheme = param("multinomial", "resampling scheme")
    ess_threshold: float = param(1.0, "resample only when ESS < threshold * N (1.0: every step)")
    weight_temperature: float = param(1.0, "weights are logit(PRM score) / this")
    answer: Literal["best", "vote"] = param(
        "best", "best finished particle, or a vote weighted by the particle weights"
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        check(0 < self.ess_threshold <= 1, f"ess_threshold must be in (0, 1], got {self.ess_threshold}")
        check(self.weight_temperature > 0, f"weight_temperature must be > 0, got {self.weight_temperature}")


@dataclass(frozen=True)
class Swarm:
    """The particles of one sweep (slot 0 holds the reference particle, if there is one)."""

    particles: tuple[Partial, ...] = ()
    depth: int = 0  # steps taken in this sweep
    reference: Partial | None = None
    sweep: int = 0
    pool: tuple[Partial, ...] = ()  # particles of the finished sweeps (particle Gibbs)

    @property
    def finished(self) -> bool:
        return bool(self.particles) and all(p.finished for p in self.particles)


def weights(particles: tuple[Partial, ...], temperature: float) -> np.ndarray:
    """softmax(logit(score) / temperature) over the particles (unscored ones count as 0.5)."""
    return softmax([logit(0.5 if p.score is None else p.score) / temperature for p in particles])


class ParticleFiltering(Strategy[ParticleFilteringParams, Swarm]):
    """N particles extended step by step, weighted by the PRM and resampled."""

    name: ClassVar[str] = "particle-filtering"
    summary: ClassVar[str] = "N particles grown step by step, resampled by PRM weights (Puri et al. 2025)"
    Params: ClassVar[type] = ParticleFilteringParams

    def particles_per_sweep(self, ctx: StepContext) -> int:
        """N: the budget (particle Gibbs splits it between its sweeps)."""
        return ctx.budget.generations

    def init(self, ctx: StepContext) -> Swarm:
        return Swarm()

    async def step(self, state: Swarm, ctx: StepContext) -> tuple[Swarm, StepInfo]:
        if not state.particles:
            state = self._start(state, ctx)
        expander = Expander(ctx, self.params)
        live = [i for i, p in enumerate(state.particles) if not p.finished and not self._is_reference(state, i)]
        children = await expander.expand([state.particles[i] for i in live])
        particles = list(state.particles)
        for i, child in zip(live, children, strict=True):
            particles[i] = child
        depth = state.depth + 1
        if state.reference is not None:
            particles[0] = prefix(state.reference, depth)
        state = replace(state, particles=tuple(particles), depth=depth)
        probs = weights(state.particles, self.params.weight_temperature)
        info: dict[str, Any] = {
            "sweep": state.sweep,
            "depth": depth,
            "extended": len(live),
            "finished": sum(p.finished for p in state.particles),
            "scores": [None if p.score is None else round(p.score, 4) for p in state.particles],
            "ess": round(effective_sample_size(probs), 3),
        }
        if not state.finished and should_resample(probs, self.params.ess_threshold):
            state, ancestors = self._resample(state, probs, ctx)
            info["ancestors"] = ancestors
        return state, StepInfo("step", info)

    def _start(self, state: Swarm, ctx: StepContext) -> Swarm:
        """A sweep's N empty particles (slot 0 following the reference, if any: it costs nothing)."""
        n = self.particles_per_sweep(ctx)
        reference = state.reference is not None  # its slot was paid for by the sweep before
        identities = ctx.ledger.spend(n - reference, identities=n)
        fresh = [root(i) for i in identities]
        if state.reference is not None:
            fresh[0] = prefix(state.reference, 0)
        return replace(state, particles=tuple(fresh), depth=0)

    def _is_reference(self, state: Swarm, i: int) -> bool:
        """Whether slot ``i`` holds the reference particle (slot 0 of a conditioned sweep)."""
        return state.reference is not None and i == 0

    def _resample(self, state: Swarm, probs: np.ndarray, ctx: StepContext) -> tuple[Swarm, list[int]]:
        """The swarm made of N ancestors drawn by ``probs`` (seeded by sweep and depth), and their slots."""
        rng = np.random.default_rng(derive_seed(ctx.settings.seed, RESAMPLE_SALT, state.sweep, state.depth))
        keep = 1 if state.reference is not None else 0  # the reference particle is never resampled away
        drawn = resample(probs, len(state.particles) - keep, self.params.resampling, rng)
        ancestors = list(range(keep)) + [int(i) for i in drawn]
        return replace(state, particles=tuple(state.particles[i] for i in ancestors)), ancestors

    def done(self, state: Swarm, ctx: StepContext) -> bool:
        return state.finished

    def final_particles(self, state: Swarm) -> tuple[Partial, ...]:
        """The particles the answer is decided over."""
        return state.particles

    def decide(self, state: Swarm, ctx: StepContext) -> Decision:
        particles = self.final_particles(state)
        probs = weights(particles, self.params.weight_temperature).tolist() if particles else None
        return decide_partials(particles, ctx.task, self.params.answer, probs)
