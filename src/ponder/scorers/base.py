"""The scorer contract: (question, candidate answers) -> one score in [0, 1] per candidate."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Literal, Protocol

from ponder.core.result import Candidate


@dataclass(frozen=True)
class ScorerInfo:
    """What a scorer is: outcome (``orm``) or process (``prm``) reward, or a pass/fail
    ``verifier``; ``exact`` for checks that cannot be fooled (unit tests, a gold answer, a
    prover) as opposed to learned judges; ``cost`` in words."""

    kind: Literal["orm", "prm", "verifier"]
    exact: bool
    cost: str


class Scorer(Protocol):
    """Scores candidates of one question; higher is better.

    A candidate may carry the chat that produced it (:attr:`Candidate.prompt`); a model-based
    judge asks as that chat's next turn, so an engine's prefix cache serves the sample (see
    :mod:`ponder.scorers.judge`). Scorers that do not need it ignore it."""

    name: ClassVar[str]
    info: ClassVar[ScorerInfo]

    async def score(self, question: str, candidates: Sequence[Candidate]) -> list[float]: ...
