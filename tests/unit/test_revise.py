"""The revise strategy: draft, critique-and-revise rounds, keep the last or the best by a scorer."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import pytest

import ponder
from ponder.core.errors import InvalidInputError
from ponder.core.result import Candidate
from ponder.engines import FakeEngine, GenerationRequest
from ponder.engines.fake import prompt_text
from ponder.registry import get_strategy
from ponder.scorers import ScorerInfo

QUESTION = "What is 2 + 2?"
CRITIQUE_MARK = "Check the solution step by step"
REVISE_MARK = "A reviewer checked your solution"


def script(request: GenerationRequest, index: int) -> str:
    """Draft identity 2r answers r + 3 ("3", "4", "5", ...); critique identity 2r - 1 says which round."""
    prompt = prompt_text(request)
    identity = request.first_index + index
    if CRITIQUE_MARK in prompt:
        return f"Critique {identity}: the arithmetic is off."
    return f"Draft {identity}. The answer is {identity // 2 + 3}."


class TableScorer:
    """Scores by answer from a table; records what it scored."""

    name: ClassVar[str] = "table"
    info: ClassVar[ScorerInfo] = ScorerInfo(kind="orm", exact=False, cost="free")

    def __init__(self, table: dict[str, float]) -> None:
        self.table = table
        self.seen: list[str] = []

    async def score(self, question: str, candidates: Sequence[Candidate]) -> list[float]:
        self.seen += [c.answer or "" for c in candidates]
        return [self.table.get(c.answer or "", 0.0) for c in candidates]


async def test_rounds_fill_the_budget_and_the_last_draft_answers() -> None:
    engine = FakeEngine(script)
    result = await ponder.asolve(QUESTION, engine=engine, strategy="revise", budget=5)
    assert [entry["action"] for entry in result.trace] == ["draft", "revise", "revise"]
    assert [c.answer for c in result.candidates] == ["3", "4", "5"]
    assert result.answer == "5" and result.votes == {"5": 1.0}
    assert result.stop_reason == "done"
    assert len(engine.requests) == 5 and result.usage.engine_calls == 5
    assert [entry["usage"]["engine_calls"] for entry in result.trace] == [1, 2, 2]  # a round: critique + revision
    assert sum(entry["usage"]["completion_tokens"] for entry in result.trace) == result.usage.completion_tokens
    assert [entry.get("critique") for entry in result.trace][1:] == [
        "Critique 1: the arithmetic is off.",
        "Critique 3: the arithmetic is off.",
    ]


async def test_critique_and_revision_requests() -> None:
    engine = FakeEngine(script)
    await ponder.asolve(QUESTION, engine=engine, strategy="revise", budget=3)
    draft, critique, revision = engine.requests
    assert draft.messages[-1].content == QUESTION  # type: ignore[index]
    [ask] = critique.messages  # type: ignore[misc]
    assert ask.role == "user" and QUESTION in ask.content and "Draft 0. The answer is 3." in ask.content
    assert critique.temperature == 0.0 and draft.temperature == 0.7
    roles = [m.role for m in revision.messages]  # type: ignore[union-attr]
    assert roles == ["system", "user", "assistant", "user"]
    assert revision.messages[2].content == "Draft 0. The answer is 3."  # type: ignore[index]
    assert REVISE_MARK in revision.messages[3].content and "Critique 1" in revision.messages[3].content  # type: ignore[index]
    assert [r.first_index for r in engine.requests] == [0, 1, 2]


async def test_a_scorer_keeps_the_best_draft() -> None:
    scorer = TableScorer({"3": 0.2, "4": 0.9, "5": 0.4})
    result = await ponder.asolve(
        QUESTION,
        engine=FakeEngine(script),
        strategy="revise",
        budget=5,
        options={"scorer": "table"},
        scorers={"table": scorer},
    )
    assert result.answer == "4"
    assert [c.score for c in result.candidates] == [0.2, 0.9, 0.4]
    assert scorer.seen == ["3", "4", "5"]  # each draft scored as it is written
    assert [entry["score"] for entry in result.trace] == [0.2, 0.9, 0.4]


async def test_rounds_parameter_and_small_budgets() -> None:
    result = await ponder.asolve(
        QUESTION, engine=FakeEngine(script), strategy="revise", budget=9, options={"rounds": 1}
    )
    assert len(result.candidates) == 2 and result.usage.engine_calls == 3
    result = await ponder.asolve(
        QUESTION, engine=FakeEngine(script), strategy="revise", budget=2, options={"rounds": 3}
    )
    assert [c.answer for c in result.candidates] == ["3"] and result.stop_reason == "done"  # a round needs 2


async def test_stop_phrase_ends_the_run_when_the_critic_is_satisfied() -> None:
    def satisfied(request: GenerationRequest, index: int) -> str:
        return "No mistakes." if CRITIQUE_MARK in prompt_text(request) else "The answer is 4."

    engine = FakeEngine(satisfied)
    result = await ponder.asolve(
        QUESTION, engine=engine, strategy="revise", budget=7, options={"stop_phrase": "no mistakes"}
    )
    assert [entry["action"] for entry in result.trace] == ["draft", "critique"]
    assert result.trace[-1]["settled"] is True and len(engine.requests) == 2
    assert result.answer == "4"


async def test_token_budget_keeps_the_best_draft_so_far() -> None:
    scorer = TableScorer({"3": 0.8, "4": 0.1})
    result = await ponder.asolve(
        QUESTION,
        engine=FakeEngine(script),
        strategy="revise",
        budget=9,
        token_budget=14,
        options={"scorer": "table"},
        scorers={"table": scorer},
    )
    assert result.stop_reason == "tokens"
    assert len(result.candidates) == 2 and result.answer == "3"


async def test_last_draft_without_an_answer_falls_back_to_the_latest_answer() -> None:
    def trailing_off(request: GenerationRequest, index: int) -> str:
        if CRITIQUE_MARK in prompt_text(request):
            return "Wrong."
        return "The answer is 4." if request.first_index == 0 else "I am not sure any more."

    result = await ponder.asolve(QUESTION, engine=FakeEngine(trailing_off), strategy="revise", budget=3)
    assert [c.answer for c in result.candidates] == ["4", None]
    assert result.answer == "4"


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(InvalidInputError, match=r"critique_prompt uses unknown field \{draft\}"):
        get_strategy("revise", {"critique_prompt": "Review {draft}"})
    with pytest.raises(InvalidInputError, match="rounds must be >= 0"):
        get_strategy("revise", {"rounds": "-1"})
    with pytest.raises(InvalidInputError, match="malformed prompt template"):
        get_strategy("revise", {"revise_prompt": "Fix it {critique"})
    with pytest.raises(InvalidInputError, match="unknown scorer 'oracle'"):
        ponder.plan(QUESTION, strategy="revise", options={"scorer": "oracle"})
    assert ponder.plan(QUESTION, strategy="revise").algorithm.params.scorer == ""
