"""The exact checker: 1 when a candidate's answer equals the gold answer, else 0 (benchmarks, pass@k)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from ponder.answers import AnswerTask, get_task
from ponder.core.result import Candidate
from ponder.scorers.base import ScorerInfo


class ExactChecker:
    """Compares extracted answers with a known gold answer using the task's equivalence."""

    name: ClassVar[str] = "exact"
    info: ClassVar[ScorerInfo] = ScorerInfo(kind="verifier", exact=True, cost="free (needs the gold answer)")

    def __init__(self, gold: str, task: AnswerTask | None = None) -> None:
        self.task = task or get_task("math")
        self.gold = gold

    def is_correct(self, answer: str | None) -> bool:
        return answer is not None and self.task.equivalent(answer, self.gold)

    async def score(self, question: str, candidates: Sequence[Candidate]) -> list[float]:
        return [1.0 if self.is_correct(c.answer) else 0.0 for c in candidates]
