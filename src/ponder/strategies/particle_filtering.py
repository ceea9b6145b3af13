"""Particle filtering over reasoning steps (Puri et al. 2025, "A Probabilistic Inference Approach
to Inference-Time Scaling of LLMs using Particle-Based Monte Carlo Methods").

Algorithm, with N particles (the budget) that start as empty solutions and log weights 0:
1. extend every unfinished particle by one step (sampled at temperature T, 0.8 by default);
   finished particles are frozen: never extended, never counted again against the budget;
2. score every newly extended particle with the PRM: by default (``prm_input=joined``, as the
   paper's code does) the whole partial trajectory is handed to the PRM as ONE step and its one
   score is the particle's reward r (a frozen particle keeps its r);
3. multiply every particle's weight by the incremental weight ``G = exp(logit(r) / weight_temperature)``:
   ``log w_t = log w_(t-1) + logit(r_t) / weight_temperature`` (frozen particles take part with
   their last reward, as in the reference code);
4. if every particle has finished, or ``max_steps`` (40) steps have been taken, stop; else, when
   the effective sample size of ``softmax(log w)`` is below ``ess_threshold * N`` (always, at
   1.0), draw N ancestors by ``softmax(log w)`` with the chosen scheme (multinomial, systematic,
   stratified or residual), continue from copies of them and reset every log weight to 0
   (uniform); go to 1.
The answer is the highest-scored finished particle's (``answer=best``, the reference code's
argmax of the last rewards) or a vote over all N particles weighted by ``softmax(log w)``
(``answer=vote``). Copies of one particle share its state: on a forking engine their next steps
are drawn from one cached prefix.

With ``ess_threshold=1`` (the default, the paper's) every step resamples, so the weights at step
t are ``softmax(logit(r_t) / weight_temperature)``: exactly the paper's. A lower threshold is an
extension: the weights a skipped resampling did not reset keep multiplying (step 3).

Deviations, each behind a parameter whose default is the paper's:
- ``prm_input=steps`` hands the PRM the step-split partial (Qwen2.5-Math-PRM: one ``<extra_0>``
  per step) and reduces its step scores with the PRM's aggregation (``last`` by default), as
  search-and-learn's beam search does; the paper's code joins the steps and scores them as one.
  (That code also collapses runs of newlines in the joined text; ponder keeps the text as
  generated, which is what the generator continues.)
- ``resampling`` other than multinomial, ``ess_threshold`` below 1 and ``answer=vote``.

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
from ponder.scorers.prm import NEUTRAL_SCORE, PrmInput
from ponder.search.decide import decide_partials
from ponder.search.expand import Expander, grown_nodes
from ponder.search.resampling import effective_sample_size, logit, resample, should_resample, softmax
from ponder.search.steps import Partial, StepParams, prefix, root
from ponder.strategies.base import StepInfo, Strategy

RESAMPLE_SALT = 7919  # keeps the resampling draws apart from the sampling seeds

Scheme = Literal["multinomial", "systematic", "stratified", "residual"]


@dataclass(frozen=True)
class ParticleFilteringParams(StepParams):
    resampling: Scheme = param("multinomial", "resampling scheme")
    ess_threshold: float = param(
        1.0, "resample only when ESS < threshold * N (1.0: every step); weights multiply until then"
    )
    weight_temperature: float = param(1.0, "incremental weights are exp(logit(PRM score) / this)")
    answer: Literal["best", "vote"] = param(
        "best", "best finished particle, or a vote weighted by the particle weights"
    )
    prm_input: PrmInput = param(
        "joined",
        "what the PRM reads: joined (the whole partial trajectory as one step, as Puri et al.) "
        "or steps (step-split, scores aggregated as the PRM declares)",
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        check(0 < self.ess_threshold <= 1, f"ess_threshold must be in (0, 1], got {self.ess_threshold}")
        check(self.weight_temperature > 0, f"weight_temperature must be > 0, got {self.weight_temperature}")


@dataclass(frozen=True)
class Swarm:
    """The particles of one sweep (slot 0 holds the reference particle, if there is one) and
    their log weights since the last resampling."""

    particles: tuple[Partial, ...] = ()
    depth: int = 0  # steps taken in this sweep
    reference: Partial | None = None
    sweep: int = 0
    log_weights: tuple[float, ...] = ()  # one per particle; all 0 after a resampling
    pool: tuple[Partial, ...] = ()  # particles of the finished sweeps (particle Gibbs)
    pool_log_weights: tuple[float, ...] = ()  # their log weights when their sweep ended

    @property
    def free(self) -> tuple[Partial, ...]:
        """The particles the filter grows: all but the reference (slot 0 of a conditioned sweep)."""
        return self.particles[1:] if self.reference is not None else self.particles

    @property
    def finished(self) -> bool:
        """Whether the sweep has ended: every free particle has finished (the reference does not count)."""
        return bool(self.particles) and all(p.finished for p in self.free)

    def probs(self) -> np.ndarray:
        """The normalised particle weights ``softmax(log w)``."""
        return softmax(self.log_weights or [0.0] * len(self.particles))


def increment(particle: Partial, temperature: float) -> float:
    """A particle's incremental log weight ``logit(score) / temperature`` (unscored: 0)."""
    return logit(NEUTRAL_SCORE if particle.score is None else particle.score) / temperature


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
        expander = Expander(ctx, self.params, prm_input=self.params.prm_input)
        live = [i for i, p in enumerate(state.particles) if not p.finished and not self._is_reference(state, i)]
        children = await expander.expand([state.particles[i] for i in live])
        particles = list(state.particles)
        for i, child in zip(live, children, strict=True):
            particles[i] = child
        depth = state.depth + 1
        if state.reference is not None:  # once the free particles have finished, all of the reference
            ended = all(p.finished for p in particles[1:])
            particles[0] = state.reference if ended else prefix(state.reference, depth)
        temperature = self.params.weight_temperature
        log_weights = tuple(w + increment(p, temperature) for w, p in zip(state.log_weights, particles, strict=True))
        state = replace(state, particles=tuple(particles), depth=depth, log_weights=log_weights)
        probs = state.probs()
        info: dict[str, Any] = {
            "sweep": state.sweep,
            "depth": depth,
            "extended": len(live),
            "finished": sum(p.finished for p in state.particles),
            "scores": [None if p.score is None else round(p.score, 4) for p in state.particles],
            "log_weights": [round(w, 4) for w in log_weights],
            "ess": round(effective_sample_size(probs), 3),
            "ids": [p.index for p in state.particles],  # the particle in each slot (copies share one)
            "finishes": [p.finish_reason for p in state.particles],
            "grown": grown_nodes(children),
            "reference": state.reference is not None,  # slot 0 holds the reference particle
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
        return replace(state, particles=tuple(fresh), depth=0, log_weights=(0.0,) * n)

    def _is_reference(self, state: Swarm, i: int) -> bool:
        """Whether slot ``i`` holds the reference particle (slot 0 of a conditioned sweep)."""
        return state.reference is not None and i == 0

    def _resample(self, state: Swarm, probs: np.ndarray, ctx: StepContext) -> tuple[Swarm, list[int]]:
        """The swarm made of N ancestors drawn by ``probs`` (seeded by sweep and depth), with
        uniform weights again, and the ancestors' slots."""
        rng = np.random.default_rng(derive_seed(ctx.settings.seed, RESAMPLE_SALT, state.sweep, state.depth))
        keep = 1 if state.reference is not None else 0  # the reference particle is never resampled away
        drawn = resample(probs, len(state.particles) - keep, self.params.resampling, rng)
        ancestors = list(range(keep)) + [int(i) for i in drawn]
        particles = tuple(state.particles[i] for i in ancestors)
        return replace(state, particles=particles, log_weights=(0.0,) * len(particles)), ancestors

    def done(self, state: Swarm, ctx: StepContext) -> bool:
        return state.finished

    def final_particles(self, state: Swarm) -> tuple[tuple[Partial, ...], tuple[float, ...]]:
        """The particles the answer is decided over, with their log weights."""
        return state.particles, state.log_weights

    def decide(self, state: Swarm, ctx: StepContext) -> Decision:
        particles, log_weights = self.final_particles(state)
        probs = softmax(log_weights).tolist() if particles else None
        return decide_partials(particles, ctx.task, self.params.answer, probs)
