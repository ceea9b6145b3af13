"""Ranker: keeps the ``top_k`` best candidates, ranked by a scorer or by the model (Archon's ranker).

``by: model`` shows the model all candidates, numbered, and asks for a ranking such as
``[2] > [1] > [3]``; numbers are read in order of first mention (only the bracketed ones when
the reply has any, so ``[2] is right: 3 + 4 = 7`` ranks [2] alone first), and candidates it
leaves out follow in their original order (on the engine ``model`` names, if set).
``by: <scorer>`` scores each candidate and sorts (stable).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from ponder.core.params import check, param
from ponder.core.result import Candidate
from ponder.pipelines.components.base import MODEL_HELP, Slot, check_model, numbered, temperature_for
from ponder.pipelines.state import Output, PipelineState
from ponder.strategies.templates import check_template

BY_MODEL = "model"
FIELDS = frozenset({"question", "candidates", "top_k"})
RANK_PROMPT = (
    "Question: {question}\n\nProposed solutions:\n\n{candidates}\n\n"
    "Rank the solutions from most to least likely to be correct. "
    "Reply with their numbers only, best first, like: [2] > [1] > [3]"
)
_NUMBER_RE = re.compile(r"\d+")
_BRACKETED_RE = re.compile(r"\[\s*(\d+)\s*\]")


@dataclass(frozen=True)
class RankerParams:
    top_k: int = param(1, "candidates to keep")
    by: str = param(BY_MODEL, "'model' (a ranking prompt) or any scorer name (self-eval, ...)")
    prompt: str = param(RANK_PROMPT, "ranking request (by: model); fields {question}, {candidates}, {top_k}")
    temperature: float | None = param(None, "sampling temperature of the ranking [default: the run's, else 0]")
    max_tokens: int | None = param(None, "tokens of the ranking [default: the run's]")
    model: str | None = param(None, MODEL_HELP + " (by: model only)")

    def __post_init__(self) -> None:
        check_model(self.model)
        check(
            self.model is None or self.by == BY_MODEL,
            f"model applies to by: model; a scorer ({self.by}) judges on the run's scorer engine",
        )
        check(self.top_k >= 1, f"top_k must be >= 1, got {self.top_k}")
        check(bool(self.by), "by must be 'model' or a scorer name")
        check_template("prompt", self.prompt, FIELDS)
        check(self.temperature is None or self.temperature >= 0, f"temperature must be >= 0, got {self.temperature}")
        check(self.max_tokens is None or self.max_tokens >= 1, f"max_tokens must be >= 1, got {self.max_tokens}")


def read_ranking(text: str, count: int) -> list[int]:
    """0-based positions in the order a ranking reply names them (1-based numbers in the text,
    the bracketed ones when there are any); numbers out of range and repeats are ignored, and
    unnamed positions follow in order."""
    order: list[int] = []
    for match in _BRACKETED_RE.findall(text) or _NUMBER_RE.findall(text):
        position = int(match) - 1
        if 0 <= position < count and position not in order:
            order.append(position)
    return order + [i for i in range(count) if i not in order]


class Ranker:
    """Keeps the ``top_k`` best candidates in rank order."""

    kind: ClassVar[str] = "ranker"
    summary: ClassVar[str] = "keeps the top-k candidates by a scorer or a model ranking"
    Params: ClassVar[type] = RankerParams
    creates: ClassVar[bool] = False
    needs_candidates: ClassVar[bool] = True

    def __init__(self, params: RankerParams) -> None:
        self.params = params

    def need(self, state: PipelineState) -> int:
        return 1 if self.params.by == BY_MODEL and len(state.candidates) > self.params.top_k else 0

    def estimate(self, candidates: int) -> tuple[int, int]:
        return (1 if self.params.by == BY_MODEL else 0), min(candidates, self.params.top_k)

    async def run(self, state: PipelineState, slot: Slot) -> Output:
        candidates = state.candidates
        if len(candidates) <= self.params.top_k:
            return Output(candidates=candidates, info={"ranked": False, "kept": [c.index for c in candidates]})
        if self.params.by == BY_MODEL:
            ranked, info = await self._by_model(state, slot)
        else:
            ranked, info = await self._by_scorer(candidates, slot)
        kept = tuple(ranked[: self.params.top_k])
        info = {"ranked": True, **info, "kept": [c.index for c in kept]}
        return Output(candidates=kept, scored=tuple(ranked), info=info)

    async def _by_model(self, state: PipelineState, slot: Slot) -> tuple[list[Candidate], dict[str, Any]]:
        ctx, p = slot.ctx, self.params
        prompt = p.prompt.format(question=ctx.question, candidates=numbered(state, state.candidates), top_k=p.top_k)
        temperature = temperature_for(ctx, p.temperature, 1)
        [reply] = await ctx.sample(
            1, temperature=temperature, max_tokens=p.max_tokens, messages=ctx.messages(user=prompt)
        )
        order = read_ranking(reply.text, len(state.candidates))
        return [state.candidates[i] for i in order], {"by": BY_MODEL, "ranking": reply.text}

    async def _by_scorer(self, candidates: Sequence[Candidate], slot: Slot) -> tuple[list[Candidate], dict[str, Any]]:
        scored = await slot.ctx.score(self.params.by, candidates)
        ranked = sorted(scored, key=lambda c: -(c.score or 0.0))
        return ranked, {"by": self.params.by, "scores": [round(c.score or 0.0, 4) for c in scored]}
