"""Diverse verifier tree search (DVTS; search-and-learn, Beeching et al. 2024).

Algorithm, with N the budget and M the expansion width: split the search into N/M independent
subtrees. Each subtree starts from M sampled first steps and keeps only its best partial
solution by PRM score; at every step that solution is extended M ways and again only the best
child is kept (greedy within the subtree). A subtree ends when its kept solution finishes (EOS,
a boxed answer, a step cut by ``step_tokens``: search-and-learn's defaults, see
:class:`~ponder.strategies.beam_search.BeamParams`), or at ``max_steps``. All subtrees advance
together, so each step is one batch. As in search-and-learn, each subtree contributes the M
siblings of its last expansion (the kept solution and the M - 1 it beat, finished or not), so
the answer is decided over N candidates: the best by PRM score, or a score-weighted vote that
pools all N. Independent subtrees keep diversity that a single beam search loses when its beams
collapse onto one prefix.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ponder.context import StepContext
from ponder.core.decision import Decision
from ponder.core.params import param
from ponder.search.decide import decide_partials
from ponder.search.expand import Expander, grown_nodes
from ponder.search.steps import Partial, root
from ponder.strategies.base import StepInfo, Strategy, step_info
from ponder.strategies.beam_search import BeamParams


@dataclass(frozen=True)
class DVTSParams(BeamParams):
    answer_pattern: str = param(
        "boxed",
        "a complete step matching it ends the solution: boxed (search-and-learn's DVTS), broad, none or a regex",
    )


@dataclass(frozen=True)
class Forest:
    """Each subtree's kept partial (None once it has finished), its finished leaf, and the M
    siblings of its last expansion (the candidates it contributes)."""

    beams: tuple[Partial | None, ...] = ()
    leaves: tuple[Partial | None, ...] = ()
    siblings: tuple[tuple[Partial, ...], ...] = ()
    depth: int = 0


class DVTS(Strategy[DVTSParams, Forest]):
    """N/M independent subtrees, each greedy on the PRM."""

    name: ClassVar[str] = "dvts"
    summary: ClassVar[str] = "N/M independent subtrees, greedy on the PRM within each (search-and-learn)"
    Params: ClassVar[type] = DVTSParams

    def init(self, ctx: StepContext) -> Forest:
        return Forest()

    async def step(self, state: Forest, ctx: StepContext) -> tuple[Forest, StepInfo]:
        width = min(self.params.width, ctx.budget.generations)  # a budget under M: one subtree that wide
        identities: range | None = None
        if state.depth == 0:
            trees = ctx.budget.generations // width
            identities = ctx.ledger.spend(trees * width)  # every subtree's first M steps
            state = Forest(beams=(root(),) * trees, leaves=(None,) * trees, siblings=((),) * trees)
        live = [t for t, beam in enumerate(state.beams) if beam is not None]
        parents = [beam for beam in state.beams if beam is not None for _ in range(width)]  # the live ones
        children = await Expander(ctx, self.params).expand(parents, identities)
        beams, leaves, siblings = list(state.beams), list(state.leaves), list(state.siblings)
        for k, t in enumerate(live):
            group = tuple(children[k * width : (k + 1) * width])
            best = max(group, key=lambda c: c.score or 0.0)
            siblings[t] = group
            if best.finished:
                beams[t], leaves[t] = None, best
            else:
                beams[t] = best
        state = Forest(beams=tuple(beams), leaves=tuple(leaves), siblings=tuple(siblings), depth=state.depth + 1)
        info = step_info(
            "step",
            depth=state.depth,
            subtrees=len(live),
            best=[None if b is None else round(b.score or 0.0, 4) for b in state.beams],
            finished=sum(leaf is not None for leaf in state.leaves),
            kept=[b.index for b in state.beams if b is not None],
            grown=grown_nodes(children),
        )
        return state, info

    def done(self, state: Forest, ctx: StepContext) -> bool:
        return state.depth > 0 and all(b is None for b in state.beams)

    def decide(self, state: Forest, ctx: StepContext) -> Decision:
        """Over the M siblings of every subtree's last expansion (N candidates), finished or not."""
        pool = [child for group in state.siblings for child in group]
        return decide_partials(pool, ctx.task, self.params.answer, finished_only=False)
