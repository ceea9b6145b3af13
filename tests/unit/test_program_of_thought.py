"""Program of thought on scripted programs: the sandbox's printout is the answer."""

from __future__ import annotations

import ponder
from ponder.answers.program import extract_program, run_program
from ponder.engines import FakeEngine

PROGRAM = "Here you go:\n```python\napples = 3 * 4\nprint(apples)\n```"
OTHER = "```python\nprint(10 + 2)\n```"
WRONG = "```python\nprint(7)\n```"
CRASH = "```python\nprint(1 / 0)\n```"
LOOP = "```python\nwhile True:\n    pass\n```"


def test_code_is_read_from_the_last_python_block() -> None:
    assert extract_program(PROGRAM) == "apples = 3 * 4\nprint(apples)"
    assert extract_program("```\nprint(1)\n```") == "print(1)"
    assert extract_program("print(2)") == "print(2)"


def test_running_a_reply() -> None:
    assert run_program(PROGRAM).answer == "12"
    crashed = run_program(CRASH)
    assert crashed.answer is None and crashed.status == "error" and "ZeroDivisionError" in crashed.detail


async def test_majority_over_program_answers_with_failures_not_voting() -> None:
    engine = FakeEngine([PROGRAM, WRONG, CRASH, OTHER])
    result = await ponder.asolve(
        "Tom has 3 boxes of 4 apples. How many?", engine=engine, strategy="program-of-thought", budget=4
    )
    assert result.answer == "12" and result.votes == {"12": 2.0, "7": 1.0}
    assert [c.answer for c in result.candidates] == ["12", "7", None, "12"]
    assert result.candidates[2].evidence.startswith("error")
    [request] = engine.requests
    assert "Python program" in request.messages[0].content  # the program-writing system prompt


async def test_self_consistency_and_best_of_n_take_the_program_option() -> None:
    result = await ponder.asolve("q", engine=FakeEngine([OTHER, WRONG, OTHER]), budget=3, options={"program": True})
    assert result.answer == "12"
    judged = await ponder.asolve(
        "q", engine=FakeEngine([OTHER, WRONG]), strategy="weighted-majority", budget=2, options={"program": True}
    )
    assert {c.answer for c in judged.candidates} == {"12", "7"}


async def test_a_runaway_program_is_stopped_and_does_not_vote() -> None:
    result = await ponder.asolve("q", engine=FakeEngine([LOOP, OTHER]), strategy="program-of-thought", budget=2)
    assert result.answer == "12"
    assert result.candidates[0].answer is None and result.candidates[0].evidence.split(":")[0] in {"timeout", "limit"}
