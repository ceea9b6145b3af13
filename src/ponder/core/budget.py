"""Limits on a run: generations (samples started), completion tokens, wall seconds."""

from __future__ import annotations

from dataclasses import dataclass

from ponder.core.errors import InvalidInputError


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
        if self.tokens is not None and self.tokens < 1:
            raise InvalidInputError(f"token budget must be >= 1, got {self.tokens}")
        if self.seconds is not None and not self.seconds > 0:
            raise InvalidInputError(f"time budget must be > 0 seconds, got {self.seconds}")
