"""Majority voting."""

from __future__ import annotations

from ponder.core.voting import tally, winner


def test_tally_counts_in_first_appearance_order() -> None:
    votes = tally(["4", "5", "4", "6", "4"])
    assert votes == {"4": 3.0, "5": 1.0, "6": 1.0}
    assert list(votes) == ["4", "5", "6"]


def test_none_answers_do_not_vote() -> None:
    assert tally([None, "3", None]) == {"3": 1.0}
    assert tally([None, None]) == {}


def test_weights_add_per_answer() -> None:
    votes = tally(["a", "b", "a"], weights=[0.25, 2.0, 0.5])
    assert votes == {"a": 0.75, "b": 2.0}
    assert winner(votes) == "b"


def test_winner_is_majority() -> None:
    assert winner(tally(["1", "2", "2"])) == "2"


def test_ties_go_to_first_appearing_answer() -> None:
    assert winner(tally(["9", "3", "3", "9"])) == "9"
    assert winner(tally(["3", "9", "9", "3"])) == "3"
    assert winner({"b": 1.0, "a": 1.0}) == "b"


def test_empty_votes_have_no_winner() -> None:
    assert winner({}) is None
    assert winner(tally([])) is None
