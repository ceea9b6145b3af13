"""What the viewer shows of one run, read from a solve's result or from a stored benchmark row.

:class:`RunView` is the one shape every section of the page reads, so that ``ponder solve
--html`` and ``ponder view`` draw a run the same way. Stored rows lack what the store does not
keep (a candidate's identity, the strategy's parameters): those parts are left out of the page.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ponder.bench.types import BenchRow, StoredConfig
from ponder.core.result import SolveResult

USAGE_KEYS: tuple[str, ...] = (
    "prompt_tokens",
    "prompt_tokens_computed",
    "completion_tokens",
    "engine_calls",
    "scorer_calls",
    "scorer_tokens",
    "scorer_prompt_tokens_computed",
)
"""The usage counters a trace step and a run's total carry, in the order the tables show them."""


@dataclass(frozen=True)
class CandidateView:
    """One candidate: its text and answer, score, tokens, finish reason, evidence and (for a
    stored row) whether its answer was graded correct. ``index`` is its identity (``None`` in
    stored rows, which do not keep it)."""

    text: str
    answer: str | None
    score: float | None = None
    finish_reason: str | None = None
    completion_tokens: int = 0
    evidence: str | None = None
    index: int | None = None
    correct: bool | None = None


@dataclass(frozen=True)
class RunView:
    """One run as the page shows it. ``key`` prefixes the element ids of its parts, so that
    several runs can share a page."""

    key: str
    title: str
    question: str
    strategy: str
    answer: str | None
    stop_reason: str
    candidates: tuple[CandidateView, ...]
    votes: dict[str, float]
    trace: tuple[dict[str, Any], ...]
    usage: dict[str, Any]
    params: dict[str, Any] = field(default_factory=dict)
    engine: dict[str, Any] = field(default_factory=dict)
    gold: str | None = None
    correct: bool | None = None
    seconds: float | None = None


def from_result(result: SolveResult, key: str = "run") -> RunView:
    """The view of a solve's result."""
    usage = result.usage.to_dict()
    return RunView(
        key=key,
        title=f"{result.strategy}: {result.question}",
        question=result.question,
        strategy=result.strategy,
        answer=result.answer,
        stop_reason=result.stop_reason,
        candidates=tuple(
            CandidateView(
                text=c.text,
                answer=c.answer,
                score=c.score,
                finish_reason=c.finish_reason,
                completion_tokens=c.completion_tokens,
                evidence=c.evidence,
                index=c.index,
            )
            for c in result.candidates
        ),
        votes=dict(result.votes),
        trace=tuple(result.trace),
        usage=usage,
        params=dict(result.params),
        engine=dict(result.engine),
        seconds=usage.get("wall_seconds"),
    )


def from_bench(config: StoredConfig, row: BenchRow, key: str) -> RunView:
    """The view of one stored problem under one configuration."""
    params = {"budget": config.budget, "seed": config.seed, "temperature": config.temperature}
    params |= {"max_tokens": config.max_tokens, **config.options}
    return RunView(
        key=key,
        title=f"{config.label}: problem {row.problem_id}",
        question=row.question,
        strategy=config.strategy,
        answer=row.answer,
        stop_reason=row.stop_reason,
        candidates=tuple(
            CandidateView(
                text=c.text,
                answer=c.answer,
                score=c.score,
                finish_reason=c.finish_reason,
                completion_tokens=c.completion_tokens,
                evidence=c.evidence,
                correct=c.correct,
            )
            for c in row.candidates
        ),
        votes=dict(row.votes),
        trace=tuple(row.trace),
        usage={name: getattr(row, name) for name in USAGE_KEYS},
        params=params,
        engine={"engine": config.engine, "model": config.model},
        gold=row.gold,
        correct=row.correct,
        seconds=row.seconds,
    )
