"""Answer equivalence (math-verify), grouping of equivalent answers, and the non-math tasks."""

from __future__ import annotations

import pytest

import ponder
from ponder.answers import get_task, math_equivalent, normalize_answer
from ponder.core.errors import UnknownNameError
from ponder.core.voting import group_answers, tally, top_two, winner
from ponder.engines import FakeEngine

# -- math_equivalent -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("1/2", "0.5"),
        ("0.5", "\\frac{1}{2}"),
        ("1/2", "\\frac{1}{2}"),
        ("12", "12.0"),
        ("x+1", "1+x"),
        ("7", "7"),
    ],
)
def test_equal_values_are_equivalent(a: str, b: str) -> None:
    assert math_equivalent(a, b)
    assert math_equivalent(b, a)


def test_thousands_separator_is_equivalent_after_normalisation() -> None:
    assert normalize_answer("1,000") == "1000"
    assert math_equivalent(normalize_answer("1,000"), "1000")


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("3", "4"),
        ("1/2", "0.6"),
        ("x+1", "x+2"),
        ("garbage", "nonsense"),
        ("@@", "##"),
        ("abc!!", "xyz??"),
        ("", "3"),
    ],
)
def test_different_or_unparsable_values_are_not_equivalent(a: str, b: str) -> None:
    assert not math_equivalent(a, b)


# -- grouping and tallying with math_equivalent ----------------------------------------------


def test_group_answers_merges_equivalent_values() -> None:
    answers = ["1/2", "3", "0.5", None, "\\frac{1}{2}", "3"]
    assert group_answers(answers, math_equivalent) == [[0, 2, 4], [1, 5]]


def test_group_answers_default_is_exact() -> None:
    assert group_answers(["1/2", "0.5", "1/2"]) == [[0, 2], [1]]


def test_group_answers_drops_none() -> None:
    assert group_answers([None, "1/2", None, "0.5"], math_equivalent) == [[1, 3]]
    assert group_answers([None, None], math_equivalent) == []


def test_group_answers_compares_each_distinct_answer_once_per_group() -> None:
    calls: list[tuple[str, str]] = []

    def counting(a: str, b: str) -> bool:
        calls.append((a, b))
        return a == b

    assert group_answers(["a", "a", "b", "a", "b", "c"], counting) == [[0, 1, 3], [2, 4], [5]]
    # "b" is compared with the "a" group once; "c" with the "a" and "b" groups once each.
    assert calls == [("a", "b"), ("a", "c"), ("b", "c")]


def test_tally_keys_groups_by_first_seen_answer() -> None:
    votes = tally(["1/2", "0.5", "3", "\\frac{1}{2}"], equivalent=math_equivalent)
    assert votes == {"1/2": 3.0, "3": 1.0}
    assert list(votes) == ["1/2", "3"]
    assert tally(["0.5", "1/2"], equivalent=math_equivalent) == {"0.5": 2.0}


def test_tally_weights_add_over_equivalent_answers() -> None:
    votes = tally(["1/2", "3", "0.5"], weights=[0.25, 0.4, 0.25], equivalent=math_equivalent)
    assert votes == pytest.approx({"1/2": 0.5, "3": 0.4})
    assert winner(votes) == "1/2"


@pytest.mark.parametrize("weights", [[1.0], [1.0, 1.0, 1.0], []])
def test_tally_rejects_weights_of_another_length(weights: list[float]) -> None:
    with pytest.raises(ValueError, match="weights"):
        tally(["1", "2"], weights=weights)


def test_top_two() -> None:
    assert top_two({"a": 3.0, "b": 1.0, "c": 2.0}) == (3.0, 2.0)
    assert top_two({"a": 2.0, "b": 2.0}) == (2.0, 2.0)
    assert top_two({"a": 3.0}) == (3.0, 0.0)
    assert top_two({}) == (0.0, 0.0)


async def test_self_consistency_votes_equivalent_answers_together() -> None:
    engine = FakeEngine(["The answer is 1/2.", "The answer is 0.5.", "The answer is 3.", "\\boxed{\\frac{1}{2}}"])
    result = await ponder.asolve("Half of one?", engine=engine, budget=4)
    assert result.answer == "1/2"
    assert result.votes == {"1/2": 3.0, "3": 1.0}


# -- choice and label tasks ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "letter"),
    [
        ("The answer is (B)", "B"),
        ("So the result is \\boxed{C}", "C"),
        ("Answer: d", "D"),
        ("Between (A) and (E), I pick\nE\n", "E"),
        ("No letter is given here.", None),
    ],
)
def test_choice_task_extracts_letters(text: str, letter: str | None) -> None:
    task = get_task("choice")
    assert task.name == "choice"
    assert task.extract(text) == letter
    assert task(text) == letter


def test_choice_task_equivalence_is_exact() -> None:
    task = get_task("choice")
    assert task.equivalent("B", "B")
    assert not task.equivalent("B", "C")


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("Answer: Uncertain", "Uncertain"),
        ("Whether it rains is unknown.", "Uncertain"),
        ("The answer is false.", "False"),
        ("The premise is true. Answer: False", "False"),
        ("It is TRUE", "True"),
        ("I cannot tell.", None),
    ],
)
def test_label_task_extracts_labels(text: str, label: str | None) -> None:
    assert get_task("label").extract(text) == label


def test_math_task_is_the_default_equivalence() -> None:
    task = get_task("math")
    assert task.extract("The answer is 1,000.") == "1000"
    assert task.equivalent("1/2", "0.5")


def test_unknown_task_raises() -> None:
    with pytest.raises(UnknownNameError, match="nope"):
        get_task("nope")
    with pytest.raises(LookupError):
        get_task("")


async def test_solve_with_choice_task() -> None:
    engine = FakeEngine(["The answer is (B)", "\\boxed{C}", "Answer: B"])
    result = await ponder.asolve("Pick one.", engine=engine, budget=3, task="choice")
    assert result.answer == "B"
    assert result.votes == {"B": 2.0, "C": 1.0}
    assert result.params["task"] == "choice"
