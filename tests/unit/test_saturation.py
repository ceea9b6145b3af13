"""Saturation budgets of the TTSPM scaling model F(N) = F_max (1 - (1 - p)^N), and fitting it."""

from __future__ import annotations

import math

import pytest

from ponder.analysis.saturation import (
    ScalingModel,
    fit_scaling,
    marginal_gain,
    parallel,
    saturation_budget,
    scaling_curve,
    sequential,
)
from ponder.core.errors import InvalidInputError


def _by_search(p: float, ceiling: float, epsilon: float) -> int:
    n = 0
    while ceiling * p * (1 - p) ** n > epsilon:
        n += 1
    return n


def test_known_values() -> None:
    # gain(N) = 0.5^(N + 1): 0.5^7 = 0.0078 is the first at most 0.01
    assert saturation_budget(0.5, 1.0, 0.01) == 6
    assert saturation_budget(0.5, 1.0, 0.01) == math.ceil(math.log(0.01 / 0.5) / math.log(0.5))
    assert saturation_budget(0.1, 0.8, 0.001) == math.ceil(math.log(0.001 / 0.08) / math.log(0.9)) == 42
    assert scaling_curve(0.5, 0.8, [0, 1, 2, 3]) == pytest.approx([0.0, 0.4, 0.6, 0.7])
    assert marginal_gain(0.5, 0.8, 2) == pytest.approx(0.1)


@pytest.mark.parametrize("p", [0.001, 0.03, 0.2, 0.5, 0.77, 0.99])
@pytest.mark.parametrize("ceiling", [0.3, 1.0])
@pytest.mark.parametrize("epsilon", [1e-6, 1e-3, 0.01, 0.1])
def test_closed_form_matches_the_definition(p: float, ceiling: float, epsilon: float) -> None:
    n = saturation_budget(p, ceiling, epsilon)
    assert n == _by_search(p, ceiling, epsilon)
    curve = scaling_curve(p, ceiling, [n, n + 1])
    assert curve[1] - curve[0] <= epsilon + 1e-15


def test_exact_boundary_counts_as_saturated() -> None:
    # gain(2) = 0.5^3 = 0.125 exactly: no more than epsilon, so two samples suffice
    assert saturation_budget(0.5, 1.0, 0.125) == 2
    assert saturation_budget(0.5, 1.0, 0.5) == 0  # epsilon == F_max p


def test_budget_shrinks_as_epsilon_grows() -> None:
    budgets = [saturation_budget(0.07, 0.9, 10 ** (-e / 4)) for e in range(40, -1, -1)]
    assert budgets == sorted(budgets, reverse=True)
    assert budgets[0] > 100 and budgets[-1] == 0


def test_edge_cases() -> None:
    assert saturation_budget(0.0, 1.0, 1e-9) == 0  # nothing to gain
    assert saturation_budget(1.0, 1.0, 1e-9) == 1  # one step reaches the ceiling
    assert saturation_budget(1.0, 0.5, 0.6) == 0
    assert saturation_budget(0.4, 0.0, 1e-9) == 0  # no ceiling to approach
    assert saturation_budget(0.3, 0.5, 0.2) == 0  # epsilon > F_max p
    assert saturation_budget(1e-4, 1.0, 1e-12) == _by_search(1e-4, 1.0, 1e-12)
    assert scaling_curve(1.0, 0.7, [0, 1, 5]) == [0.0, 0.7, 0.7]
    assert scaling_curve(0.0, 0.7, [0, 10]) == [0.0, 0.0]


@pytest.mark.parametrize(
    "p, ceiling, epsilon",
    [(-0.1, 1, 0.1), (1.1, 1, 0.1), (0.5, 1.5, 0.1), (0.5, 1, 0.0), (0.5, 1, -1), (math.nan, 1, 0.1)],
)
def test_bad_parameters_are_rejected(p: float, ceiling: float, epsilon: float) -> None:
    with pytest.raises(InvalidInputError):
        saturation_budget(p, ceiling, epsilon)


def test_parallel_and_sequential_are_one_model_with_their_own_p() -> None:
    wide, deep = parallel(0.3, 0.9), sequential(0.3, 0.9)
    assert (wide.unit, deep.unit) == ("samples", "rounds")
    assert wide.curve([1, 4, 16]) == deep.curve([1, 4, 16])
    assert wide.saturation_budget(0.01) == deep.saturation_budget(0.01) == saturation_budget(0.3, 0.9, 0.01)
    assert parallel(0.6).saturation_budget(0.01) < sequential(0.1).saturation_budget(0.01)
    assert wide.accuracy(3) == pytest.approx(0.9 * (1 - 0.7**3))
    assert wide.marginal_gain(3) == pytest.approx(wide.accuracy(4) - wide.accuracy(3))
    with pytest.raises(InvalidInputError):
        ScalingModel(0.5, 2.0)


@pytest.mark.parametrize("p, ceiling", [(0.2, 0.8), (0.05, 0.6), (0.6, 0.95), (0.01, 1.0), (1.0, 0.7)])
def test_fit_recovers_the_parameters_of_a_synthetic_curve(p: float, ceiling: float) -> None:
    budgets = [1, 2, 4, 8, 16, 32, 64, 128]
    fitted_p, fitted_ceiling = fit_scaling(budgets, scaling_curve(p, ceiling, budgets))
    assert fitted_p == pytest.approx(p, rel=1e-3)
    assert fitted_ceiling == pytest.approx(ceiling, rel=1e-3)


def test_fit_with_a_known_ceiling_and_noise() -> None:
    budgets = [1, 2, 3, 4, 6, 8, 12, 16]
    noise = [0.004, -0.003, 0.002, -0.004, 0.003, -0.002, 0.001, -0.001]
    accuracies = [a + e for a, e in zip(scaling_curve(0.25, 0.7, budgets), noise, strict=True)]
    p, ceiling = fit_scaling(budgets, accuracies, ceiling=0.7)
    assert ceiling == 0.7
    assert p == pytest.approx(0.25, abs=0.01)
    p, ceiling = fit_scaling(budgets, accuracies)
    assert p == pytest.approx(0.25, abs=0.02) and ceiling == pytest.approx(0.7, abs=0.02)


@pytest.mark.parametrize(
    "budgets, accuracies, kwargs",
    [
        ([1, 2], [0.5], {}),
        ([0, 4], [0.0, 0.5], {}),
        ([4, 4], [0.5, 0.5], {}),
        ([], [], {"ceiling": 0.5}),
        ([1, 2], [0.5, 1.5], {}),
        ([-1, 2], [0.5, 0.6], {}),
        ([1, 2], [0.5, 0.6], {"ceiling": 2.0}),
    ],
)
def test_fit_rejects_what_it_cannot_fit(budgets: list, accuracies: list, kwargs: dict) -> None:
    with pytest.raises(InvalidInputError):
        fit_scaling(budgets, accuracies, **kwargs)
