"""Verifier: scores every candidate with a ponder scorer and drops those below a threshold."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ponder.core.params import check, param
from ponder.pipelines.components.base import Slot
from ponder.pipelines.state import Output, PipelineState


@dataclass(frozen=True)
class VerifierParams:
    scorer: str = param("self-eval", "any ponder scorer: a built-in (self-eval, ...) or one passed to the run")
    threshold: float = param(0.5, "candidates scoring below this are dropped")

    def __post_init__(self) -> None:
        check(bool(self.scorer), "scorer must not be empty")


class Verifier:
    """Keeps the candidates whose score reaches ``threshold`` (scores stay on them). A verifier
    that drops every candidate leaves none: the pipeline then abstains (answer None)."""

    kind: ClassVar[str] = "verifier"
    summary: ClassVar[str] = "drops candidates a scorer or verifier rejects"
    Params: ClassVar[type] = VerifierParams
    creates: ClassVar[bool] = False
    needs_candidates: ClassVar[bool] = True

    def __init__(self, params: VerifierParams) -> None:
        self.params = params

    def need(self, state: PipelineState) -> int:
        return 0

    def estimate(self, candidates: int) -> tuple[int, int]:
        return 0, candidates

    async def run(self, state: PipelineState, slot: Slot) -> Output:
        scored = await slot.ctx.score(self.params.scorer, state.candidates) if state.candidates else []
        kept = tuple(c for c in scored if c.score is not None and c.score >= self.params.threshold)
        info = {
            "scorer": self.params.scorer,
            "scores": [round(c.score or 0.0, 4) for c in scored],
            "dropped": [c.index for c in scored if c not in kept],
        }
        return Output(candidates=kept, scored=tuple(scored), info=info)
