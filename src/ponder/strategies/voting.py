"""Majority voting over extracted answers."""

from __future__ import annotations

from typing import Sequence


def tally(answers: Sequence[str | None], weights: Sequence[float] | None = None) -> dict[str, float]:
    """Support per distinct answer, in order of first appearance; ``None`` answers do not vote."""
    weights = weights if weights is not None else [1.0] * len(answers)
    votes: dict[str, float] = {}
    for answer, weight in zip(answers, weights, strict=True):
        if answer is not None:
            votes[answer] = votes.get(answer, 0.0) + weight
    return votes


def winner(votes: dict[str, float]) -> str | None:
    """The most supported answer; ties go to the answer that appeared first."""
    best: str | None = None
    for answer, support in votes.items():  # dicts keep first-appearance order
        if best is None or support > votes[best]:
            best = answer
    return best
