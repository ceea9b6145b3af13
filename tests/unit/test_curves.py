"""Cheap curves: exact pass@k, Monte Carlo self-consistency@k and best-of-k from one run."""

from __future__ import annotations

import itertools
import math
import random

import numpy as np
import pytest

from ponder.analysis.curves import (
    BEST_OF_K,
    METHODS,
    PASS_AT_K,
    SELF_CONSISTENCY,
    CurvePoint,
    Sample,
    curves,
    pass_at_k,
    per_problem_curves,
)
from ponder.core.errors import InvalidInputError
from ponder.core.result import Candidate
from ponder.core.voting import best_scored, tally, winner


class _Exact:
    def equivalent(self, a: str, b: str) -> bool:
        return a == b


def _live_best_of(picked: list[Sample]) -> bool:
    """Whether the live best-of-n rule (:func:`best_scored`) answers correctly on these samples."""
    candidates = [
        Candidate(text="", answer=s.answer, finish_reason="stop", completion_tokens=0, score=s.score) for s in picked
    ]
    answer = best_scored(candidates, _Exact()).answer
    return answer is not None and next(s.correct for s in picked if s.answer == answer)


def _brute_pass_at_k(n: int, c: int, k: int) -> float:
    hits = [any(i < c for i in subset) for subset in itertools.combinations(range(n), k)]
    return sum(hits) / len(hits)


def _exact_expectations(samples: list[Sample], k: int) -> tuple[float, float]:
    """SC@k and best-of-k averaged over every ordered size-k subset (what the draws estimate)."""
    sc = best = 0.0
    orders = list(itertools.permutations(range(len(samples)), k))
    for order in orders:
        picked = [samples[i] for i in order]
        answers = [s.answer for s in picked]
        top = winner(tally(answers))
        sc += top is not None and picked[answers.index(top)].correct
        best += _live_best_of(picked)
    return sc / len(orders), best / len(orders)


def _random_problem(rng: random.Random, n: int) -> list[Sample]:
    gold = "1"
    out = []
    for _ in range(n):
        answer = rng.choice(["1", "2", "3", None])
        score = rng.choice([None, 0.1, 0.5, 0.5, 0.9])
        out.append(Sample(answer, answer == gold, score))
    return out


@pytest.mark.parametrize("n", [1, 2, 5, 8])
def test_pass_at_k_matches_the_closed_form_and_enumeration(n: int) -> None:
    for k in range(1, n + 1):
        assert pass_at_k(n, 0, k) == 0.0
        assert pass_at_k(n, n, k) == 1.0
        for c in range(n + 1):
            assert math.isclose(pass_at_k(n, c, k), _brute_pass_at_k(n, c, k), abs_tol=1e-12)
    for c in range(n + 1):
        assert math.isclose(pass_at_k(n, c, 1), c / n)


def test_pass_at_k_rejects_impossible_counts() -> None:
    for n, c, k in [(5, 6, 1), (5, -1, 1), (5, 2, 0), (5, 2, 6)]:
        with pytest.raises(InvalidInputError):
            pass_at_k(n, c, k)


def test_agreeing_samples_vote_for_their_own_correctness() -> None:
    problems = [[Sample("7", True, 0.2)] * 6, [Sample("3", False, 0.9)] * 6, [Sample("7", True, None)] * 6]
    result = curves(problems, [1, 3, 6], draws=20)
    for point in result[SELF_CONSISTENCY]:
        assert point.mean_accuracy == pytest.approx(2 / 3)
    assert result[SELF_CONSISTENCY][-1].monte_carlo_stderr == 0.0  # k == N: one subset, exact
    assert per_problem_curves(problems, [6])[SELF_CONSISTENCY][6] == (1.0, 0.0, 1.0)


