"""Train / holdout / test splits: seeded, stratified, disjoint and covering, order-independent."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from ponder.bench.types import Problem
from ponder.core.errors import InvalidInputError
from ponder.tune.splits import split_problems


def problem(i: int, kind: str | None = None) -> Problem:
    data = {} if kind is None else {"type": kind}
    return Problem(id=f"p{i:03d}", question=f"q{i}", gold=str(i), grader="exact", data=data)


def ids(problems: tuple[Problem, ...]) -> list[str]:
    return [p.id for p in problems]


def test_deterministic_disjoint_and_covering() -> None:
    problems = [problem(i) for i in range(100)]
    a = split_problems(problems, seed=3)
    b = split_problems(problems, seed=3)
    assert a == b
    parts = [set(ids(a.train)), set(ids(a.holdout)), set(ids(a.test))]
    assert sum(len(p) for p in parts) == 100
    assert set.union(*parts) == {p.id for p in problems}
    assert a.sizes == (40, 30, 30)
    assert a.stratified_by is None  # no problem has a "type" field
    assert split_problems(problems, seed=4) != a


def test_independent_of_input_order() -> None:
    problems = [problem(i, "ab"[i % 2]) for i in range(57)]
    shuffled = problems[:]
    random.Random(1).shuffle(shuffled)
    assert split_problems(shuffled, seed=0) == split_problems(problems, seed=0)


def test_stratified_by_type_field() -> None:
    problems = [problem(i, "algebra") for i in range(50)] + [problem(50 + i, "geometry") for i in range(20)]
    splits = split_problems(problems, seed=0)
    assert splits.stratified_by == "type"
    for part, share in ((splits.train, 0.4), (splits.holdout, 0.3), (splits.test, 0.3)):
        kinds = Counter(p.data["type"] for p in part)
        assert kinds["algebra"] == round(50 * share)
        assert kinds["geometry"] == round(20 * share)


def test_many_small_strata_keep_the_overall_fractions() -> None:
    # 30 strata of one problem each: rounding each stratum alone would send all 30 to train
    problems = [problem(i, f"kind{i}") for i in range(30)]
    assert split_problems(problems, seed=0).sizes == (12, 9, 9)


def test_not_stratified_when_a_problem_lacks_the_field() -> None:
    problems = [problem(i, "a") for i in range(9)] + [problem(9)]
    assert split_problems(problems).stratified_by is None
    assert split_problems([problem(i, "a") for i in range(10)], stratify=None).stratified_by is None


def test_largest_remainder_rounding() -> None:
    # 562 (MAWPS SingleOp) at 0.4/0.3/0.3: 224.8 / 168.6 / 168.6 -> 225 / 169 / 168
    assert split_problems([problem(i) for i in range(562)]).sizes == (225, 169, 168)
    assert split_problems([problem(i) for i in range(10)], fractions=(0.5, 0.25, 0.25)).sizes == (5, 3, 2)


@pytest.mark.parametrize(
    "fractions",
    [(0.5, 0.5), (0.4, 0.3, 0.2), (0.6, 0.5, -0.1), (1.0, 0.0, 0.0), (0.4, 0.3, float("nan")), "abc"],
)
def test_bad_fractions(fractions: object) -> None:
    with pytest.raises(InvalidInputError, match="3 positive numbers"):
        split_problems([problem(i) for i in range(20)], fractions=fractions)  # type: ignore[arg-type]


def test_empty_split_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="the test split would be empty: 2 problems"):
        split_problems([problem(0), problem(1)])
    with pytest.raises(InvalidInputError, match="train split would be empty: 0 problems"):
        split_problems([])


def test_duplicate_ids_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="share the id 'p001'"):
        split_problems([problem(1), problem(1), problem(2), problem(3)])
