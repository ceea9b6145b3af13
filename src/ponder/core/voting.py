"""Voting over final answers: group equivalent answers, add up their support, pick a winner."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from ponder.core.decision import Decision
from ponder.core.result import Candidate

Equivalence = Callable[[str, str], bool]


class AnswerEquivalence(Protocol):
    """What voting needs of a task: when two final answers are the same answer."""

    def equivalent(self, a: str, b: str) -> bool: ...


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
            found = next((g for g, members in enumerate(groups) if equivalent(_first(answers, members), answer)), None)
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
        _first(answers, members): sum(weights[i] for i in members) for members in group_answers(answers, equivalent)
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


def _first(answers: Sequence[str | None], members: list[int]) -> str:
    """A group's representative: its first answer (groups never hold ``None``)."""
    answer = answers[members[0]]
    assert answer is not None
    return answer


def vote(candidates: Sequence[Candidate], task: AnswerEquivalence, weights: Sequence[float] | None = None) -> Decision:
    """Majority (or weighted) vote over equivalent answers; ties go to the first seen."""
    votes = tally([c.answer for c in candidates], weights, task.equivalent)
    return Decision(answer=winner(votes), candidates=tuple(candidates), votes=votes)


def best_scored(candidates: Sequence[Candidate], task: AnswerEquivalence) -> Decision:
    """The answer of the top-scored candidate (the first on ties); votes hold each answer's best score.

    Before any candidate is scored (an interrupted run) this falls back to the majority vote.
    """
    scored = [(c.answer, c.score) for c in candidates if c.answer is not None and c.score is not None]
    if not scored:
        return vote(candidates, task)
    groups = group_answers([answer for answer, _ in scored], task.equivalent)
    votes = {scored[g[0]][0]: max(scored[i][1] for i in g) for g in groups}
    top = max(range(len(scored)), key=lambda i: scored[i][1])
    answer = next(scored[g[0]][0] for g in groups if top in g)
    return Decision(answer=answer, candidates=tuple(candidates), votes=votes)
