"""Beam search over reasoning steps with a process reward model (search-and-learn, Beeching et
al. 2024, after Snell et al. 2024).

Algorithm, with N the budget and M the expansion width: sample N first steps; score each
partial solution with the PRM; set finished ones aside; keep the top N/M unfinished ones as the
beams. Then repeat: copy the beams, round-robin, up to N parents (each about M times), extend
every copy by one step, score, set finished ones aside and keep the top N/M unfinished. As in
search-and-learn, the search runs until no beam is left (every beam finished, or ``max_steps``
reached), however many solutions finished on the way, and a step cut by its token cap
(``step_tokens``, 2048 as there) counts as a finished solution (``capped_step="finish"``). The
answer is decided over the first N solutions to finish, in the order they finished (or, with
``sort_completed=true``, the top N by PRM score; search-and-learn's ``sort_completed``, off by
default there too), repeated in turn up to N when fewer finished, as there: the best one, or a
score-weighted vote. Copies of a beam decode from
one cached prefix on a forking engine.

A solution finishes at EOS, at a capped step or at ``max_steps``; unlike the other searches, a
step that boxes its answer does not end it (``answer_pattern="none"``, as search-and-learn's beam
search; its DVTS does stop on ``boxed{``).

Deviations: search-and-learn generates the step at its last iteration without the step
delimiter (to EOS); here a solution that reaches ``max_steps`` finishes as ``length`` where it
is. Its optional ``filter_duplicates`` (dropping beams with the same text) is not applied.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from ponder.context import StepContext
from ponder.core.decision import Decision
from ponder.core.params import check, param
from ponder.search.decide import AnswerRule, decide_partials
from ponder.search.expand import Expander, grown_nodes
from ponder.search.steps import Partial, StepParams, root
from ponder.strategies.base import StepInfo, Strategy, step_info


@dataclass(frozen=True)
class BeamParams(StepParams):
    step_tokens: int = param(2048, "token cap of one step, as search-and-learn (--max-tokens caps a solution)")
    capped_step: Literal["continue", "finish"] = param(
        "finish", "a step cut by step_tokens: the solution ends there (search-and-learn), or goes on"
    )
    width: int = param(4, "expansion width M: each beam gets about M children; N/M beams are kept")
    answer: AnswerRule = param("best", "best finished solution, or a vote weighted by PRM scores")
    answer_pattern: str = param(
        "none",
        "a complete step matching it ends the solution: none (search-and-learn: EOS and caps only), boxed, "
        "broad or a regex",
    )
    sort_completed: bool = param(
        False, "decide over the top N finished solutions by score, not the first N to finish (search-and-learn)"
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        check(self.width >= 1, f"width must be >= 1, got {self.width}")


@dataclass(frozen=True)
class Beams:
    """Live beams, finished solutions, and the steps taken."""

    active: tuple[Partial, ...] = ()
    completed: tuple[Partial, ...] = ()
    depth: int = 0


class BeamSearch(Strategy[BeamParams, Beams]):
    """Keep the N/M best partial solutions by PRM, expand each M ways, one step at a time."""

    name: ClassVar[str] = "beam-search"
    summary: ClassVar[str] = "step-level beam search: keep the top N/M partial solutions by PRM (search-and-learn)"
    Params: ClassVar[type] = BeamParams

    def init(self, ctx: StepContext) -> Beams:
        return Beams()

    async def step(self, state: Beams, ctx: StepContext) -> tuple[Beams, StepInfo]:
        n = ctx.budget.generations
        identities: range | None = None
        if state.depth == 0:
            identities = ctx.ledger.spend(n)  # the N beams' first steps
            parents = [root()] * n
        else:
            parents = sorted((state.active[i % len(state.active)] for i in range(n)), key=lambda p: p.index)
        children = await Expander(ctx, self.params).expand(parents, identities)
        finished = tuple(c for c in children if c.finished)
        ranked = sorted((c for c in children if not c.finished), key=lambda c: -(c.score or 0.0))
        keep = max(1, n // self.params.width)
        state = Beams(active=tuple(ranked[:keep]), completed=state.completed + finished, depth=state.depth + 1)
        info = step_info(
            "step",
            depth=state.depth,
            expanded=len(parents),
            finished=len(finished),
            kept=[(b.index, round(b.score or 0.0, 4)) for b in state.active],
            grown=grown_nodes(children),
        )
        return state, info

    def done(self, state: Beams, ctx: StepContext) -> bool:
        """When no beam is left: solutions that finish early do not end the search."""
        return state.depth > 0 and not state.active

    def decide(self, state: Beams, ctx: StepContext) -> Decision:
        """Over the first N finished solutions (the top N by score with ``sort_completed``),
        repeated in turn up to N when fewer finished (the beams while none has finished, e.g. when
        a budget ran out)."""
        n = ctx.budget.generations
        ok = [p for p in state.completed if p.finish_reason != "error"]
        if self.params.sort_completed:
            ok = sorted(ok, key=lambda p: -(p.score or 0.0))  # a stable sort: ties keep finishing order
        best = ok[:n]
        pool = [best[i % len(best)] for i in range(n)] if best else list(state.active)
        return decide_partials(pool, ctx.task, self.params.answer)
