"""Limits on a run: generations (samples started), completion tokens, wall seconds."""

from __future__ import annotations

from dataclasses import dataclass

from ponder.core.errors import InvalidInputError

MAX_GENERATIONS = 100_000
"""The most generations one run may start. A run keeps every sample it draws (candidates, votes,
trace), so a larger budget could only fill memory; bounded runs use ``tokens`` or ``seconds``."""


@dataclass(frozen=True)
class Budget:
    """Limits on a run: generations (samples started), completion tokens, wall seconds.

    A step sizes its work by what its :class:`~ponder.core.ledger.Ledger` has left, so generations
    are never exceeded. The runner checks tokens between steps (they may overshoot by at most one
    step) and cuts a step short when the seconds run out.
    """

    generations: int
    tokens: int | None = None
    seconds: float | None = None

    def __post_init__(self) -> None:
        if self.generations < 1:
            raise InvalidInputError(f"budget must be >= 1, got {self.generations}")
        if self.generations > MAX_GENERATIONS:
            raise InvalidInputError(
                f"budget {self.generations} is above the most one run may start ({MAX_GENERATIONS}): a result "
                "keeps every sample, so such a run could not finish in memory; use a time or token budget to "
                "run until a deadline"
            )
        if self.tokens is not None and self.tokens < 1:
            raise InvalidInputError(f"token budget must be >= 1, got {self.tokens}")
        if self.seconds is not None and not self.seconds > 0:
            raise InvalidInputError(f"time budget must be > 0 seconds, got {self.seconds}")
