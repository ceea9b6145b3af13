"""Growing partial solutions by one step and scoring them with a process reward model.

One call extends a list of parents, one child each. Parents with the same text (copies made by
resampling, or a beam expanded M ways) go out as one request with ``n`` samples, so a forking
engine computes their shared prefix once and forks it. On a local engine every request of the
step goes out in one call, so all live partials decode in one batch; the prefix a parent's
child continues was left in the engine's cache by the parent's own step, so only the new text
is computed.

On a remote engine (a server) each request is its own call, all in flight at once, and its
children are scored as soon as they arrive: scoring overlaps the generation of the rest, and
the server's prefix cache does the reuse.
"""

from __future__ import annotations

import asyncio
from typing import Sequence

from ponder.engines.base import GenerationRequest
from ponder.errors import UpstreamError
from ponder.scorers.prm import ProcessRewardModel, aggregate
from ponder.search.steps import Partial, StepParams, grow, with_score
from ponder.strategies.core import StepContext


class Expander:
    """Extends and scores partials for one search run (its context, parameters and PRM)."""

    def __init__(self, ctx: StepContext, params: StepParams) -> None:
        self.ctx = ctx
        self.params = params
        self.prm: ProcessRewardModel = ctx.prm(params.prm)
        self.temperature = ctx.temperature(params.temperature)

    async def expand(self, parents: Sequence[Partial], next_index: int) -> tuple[list[Partial], int]:
        """One scored child per parent (parents must be unfinished), in the parents' order, and
        the next free identity (children take identities from ``next_index`` on; an identity
        seeds its sample)."""
        if any(p.finished for p in parents):
            raise ValueError("a finished partial is never extended")
        groups: dict[str, list[int]] = {}
        for position, parent in enumerate(parents):
            groups.setdefault(parent.text, []).append(position)
        plans = []
        for positions in groups.values():
            parent = parents[positions[0]]
            first = next_index
            next_index += len(positions)
            plans.append((positions, parent, first, self._request(parent, len(positions), first)))
        children: list[Partial | None] = [None] * len(parents)
        if not self.ctx.engine.capabilities.remote:
            rows = await self.ctx.engine.generate([plan[3] for plan in plans])
            grown = [self._grow(plan, row) for plan, row in zip(plans, rows, strict=True)]
            flat = await self.score([c for group in grown for c in group])
            it = iter(flat)
            for (positions, *_), group in zip(plans, grown):
                for position in positions:
                    children[position] = next(it)
        else:
            async def one(plan: tuple) -> None:
                [row] = await self.ctx.engine.generate([plan[3]])
                for position, child in zip(plan[0], await self.score(self._grow(plan, row))):
                    children[position] = child
            await asyncio.gather(*(one(plan) for plan in plans))
        return children, next_index  # type: ignore[return-value]  # every position is filled

    def _request(self, parent: Partial, n: int, first: int) -> GenerationRequest:
        """``n`` next steps of ``parent`` (identities ``first`` on), capped by the step and run token caps."""
        settings = self.ctx.settings
        return GenerationRequest(
            messages=self.ctx.messages(), assistant_prefix=parent.text, n=n,
            max_tokens=max(1, min(self.params.step_tokens, settings.max_tokens - parent.completion_tokens)),
            temperature=self.temperature, top_p=settings.top_p, stop=(self.params.delimiter,),
            seed=settings.seed, first_index=first,
        )

    def _grow(self, plan: tuple, row: list) -> list[Partial]:
        """The children one request's samples make, in identity order (one per sample asked for)."""
        positions, parent, first, _ = plan
        if len(row) != len(positions):  # a short row would hand children to the wrong parents
            raise UpstreamError(f"the engine returned {len(row)} samples for a request of {len(positions)}")
        reports = self.ctx.engine.capabilities.reports_stop
        return [grow(parent, c, first + c.index, self.params, max_tokens=self.ctx.settings.max_tokens,
                     reports_stop=reports) for c in sorted(row, key=lambda c: c.index)]

    async def score(self, partials: Sequence[Partial]) -> list[Partial]:
        """Partials with their PRM score (aggregated as the PRM declares) and step scores."""
        judged = [p for p in partials if p.finish_reason != "error"]  # a failed sample scores 0, unjudged
        rows = await self.prm.score_steps(self.ctx.question, [p.clean_steps() for p in judged]) if judged else []
        scores = {id(p): (aggregate(row, self.prm.aggregation), tuple(row)) for p, row in zip(judged, rows, strict=True)}
        return [with_score(p, *scores.get(id(p), (0.0, ()))) for p in partials]
