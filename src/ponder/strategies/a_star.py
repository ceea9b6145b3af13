"""A*-decoding over reasoning steps (Chatziveroglou 2025, "A*-Decoding: Token-Efficient
Inference Scaling").

Algorithm: keep a frontier of partial solutions, starting with the empty one, ordered by
``f = g + h``. The heuristic is ``h = 1 - r`` with ``r`` the PRM score of the partial solution
(its estimated cost to a correct solution). The path cost ``g`` is accumulated over the
transitions: a step whose PRM score is lower than its parent's costs the drop, one that keeps
or raises the score costs nothing, so ``g(s') = g(s) + max(0, r(s) - r(s'))`` (``g`` of the
empty solution 0, and its first steps free: the empty solution has no PRM score). A path that
stumbled keeps paying for it even when its score recovers, which plain best-first search on
``h`` (``cost="none"``) forgets. ``step_cost`` adds a constant per step (0: none; a positive
one prefers shorter solutions). At each step take the ``expand`` nodes with the lowest f,
sample ``k`` next steps from each (one forked request per node), score the children with the
PRM and add them to the frontier. Stop when the node with the lowest f is a finished solution
(the answer), when the frontier is empty, or when the search has sampled ``budget *
max_steps`` steps (as many as N solutions of ``max_steps`` steps). Without a finished solution
at the top, the best-scored finished solution seen, else the best partial one, answers.

Source of ``g``: the paper's full text could not be consulted here. Its definition of ``h = 1 -
r`` and of ``g`` as a cost of each transition ``g(s, s')`` is from a published review of the
paper, and "``g`` accumulates only increases in ``h``" from a survey that summarises it; the
formula above is that reading. ``cost="none"`` (g = 0) keeps the former greedy behaviour.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise
from typing import ClassVar, Literal

from ponder.context import StepContext
from ponder.core.decision import Decision
from ponder.core.params import check, param
from ponder.search.decide import AnswerRule, decide_partials
from ponder.search.expand import Expander, grown_nodes
from ponder.search.steps import Partial, StepParams, root
from ponder.strategies.base import StepInfo, Strategy, step_info


@dataclass(frozen=True)
class AStarParams(StepParams):
    k: int = param(4, "next steps sampled from each expanded node")
    expand: int = param(1, "nodes with the lowest f expanded per step (more fill a bigger batch)")
    cost: Literal["score-drops", "none"] = param(
        "score-drops", "path cost g: the PRM score's drops along the path (A*-decoding), or none (greedy on h)"
    )
    step_cost: float = param(0.0, "added to g per step: a positive cost prefers shorter solutions")
    answer: AnswerRule = param("best", "when no solution reaches the top: best finished by PRM, or a vote")

    def __post_init__(self) -> None:
        super().__post_init__()
        check(self.k >= 1, f"k must be >= 1, got {self.k}")
        check(self.expand >= 1, f"expand must be >= 1, got {self.expand}")
        check(self.step_cost >= 0, f"step_cost must be >= 0, got {self.step_cost}")


@dataclass(frozen=True)
class Frontier:
    """Open partial solutions, the finished ones seen, the solution found, and the steps sampled."""

    open: tuple[Partial, ...] = ()
    finished: tuple[Partial, ...] = ()
    found: Partial | None = None
    sampled: int = 0
    started: bool = False


class AStar(Strategy[AStarParams, Frontier]):
    """Best-first search on f = g + h over partial solutions."""

    name: ClassVar[str] = "a-star"
    summary: ClassVar[str] = "A*-decoding: expand the partial solution with the lowest g + (1 - PRM score)"
    Params: ClassVar[type] = AStarParams

    def g(self, node: Partial) -> float:
        """Path cost: the sum of the score's drops from step to step (``cost="score-drops"``),
        plus ``step_cost`` per step."""
        drops = sum(max(0.0, before - after) for before, after in pairwise(node.path_scores))
        return (drops if self.params.cost == "score-drops" else 0.0) + self.params.step_cost * len(node.steps)

    def f(self, node: Partial) -> float:
        h = 1.0 - (node.score if node.score is not None else 0.5)
        return self.g(node) + h

    def order(self, node: Partial) -> tuple[float, bool, int]:
        """Lowest f first; on ties a finished solution, then the deeper node (as A* breaks ties
        toward larger g)."""
        return self.f(node), not node.finished, -len(node.steps)

    def init(self, ctx: StepContext) -> Frontier:
        return Frontier()

    async def step(self, state: Frontier, ctx: StepContext) -> tuple[Frontier, StepInfo]:
        if not state.started:
            [first] = ctx.ledger.spend(ctx.budget.generations, identities=1)  # the root's; steps take fresh ones
            state = Frontier(open=(root(first),), started=True)
        ranked = sorted(state.open + state.finished, key=self.order)
        if ranked[0].finished:
            return Frontier(
                finished=state.finished, found=ranked[0], sampled=state.sampled, started=True, open=state.open
            ), step_info("found", index=ranked[0].index)
        chosen = sorted(state.open, key=self.order)[: self.params.expand]
        room = self.cap(ctx) - state.sampled
        per_node = [min(self.params.k, max(room - i * self.params.k, 0)) for i in range(len(chosen))]
        parents = [node for node, count in zip(chosen, per_node, strict=True) for _ in range(count)]
        children = await Expander(ctx, self.params).expand(parents)
        rest = tuple(node for node in state.open if node not in chosen)
        state = Frontier(
            open=rest + tuple(c for c in children if not c.finished),
            finished=state.finished + tuple(c for c in children if c.finished),
            sampled=state.sampled + len(parents),
            started=True,
        )
        info = step_info(
            "expand",
            nodes=[(n.index, round(self.f(n), 4)) for n in chosen],
            children=[(c.index, round(c.score or 0.0, 4), c.finished) for c in children],
            frontier=len(state.open),
            grown=grown_nodes(children),
        )
        return state, info

    def cap(self, ctx: StepContext) -> int:
        """Steps the search may sample: as many as ``budget`` solutions of ``max_steps`` steps."""
        return ctx.budget.generations * self.params.max_steps

    def done(self, state: Frontier, ctx: StepContext) -> bool:
        if not state.started:
            return False
        if state.found is not None:
            return True
        if state.sampled >= self.cap(ctx):  # no more steps may be sampled
            return True
        return not state.open and not state.finished

    def decide(self, state: Frontier, ctx: StepContext) -> Decision:
        if state.found is not None:
            decision = decide_partials([state.found], ctx.task, "best")
            ranked = sorted(state.finished, key=lambda p: -(p.score or 0.0))
            others = tuple(p.candidate(ctx.task) for p in ranked if p.index != state.found.index)
            others = others[: ctx.budget.generations - 1]  # the found solution and the best others: N in all
            return Decision(answer=decision.answer, candidates=decision.candidates + others, votes=decision.votes)
        pool = sorted(state.finished or state.open, key=lambda p: -(p.score or 0.0))[: ctx.budget.generations]
        return decide_partials(pool, ctx.task, self.params.answer)
