"""Fuser: reads every candidate (with its critiques) and writes one better answer (Archon's fuser)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ponder.core.params import check, param
from ponder.pipelines.components.base import MODEL_HELP, Slot, check_model, numbered, temperature_for
from ponder.pipelines.state import Output, PipelineState
from ponder.strategies.templates import check_template

FIELDS = frozenset({"question", "candidates"})
FUSE_PROMPT = (
    "Question: {question}\n\nHere are several proposed solutions, some with critiques:\n\n{candidates}\n\n"
    "Some may be wrong. Using what is right in them, write one correct, complete solution. "
    "Finish with 'The answer is' followed by the answer."
)


@dataclass(frozen=True)
class FuserParams:
    samples: int = param(1, "fused answers to write")
    prompt: str = param(FUSE_PROMPT, "fusion request; fields {question} and {candidates} (numbered, with critiques)")
    temperature: float | None = param(
        None, "sampling temperature [default: the run's, else 0; 0.8 for several samples]"
    )
    max_tokens: int | None = param(None, "tokens per answer [default: the run's]")
    model: str | None = param(None, MODEL_HELP)

    def __post_init__(self) -> None:
        check_model(self.model)
        check(self.samples >= 1, f"samples must be >= 1, got {self.samples}")
        check_template("prompt", self.prompt, FIELDS)
        check(self.temperature is None or self.temperature >= 0, f"temperature must be >= 0, got {self.temperature}")
        check(self.max_tokens is None or self.max_tokens >= 1, f"max_tokens must be >= 1, got {self.max_tokens}")


class Fuser:
    """``samples`` answers written from all the input candidates; they replace the candidates."""

    kind: ClassVar[str] = "fuser"
    summary: ClassVar[str] = "writes one answer from all candidates and their critiques"
    Params: ClassVar[type] = FuserParams
    creates: ClassVar[bool] = False
    needs_candidates: ClassVar[bool] = True

    def __init__(self, params: FuserParams) -> None:
        self.params = params

    def need(self, state: PipelineState) -> int:
        return self.params.samples if state.candidates else 0

    def estimate(self, candidates: int) -> tuple[int, int]:
        return self.params.samples, self.params.samples

    async def run(self, state: PipelineState, slot: Slot) -> Output:
        ctx, p = slot.ctx, self.params
        if not state.candidates:
            return Output(info={"fused": 0})
        n = min(p.samples, slot.allowed)
        temperature = temperature_for(ctx, p.temperature, n)
        prompt = p.prompt.format(question=ctx.question, candidates=numbered(state, state.candidates))
        fused = await ctx.sample(
            n, temperature=temperature, max_tokens=p.max_tokens, messages=ctx.messages(user=prompt)
        )
        info = {
            "fused": len(state.candidates),
            "temperature": temperature,
            "from": [c.index for c in state.candidates],
            "answers": [c.answer for c in fused],
        }
        return Output(candidates=tuple(fused), info=info)
