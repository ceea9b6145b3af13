"""Per-call settings shared by the library, the CLI and (later) the server."""

from __future__ import annotations

from dataclasses import dataclass

from ponder.core.errors import InvalidInputError

DEFAULT_SYSTEM_PROMPT = "Solve the math word problem. Finish with 'The answer is' followed by the number."


@dataclass(frozen=True)
class SolveSettings:
    """How to sample: budget in generations, sampling parameters, seed and prompt.

    ``temperature=None`` lets the strategy choose its own default (greedy uses 0).
    """

    budget: int = 8
    max_tokens: int = 512
    temperature: float | None = None
    top_p: float = 1.0
    seed: int = 0
    system_prompt: str | None = DEFAULT_SYSTEM_PROMPT

    def __post_init__(self) -> None:
        if self.budget < 1:
            raise InvalidInputError(f"budget must be >= 1, got {self.budget}")
        if self.max_tokens < 1:
            raise InvalidInputError(f"max_tokens must be >= 1, got {self.max_tokens}")
        if self.temperature is not None and not self.temperature >= 0:
            raise InvalidInputError(f"temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise InvalidInputError(f"top_p must be in (0, 1], got {self.top_p}")