def test_sc_at_1_is_the_fraction_of_correct_samples() -> None:
    rng = random.Random(3)
    problems = [_random_problem(rng, 10) for _ in range(30)]
    point = curves(problems, [1], draws=300, seed=5)[SELF_CONSISTENCY][0]
    expected = np.mean([np.mean([s.correct for s in samples]) for samples in problems])
    assert point.monte_carlo_stderr > 0
    assert abs(point.mean_accuracy - expected) < 4 * point.monte_carlo_stderr
    assert curves(problems, [1])[PASS_AT_K][0].mean_accuracy == pytest.approx(expected)


def test_monte_carlo_matches_exhaustive_enumeration_of_subsets() -> None:
    rng = random.Random(11)
    problems = [_random_problem(rng, 6) for _ in range(4)]
    k = 3
    result = per_problem_curves(problems, [k], draws=3000, seed=1)
    for i, samples in enumerate(problems):
        sc, best = _exact_expectations(samples, k)
        # a Bernoulli mean over 3000 draws has standard error <= 0.5 / sqrt(3000) ~ 0.009
        assert abs(result[SELF_CONSISTENCY][k][i] - sc) < 0.04
        assert abs(result[BEST_OF_K][k][i] - best) < 0.04


def test_vectorised_vote_agrees_with_tally_and_winner_on_every_subset() -> None:
    from ponder.analysis.curves import _best_of, _prepare, _subsets, _vote

    rng = random.Random(7)
    for index in range(20):
        samples = _random_problem(rng, 9)
        problem = _prepare(samples, index, lambda a, b: a == b)
        for k in (1, 2, 4, 9):
            subsets = _subsets(9, k, 50, 0, index)
            votes, bests = _vote(problem, subsets), _best_of(problem, subsets)
            for row, subset in enumerate(subsets):
                picked = [samples[i] for i in subset]
                answers = [s.answer for s in picked]
                top = winner(tally(answers))
                assert votes[row] == (top is not None and picked[answers.index(top)].correct)
                assert bests[row] == _live_best_of(picked)


def test_best_of_k_with_a_perfect_scorer_tracks_pass_at_k() -> None:
    rng = random.Random(2)
    problems = []
    for _ in range(25):
        p = rng.random()
        correct = [rng.random() < p for _ in range(12)]
        problems.append([Sample("7" if ok else str(rng.randint(0, 3)), ok, 1.0 if ok else 0.0) for ok in correct])
    ks = [1, 2, 4, 8, 12]
    result = curves(problems, ks, draws=400, seed=0)
    passes = [point.mean_accuracy for point in result[PASS_AT_K]]
    assert passes == sorted(passes)
    for best, exact in zip(result[BEST_OF_K], result[PASS_AT_K], strict=True):
        assert abs(best.mean_accuracy - exact.mean_accuracy) <= 4 * best.monte_carlo_stderr + 1e-12
    assert result[BEST_OF_K][-1].mean_accuracy == result[PASS_AT_K][-1].mean_accuracy


def test_same_seed_same_numbers_other_seed_other_draws() -> None:
    rng = random.Random(5)
    problems = [_random_problem(rng, 8) for _ in range(10)]
    first = curves(problems, [2, 4], draws=50, seed=9)
    assert first == curves(problems, [4, 2, 2], draws=50, seed=9)
    assert per_problem_curves(problems, [2], draws=50, seed=9) == per_problem_curves(problems, [2], draws=50, seed=9)
    other = curves(problems, [2, 4], draws=50, seed=10)
    assert other[PASS_AT_K] == first[PASS_AT_K]
    assert other[SELF_CONSISTENCY] != first[SELF_CONSISTENCY]


