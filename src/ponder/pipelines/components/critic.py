"""Critic: one critique of each candidate (Archon's critic); fusers and rankers read them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ponder.core.params import check, param
from ponder.engines.base import Message
from ponder.pipelines.components.base import MODEL_HELP, Slot, check_model, temperature_for
from ponder.pipelines.state import Critique, Output, PipelineState
from ponder.strategies.revise import CRITIQUE_PROMPT
from ponder.strategies.templates import check_template

FIELDS = frozenset({"question", "answer"})


@dataclass(frozen=True)
class CriticParams:
    prompt: str = param(CRITIQUE_PROMPT, "critique request; fields {question} and {answer}")
    temperature: float | None = param(None, "sampling temperature [default: the run's, else 0]")
    max_tokens: int | None = param(None, "tokens per critique [default: the run's]")
    model: str | None = param(None, MODEL_HELP)

    def __post_init__(self) -> None:
        check_model(self.model)
        check_template("prompt", self.prompt, FIELDS)
        check(self.temperature is None or self.temperature >= 0, f"temperature must be >= 0, got {self.temperature}")
        check(self.max_tokens is None or self.max_tokens >= 1, f"max_tokens must be >= 1, got {self.max_tokens}")


class Critic:
    """Writes one critique per candidate (all in one engine call); candidates pass on unchanged.

    With fewer generations left than candidates, the first candidates are critiqued."""

    kind: ClassVar[str] = "critic"
    summary: ClassVar[str] = "one critique of each candidate"
    Params: ClassVar[type] = CriticParams
    creates: ClassVar[bool] = False
    needs_candidates: ClassVar[bool] = True

    def __init__(self, params: CriticParams) -> None:
        self.params = params

    def need(self, state: PipelineState) -> int:
        return len(state.candidates)

    def estimate(self, candidates: int) -> tuple[int, int | None]:
        return candidates, None

    async def run(self, state: PipelineState, slot: Slot) -> Output:
        ctx, p = slot.ctx, self.params
        targets = state.candidates[: slot.allowed]
        temperature = temperature_for(ctx, p.temperature, 1)
        chats = [(Message("user", p.prompt.format(question=ctx.question, answer=c.text.strip())),) for c in targets]
        reviews = await slot.ctx.sample_each(chats, temperature=temperature, max_tokens=p.max_tokens)
        critiques = tuple(Critique(c.index, r.text) for c, r in zip(targets, reviews, strict=True))
        return Output(
            critiques=critiques, info={"critiqued": [c.index for c in targets], "critiques": [r.text for r in reviews]}
        )
