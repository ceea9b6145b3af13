"""LINC on scripted translations: parsing problems, proving, voting, errors that do not vote."""

from __future__ import annotations

import pytest

import ponder
from ponder.core.errors import InvalidInputError
from ponder.engines import FakeEngine
from ponder.strategies.linc import format_problem, parse_problem

PREMISES = ["All dogs are mammals.", "Rex is a dog."]
PROBLEM = format_problem(PREMISES, "Rex is a mammal.")
ENTAILED = (
    "TEXT: All dogs are mammals.\nFOL: ∀x (Dog(x) → Mammal(x))\nTEXT: Rex is a dog.\nFOL: Dog(rex)\n"
    "TEXT: Rex is a mammal.\nFOL: Mammal(rex)\n"
)
REFUTED = "FOL: ∀x (Dog(x) → Mammal(x))\nFOL: Dog(rex)\nFOL: ¬Mammal(rex)\n"
UNKNOWN = "FOL: ∀x (Dog(x) → Mammal(x))\nFOL: Dog(rex)\nFOL: Cat(rex)\n"
BROKEN = "FOL: ∀x (Dog(x) →\nFOL: Dog(rex)\n"
INCONSISTENT = "FOL:\t∀x (Dog(x) → Mammal(x))\nFOL:\tDog(rex) ∧ ¬Mammal(rex)\nFOL:\tCat(rex)\n"
# Satisfiable only in infinite models: z3 cannot settle it.
ENDLESS = "FOL: ∀x ∃y R(x, y)\nFOL: ∀x ∀y ∀z (R(x, y) ∧ R(y, z) → R(x, z))\nFOL: ∀x ¬R(x, x)\nFOL: Mammal(rex)\n"


def test_problem_text_round_trips() -> None:
    assert parse_problem(PROBLEM) == (PREMISES, "Rex is a mammal.")
    assert parse_problem("premises: - A is B.\n- B is C.\nconclusion:  A is C.") == (["A is B.", "B is C."], "A is C.")
    for bad in ("no parts here", "Premises:\nConclusion: x", "Premises: a\nConclusion:  "):
        with pytest.raises(InvalidInputError):
            parse_problem(bad)
    with pytest.raises(InvalidInputError):
        format_problem([], "x")


async def test_majority_over_proved_labels_ignoring_errors() -> None:
    engine = FakeEngine([ENTAILED, BROKEN, REFUTED, ENTAILED, BROKEN])
    result = await ponder.asolve(PROBLEM, engine=engine, strategy="linc", budget=5)
    assert result.answer == "True"
    assert result.votes == {"True": 2.0, "False": 1.0}
    assert [c.answer for c in result.candidates] == ["True", None, "False", "True", None]
    broken = result.candidates[1]
    assert broken.evidence and "parse" in broken.evidence.lower()
    assert result.trace[0]["errors"] == 2


async def test_translation_requests_use_the_few_shot_prompt() -> None:
    engine = FakeEngine([UNKNOWN])
    result = await ponder.asolve(PROBLEM, engine=engine, strategy="linc", budget=1)
    assert result.answer == "Uncertain"
    [request] = engine.requests
    assert request.assistant_prefix == "<EVALUATE>\n" and request.stop == ("</EVALUATE>",)
    assert request.messages[-1].content.endswith("<CONCLUSION>\nRex is a mammal.\n</CONCLUSION>\n")
    assert request.messages[-1].content.count("<PREMISES>") == 9  # LINC's 8 worked problems, then this one


async def test_all_errors_give_no_answer() -> None:
    result = await ponder.asolve(PROBLEM, engine=FakeEngine([BROKEN, "no formulas at all"]), strategy="linc", budget=2)
    assert result.answer is None and result.votes == {}


async def test_a_problem_without_parts_fails_before_generating() -> None:
    engine = FakeEngine([ENTAILED])
    with pytest.raises(InvalidInputError, match="Premises"):
        await ponder.asolve("Is Rex a mammal?", engine=engine, strategy="linc")
    assert engine.requests == []


async def test_library_call_takes_premises_and_conclusion() -> None:
    result = await ponder.alinc(PREMISES, "Rex is a mammal.", engine=FakeEngine([ENTAILED]), budget=1)
    assert result.answer == "True" and result.strategy == "linc"


async def test_inconsistent_premises_vote_true_and_the_trace_counts_them() -> None:
    """LINC's mapping (regression: inconsistent premises used to be an Error that did not vote)."""
    engine = FakeEngine([INCONSISTENT, REFUTED, INCONSISTENT])
    result = await ponder.asolve(PROBLEM, engine=engine, strategy="linc", budget=3)
    assert [c.answer for c in result.candidates] == ["True", "False", "True"]
    assert result.answer == "True" and result.votes == {"True": 2.0, "False": 1.0}
    assert result.trace[0]["inconsistent"] == 2 and result.trace[0]["errors"] == 0
    assert "inconsistent" in (result.candidates[0].evidence or "")


async def test_a_single_fol_line_is_a_conclusion_without_premises_as_in_linc() -> None:
    result = await ponder.asolve(PROBLEM, engine=FakeEngine(["FOL: Mammal(rex)\n"]), strategy="linc", budget=1)
    assert result.answer == "Uncertain"


async def test_a_proof_out_of_time_is_an_error_unless_counted_uncertain() -> None:
    result = await ponder.asolve(
        PROBLEM, engine=FakeEngine([ENDLESS]), strategy="linc", budget=1, options={"timeout_ms": 200}
    )
    assert result.answer is None and "200 ms" in (result.candidates[0].evidence or "")
    result = await ponder.asolve(
        PROBLEM,
        engine=FakeEngine([ENDLESS]),
        strategy="linc",
        budget=1,
        options={"timeout_ms": 200, "on_timeout": "Uncertain"},
    )
    assert result.answer == "Uncertain"