def test_aggregates_are_the_means_of_the_per_problem_values() -> None:
    rng = random.Random(8)
    problems = [_random_problem(rng, 5) for _ in range(7)]
    ks = [1, 3, 5]
    aggregate = curves(problems, ks, draws=40)
    per_problem = per_problem_curves(problems, ks, draws=40)
    assert set(aggregate) == set(per_problem) == set(METHODS)
    for method in METHODS:
        assert [point.k for point in aggregate[method]] == ks
        for point in aggregate[method]:
            values = per_problem[method][point.k]
            assert len(values) == len(problems)
            assert point.mean_accuracy == pytest.approx(np.mean(values))
            assert point.stderr == pytest.approx(np.std(values, ddof=1) / math.sqrt(len(values)))


def test_equivalence_merges_votes_and_unanswered_samples_do_not_vote() -> None:
    samples = [Sample("2", True), Sample("2.0", True), Sample("5", False), Sample("5", False), Sample("2.00", True)]
    loose = per_problem_curves([samples], [5], equivalent=lambda a, b: float(a) == float(b))
    strict = per_problem_curves([samples], [5])
    assert loose[SELF_CONSISTENCY][5] == (1.0,)
    assert strict[SELF_CONSISTENCY][5] == (0.0,)
    silent = [Sample(None, False, 0.3)] * 3 + [Sample("4", True, 0.1)]
    assert per_problem_curves([silent], [4])[SELF_CONSISTENCY][4] == (1.0,)


def test_best_of_k_skips_samples_without_an_answer_like_the_live_strategy() -> None:
    """Regression: a top-scored sample without an answer used to win best-of-k (and count as wrong)."""
    silent = [Sample(None, False, 0.9)] * 3 + [Sample("4", True, 0.1)]
    assert per_problem_curves([silent], [4])[BEST_OF_K][4] == (1.0,)
    assert _live_best_of(silent) is True
    # Only unanswered or unscored samples: the live rule falls back to the majority vote.
    unscored = [Sample(None, False, 0.9), Sample("4", True, None), Sample("5", False, None), Sample("4", True, None)]
    assert per_problem_curves([unscored], [4])[BEST_OF_K][4] == (1.0,)
    assert per_problem_curves([[Sample(None, False, 0.5)] * 2], [2])[BEST_OF_K][2] == (0.0,)
    # The winner's answer group is judged by its first scored member, as the live answer is.
    split = [Sample("4", False, 0.2), Sample("4", True, 0.9)]
    assert per_problem_curves([split], [2])[BEST_OF_K][2] == (0.0,) == (float(_live_best_of(split)),)
    assert per_problem_curves([[Sample(None, False)] * 3], [2])[SELF_CONSISTENCY][2] == (0.0,)


def test_unscored_samples_rank_below_scored_ones() -> None:
    samples = [Sample("1", False, None), Sample("2", True, -5.0), Sample("3", False, None)]
    assert per_problem_curves([samples], [3])[BEST_OF_K][3] == (1.0,)
    assert per_problem_curves([[Sample("1", False), Sample("2", True)]], [2])[BEST_OF_K][2] == (0.0,)  # first


def test_one_problem_has_no_spread_over_problems() -> None:
    point = curves([[Sample("1", True), Sample("2", False)]], [1])[SELF_CONSISTENCY][0]
    assert isinstance(point, CurvePoint)
    assert math.isnan(point.stderr)


@pytest.mark.parametrize(
    "problems, ks, kwargs",
    [
        ([], [1], {}),
        ([[]], [1], {}),
        ([[Sample("1", True)] * 3], [4], {}),
        ([[Sample("1", True)] * 3], [0], {}),
        ([[Sample("1", True)] * 3], [], {}),
        ([[Sample("1", True)] * 3], [1], {"draws": 0}),
        ([[Sample("1", True)] * 3], [1], {"seed": -1}),
        ([[("1", True)]], [1], {}),
        ([[(1, True, None)]], [1], {}),
        ([[("1", True, float("nan"))]], [1], {}),
    ],
)
def test_bad_input_is_rejected(problems: list, ks: list, kwargs: dict) -> None:
    with pytest.raises(InvalidInputError):
        curves(problems, ks, **kwargs)
