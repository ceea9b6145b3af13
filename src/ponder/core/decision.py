"""A strategy's answer at some point of a run."""

from __future__ import annotations

from dataclasses import dataclass

from ponder.core.result import Candidate


@dataclass(frozen=True)
class Decision:
    """A strategy's answer at some point: the answer, the candidates (with scores) and the votes."""

    answer: str | None
    candidates: tuple[Candidate, ...]
    votes: dict[str, float]
