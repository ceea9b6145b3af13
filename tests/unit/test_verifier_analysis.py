"""Resample-until-pass with an imperfect verifier (fLaws): closed forms and the optimal budget."""

from __future__ import annotations

import math
import random
from itertools import pairwise

import pytest

from ponder.analysis import resampling_with_verifier
from ponder.core.errors import InvalidInputError


def test_one_problem_matches_the_closed_form() -> None:
    p, c, s, k = 0.3, 0.9, 0.8, 5
    q = p * c + (1 - p) * (1 - s)
    analysis = resampling_with_verifier([p], completeness=c, soundness=s, max_samples=k)
    assert math.isclose(analysis.accuracy[k - 1], p * c / q * (1 - (1 - q) ** k))
    assert math.isclose(analysis.false_positive_rate[k - 1], (1 - p) * (1 - s) / q * (1 - (1 - q) ** k))
    assert math.isclose(analysis.ceiling, p * c / q)
    assert math.isclose(analysis.expected_samples[0], 1.0)


def test_accuracy_rises_to_the_ceiling_and_no_further() -> None:
    analysis = resampling_with_verifier([0.2, 0.5, 0.9], completeness=0.95, soundness=0.9, max_samples=200)
    assert all(a <= b + 1e-12 for a, b in pairwise(analysis.accuracy))
    assert analysis.accuracy[-1] <= analysis.ceiling + 1e-9
    assert math.isclose(analysis.accuracy[-1], analysis.ceiling, rel_tol=1e-3)


def test_a_perfect_verifier_never_returns_a_false_positive() -> None:
    analysis = resampling_with_verifier([0.1, 0.6], completeness=1.0, soundness=1.0, false_positive_cost=100)
    assert max(analysis.false_positive_rate) == 0
    assert analysis.ceiling == 1.0
    assert analysis.best_samples == 64  # more samples only help


def test_expensive_false_positives_favour_few_samples() -> None:
    rng = random.Random(0)
    rates = [rng.betavariate(1, 1) for _ in range(1000)]
    cheap = resampling_with_verifier(rates, completeness=0.95, soundness=0.95, false_positive_cost=0.0)
    costly = resampling_with_verifier(rates, completeness=0.95, soundness=0.95, false_positive_cost=4.0)
    assert cheap.best_samples == 64
    assert 1 <= costly.best_samples <= 5  # fLaws: with C = 4 the best budget is 5 or fewer


def test_abstaining_wins_when_every_answer_is_likely_wrong() -> None:
    analysis = resampling_with_verifier([0.01], completeness=0.9, soundness=0.5, false_positive_cost=4.0)
    assert analysis.best_samples == 0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"success_rates": [], "completeness": 1, "soundness": 1},
        {"success_rates": [1.5], "completeness": 1, "soundness": 1},
        {"success_rates": [0.5], "completeness": -0.1, "soundness": 1},
        {"success_rates": [0.5], "completeness": 1, "soundness": 1, "max_samples": 0},
    ],
)
def test_bad_input_is_refused(kwargs: dict) -> None:
    with pytest.raises(InvalidInputError):
        resampling_with_verifier(**kwargs)
