"""Generator: ``samples`` fresh answers to the question (Archon's generator), on the run's engine or
the one its ``model`` names."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from ponder.core.params import check, param
from ponder.pipelines.components.base import MODEL_HELP, Slot, check_model
from ponder.pipelines.state import Output, PipelineState


@dataclass(frozen=True)
class GeneratorParams:
    samples: int = param(1, "answers to draw")
    temperature: float | None = param(None, "sampling temperature [default: the run's, else 0.8]")
    system_prompt: str | None = param(None, "system prompt [default: the run's]")
    max_tokens: int | None = param(None, "tokens per answer [default: the run's]")
    logprobs: bool = param(False, "record token logprobs (the probability scorer needs them)")
    model: str | None = param(None, MODEL_HELP)

    def __post_init__(self) -> None:
        check_model(self.model)
        check(self.samples >= 1, f"samples must be >= 1, got {self.samples}")
        check(self.temperature is None or self.temperature >= 0, f"temperature must be >= 0, got {self.temperature}")
        check(self.max_tokens is None or self.max_tokens >= 1, f"max_tokens must be >= 1, got {self.max_tokens}")


class Generator:
    """Draws ``samples`` answers in one engine call; they join the layer's candidates."""

    kind: ClassVar[str] = "generator"
    summary: ClassVar[str] = "samples answers to the question"
    Params: ClassVar[type] = GeneratorParams
    creates: ClassVar[bool] = True
    needs_candidates: ClassVar[bool] = False

    def __init__(self, params: GeneratorParams) -> None:
        self.params = params

    def need(self, state: PipelineState) -> int:
        return self.params.samples

    def estimate(self, candidates: int) -> tuple[int, int]:
        return self.params.samples, self.params.samples

    async def run(self, state: PipelineState, slot: Slot) -> Output:
        ctx, p = slot.ctx, self.params
        n = min(p.samples, slot.allowed)
        temperature = ctx.temperature() if p.temperature is None else p.temperature  # several or one: 0.8
        messages = ctx.messages(p.system_prompt) if p.system_prompt is not None else None
        new = await ctx.sample(
            n, temperature=temperature, logprobs=p.logprobs, max_tokens=p.max_tokens, messages=messages
        )
        info: dict[str, Any] = {"n": n, "temperature": temperature, "answers": [c.answer for c in new]}
        return Output(candidates=tuple(new), info=info)
