"""A*-decoding over reasoning steps (Chatziveroglou 2025, "A*-Decoding: Token-Efficient
Inference Scaling").

Algorithm: keep a frontier of partial solutions, starting with the empty one, ordered by
``f = g + h``: ``g = step_cost * steps`` (the path cost so far) and ``h = 1 - PRM score`` (the
estimated cost to a correct solution). At each step take the ``expand`` nodes with the lowest f,
sample ``k`` next steps from each (one forked request per node), score the children with the PRM
and add them to the frontier. Stop when the node with the lowest f is a finished solution (the
answer), when the frontier is empty, or when the search has sampled ``budget * max_steps`` steps
(as many as N solutions of ``max_steps`` steps). Without a finished solution at the top, the
best-scored finished solution seen, else the best partial one, answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ponder.context import StepContext
from ponder.core.decision import Decision
from ponder.core.params import check, param
from ponder.search.decide import AnswerRule, decide_partials
from ponder.search.expand import Expander
from ponder.search.steps import Partial, StepParams, root
from ponder.strategies.base import StepInfo, Strategy, step_info


@dataclass(frozen=True)
class AStarParams(StepParams):
    k: int = param(4, "next steps sampled from each expanded node")
    expand: int = param(1, "nodes with the lowest f expanded per step (more fill a bigger batch)")
    step_cost: float = param(0.0, "g per step: a positive cost prefers shorter solutions")
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

    def f(self, node: Partial) -> float:
        h = 1.0 - (node.score if node.score is not None else 0.5)
        return self.params.step_cost * len(node.steps) + h

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
