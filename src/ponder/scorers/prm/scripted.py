"""A scripted process reward model for tests of step-level search.

Give it a callable over (question, steps so far) or a table of substrings::

    prm = ScriptedPRM(lambda question, steps: [0.9 if "12" in s else 0.1 for s in steps])
    prm = ScriptedPRM({"= 14": 0.95, "= 20": 0.05}, default=0.5)

A callable returns one score per step, or a single number that scores the partial answer as a
whole (the only form allowed with ``aggregation="whole"``, where a list must have one item). A
table scores each step by the first key found in it (``whole``: the first key found in the
joined steps), else ``default``. Every call is recorded in ``calls`` as (question, partials).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import ClassVar

from ponder.core.errors import InvalidInputError
from ponder.scorers.base import ScorerInfo
from ponder.scorers.prm.base import DEFAULT_DELIMITER, Aggregation, StepScorer, check_aggregation

StepFunction = Callable[[str, Sequence[str]], "Sequence[float] | float"]


class ScriptedPRM(StepScorer):
    """Scores from a callable or a substring table; see the module docstring."""

    name: ClassVar[str] = "scripted-prm"
    info: ClassVar[ScorerInfo] = ScorerInfo(kind="prm", exact=False, cost="free (scripted)")

    def __init__(
        self,
        script: StepFunction | Mapping[str, float],
        aggregation: Aggregation = "last",
        *,
        default: float = 0.5,
        delimiter: str = DEFAULT_DELIMITER,
    ) -> None:
        self.aggregation = check_aggregation(aggregation)
        self.default = default
        self.delimiter = delimiter
        self.table: dict[str, float] | None = None if callable(script) else dict(script)
        self.fn: StepFunction | None = script if callable(script) else None
        self.calls: list[tuple[str, list[list[str]]]] = []

    def _lookup(self, text: str) -> float:
        """The score of the first table key found in ``text``, else the default."""
        assert self.table is not None
        return next((score for key, score in self.table.items() if key in text), self.default)

    def _one(self, question: str, steps: list[str]) -> list[float]:
        """The scripted scores of one partial, checked."""
        if not steps:
            return []
        if self.fn is None:
            if self.aggregation == "whole":
                return [self._lookup(self.delimiter.join(steps))]
            return [self._lookup(step) for step in steps]
        value = self.fn(question, steps)
        if isinstance(value, (int, float)):
            scores = [float(value)]  # the partial answer as a whole
        else:
            scores = [float(v) for v in value]
            want = 1 if self.aggregation == "whole" else len(steps)
            if len(scores) != want:
                raise InvalidInputError(f"the scripted PRM returned {len(scores)} score(s) for {len(steps)} step(s)")
        if not all(0.0 <= s <= 1.0 for s in scores):
            raise InvalidInputError(f"scripted PRM scores must be in [0, 1], got {scores}")
        return scores

    async def score_steps(self, question: str, steps: Sequence[Sequence[str]]) -> list[list[float]]:
        """The scripted scores of every partial (an empty partial gets ``[]``)."""
        partials = [list(partial) for partial in steps]
        self.calls.append((question, partials))
        return [self._one(question, partial) for partial in partials]
