"""Growing partial solutions by one step and scoring them with a process reward model.

One call extends a list of parents, one child each. Parents with the same text (copies made by
resampling, or a beam expanded M ways) go out as one request with ``n`` samples, so a forking
engine computes their shared prefix once and forks it. On a local engine every request of the
step goes out together, served as the engine prefers (:func:`ponder.engines.base.generate_each`):
a local engine decodes all live partials in one batch (the prefix a parent's child continues
was left in the engine's cache by the parent's own step, so only the new text is computed); a
server's engine sends each request as its own call, all in flight at once, and the children of
each are scored as soon as they arrive, so scoring overlaps the generation of the rest and the
server's prefix cache does the reuse. Children take the sample identities they are given (the
ones a first step spent) or fresh ones from the run's ledger; an identity seeds its sample.

What the PRM reads (``prm_input``): ``steps`` (the default here; search-and-learn's beam search
and DVTS) hands it each partial split into its steps and reduces the step scores with the PRM's
aggregation; ``joined`` (Puri et al.'s particle filtering) hands it the whole partial trajectory
as ONE step, so it returns one score that judges the partial as a whole (a Qwen2.5-Math-PRM then
sees a single ``<extra_0>``, after the last step).

:func:`grown_nodes` is how the searches record the partials a step grew in their trace (the
``grown`` key): identity, parent, score, finish reason and the new step's text, from which the
trace viewer (:mod:`ponder.view`) draws the search tree.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ponder.context import StepContext
from ponder.core.errors import UpstreamError
from ponder.engines.base import Completion, GenerationRequest
from ponder.scorers.prm import ChatStepScorer, PrmInput, ProcessRewardModel, aggregate, check_prm_input
from ponder.search.steps import Partial, StepParams, grow, with_score


@dataclass(frozen=True)
class Plan:
    """One request of a step: the positions of the parents it serves (all with the same text),
    that text's partial, the identity of its first sample, and the request."""

    positions: list[int]
    parent: Partial
    first: int
    request: GenerationRequest


class Expander:
    """Extends and scores partials for one search run (its context, parameters and PRM, and
    what the PRM reads: see the module docstring)."""

    def __init__(self, ctx: StepContext, params: StepParams, *, prm_input: PrmInput = "steps") -> None:
        self.ctx = ctx
        self.params = params
        self.prm: ProcessRewardModel = ctx.prm(params.prm)
        self.prm_input = check_prm_input(prm_input)
        self.temperature = ctx.temperature(default=params.temperature)

    async def expand(self, parents: Sequence[Partial], identities: Sequence[int] | None = None) -> list[Partial]:
        """One scored child per parent (parents must be unfinished), in the parents' order.
        Children take ``identities`` in order (parents with the same text are one request, whose
        samples take consecutive identities), or fresh ones from the ledger."""
        if any(p.finished for p in parents):
            raise ValueError("a finished partial is never extended")
        ids = list(self.ctx.ledger.identities(len(parents)) if identities is None else identities)
        if len(ids) != len(parents):
            raise ValueError(f"{len(ids)} identities for {len(parents)} parents")
        groups: dict[str, list[int]] = {}
        for position, parent in enumerate(parents):
            groups.setdefault(parent.text, []).append(position)
        plans, taken = [], 0
        for positions in groups.values():
            parent = parents[positions[0]]
            first = ids[taken]
            taken += len(positions)
            plans.append(Plan(positions, parent, first, self._request(parent, len(positions), first)))
        children: dict[int, Partial] = {}
        async for arrived in self.ctx.generate_each([plan.request for plan in plans]):
            grown = [(plans[i], self._grow(plans[i], row)) for i, row in arrived]
            flat = iter(await self.score([c for _, group in grown for c in group]))
            for plan, _ in grown:
                for position in plan.positions:
                    children[position] = next(flat)
        return [children[position] for position in range(len(parents))]

    def _request(self, parent: Partial, n: int, first: int) -> GenerationRequest:
        """``n`` next steps of ``parent`` (identities ``first`` on), capped by the step and run token caps."""
        settings = self.ctx.settings
        return GenerationRequest(
            messages=self.ctx.messages(),
            assistant_prefix=parent.text,
            n=n,
            max_tokens=max(1, min(self.params.step_tokens, settings.max_tokens - parent.completion_tokens)),
            temperature=self.temperature,
            top_p=settings.top_p,
            stop=(self.params.delimiter,),
            seed=settings.seed,
            first_index=first,
        )

    def _grow(self, plan: Plan, row: list[Completion]) -> list[Partial]:
        """The children one request's samples make, in identity order (one per sample asked for)."""
        positions, parent, first = plan.positions, plan.parent, plan.first
        if len(row) != len(positions):  # a short row would hand children to the wrong parents
            raise UpstreamError(f"the engine returned {len(row)} samples for a request of {len(positions)}")
        reports = self.ctx.engine.capabilities.reports_stop
        return [
            grow(parent, c, first + c.index, self.params, max_tokens=self.ctx.settings.max_tokens, reports_stop=reports)
            for c in sorted(row, key=lambda c: c.index)
        ]

    async def score(self, partials: Sequence[Partial]) -> list[Partial]:
        """Partials with their PRM score (aggregated as the PRM declares; ``joined``: the one
        score of the whole partial) and step scores."""
        judged = [p for p in partials if p.finish_reason != "error"]  # a failed sample scores 0, unjudged
        rows = await self._step_scores(judged) if judged else []
        scores = {
            id(p): (aggregate(row, self.prm.aggregation), tuple(row)) for p, row in zip(judged, rows, strict=True)
        }
        return [with_score(p, *scores.get(id(p), (0.0, ()))) for p in partials]

    async def _step_scores(self, partials: Sequence[Partial]) -> list[list[float]]:
        """The PRM's step scores of ``partials``: judged as continuations of the chat they extend
        where the PRM can (its questions then reuse the cached partials), else from their steps;
        with ``joined`` each partial goes as one step, its text (as generated, or stripped)."""
        joined = self.prm_input == "joined"
        if isinstance(self.prm, ChatStepScorer):
            generated = [[p.text] if joined else list(p.steps) for p in partials]
            return await self.prm.score_steps_in_chat(self.ctx.question, self.ctx.messages(), generated)
        cleaned = [([p.text.strip()] if p.text.strip() else []) if joined else p.clean_steps() for p in partials]
        return await self.prm.score_steps(self.ctx.question, cleaned)


def grown_nodes(children: Sequence[Partial]) -> list[dict[str, Any]]:
    """The trace record of the partials one step grew: ``id`` (identity), ``parent`` (the
    identity of the partial it extends; ``None`` for a first step, whose parent is the empty
    solution), ``score`` (PRM), ``finish`` (finish reason, ``None`` while unfinished) and
    ``text`` (the new step, as generated)."""
    return [
        {
            "id": child.index,
            "parent": child.parent if len(child.steps) > 1 else None,
            "score": None if child.score is None else round(child.score, 4),
            "finish": child.finish_reason,
            "text": child.steps[-1] if child.steps else "",
        }
        for child in children
    ]
