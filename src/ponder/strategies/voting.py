"""Voting over final answers: group equivalent answers, add up their support, pick a winner."""

from __future__ import annotations

from typing import Callable, Sequence

Equivalence = Callable[[str, str], bool]


def _exact(a: str, b: str) -> bool:
    return a == b


def group_answers(answers: Sequence[str | None], equivalent: Equivalence = _exact) -> list[list[int]]:
    """Indices of equivalent answers grouped, groups in order of first appearance; ``None`` is dropped.

    Each new answer is compared with one representative per group (the group's first member),
    exact matches first, so math-verify runs at most once per distinct answer and group.
    """
    groups: list[list[int]] = []
    by_text: dict[str, int] = {}
    for index, answer in enumerate(answers):
        if answer is None:
            continue
        found = by_text.get(answer)
        if found is None:
            found = next((g for g, members in enumerate(groups) if equivalent(answers[members[0]], answer)), None)  # type: ignore[arg-type]
            if found is None:
                groups.append([])
                found = len(groups) - 1
            by_text[answer] = found
        groups[found].append(index)
    return groups


def tally(
    answers: Sequence[str | None], weights: Sequence[float] | None = None, equivalent: Equivalence = _exact
) -> dict[str, float]:
    """Support per group of equivalent answers, keyed by the group's first answer, in order of
    first appearance; ``None`` answers do not vote."""
    weights = list(weights) if weights is not None else [1.0] * len(answers)
    if len(weights) != len(answers):
        raise ValueError(f"{len(weights)} weights for {len(answers)} answers")
    return {
        answers[members[0]]: sum(weights[i] for i in members)  # type: ignore[misc]
        for members in group_answers(answers, equivalent)
    }


def winner(votes: dict[str, float]) -> str | None:
    """The most supported answer; ties go to the answer that appeared first."""
    best: str | None = None
    for answer, support in votes.items():  # dicts keep first-appearance order
        if best is None or support > votes[best]:
            best = answer
    return best


def top_two(votes: dict[str, float]) -> tuple[float, float]:
    """Support of the leading answer and of the runner-up (0 when there is none)."""
    ranked = sorted(votes.values(), reverse=True) + [0.0, 0.0]
    return ranked[0], ranked[1]
