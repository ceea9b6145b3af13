"""Resampling schemes, effective sample size, softmax and logit (statistical tests are seeded)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ponder.core.errors import InvalidInputError
from ponder.search.resampling import (
    RESAMPLERS,
    _inverse_cdf,
    effective_sample_size,
    logit,
    resample,
    residual,
    should_resample,
    softmax,
    systematic,
)

WEIGHTS = np.array([0.05, 0.15, 0.3, 0.02, 0.08, 0.4])
N = 10
DRAWS = 4000
SCHEMES = sorted(RESAMPLERS)


def offspring_counts(scheme: str, weights: np.ndarray, n: int, draws: int, seed: int) -> np.ndarray:
    """A (draws, len(weights)) array: how many offspring each index got in each seeded draw."""
    rng = np.random.default_rng(seed)
    return np.stack([np.bincount(resample(weights, n, scheme, rng), minlength=weights.size) for _ in range(draws)])


@pytest.fixture(scope="module")
def counts() -> dict[str, np.ndarray]:
    return {scheme: offspring_counts(scheme, WEIGHTS, N, DRAWS, seed=7) for scheme in SCHEMES}


@pytest.mark.parametrize("scheme", SCHEMES)
def test_mean_offspring_is_n_times_weight(scheme: str, counts: dict[str, np.ndarray]) -> None:
    # Every scheme's offspring variance is at most multinomial's n w (1 - w) (Douc & Cappé 2005),
    # so 5 standard errors of the mean under that bound is a safe tolerance.
    expected = N * WEIGHTS
    tolerance = 5 * np.sqrt(N * WEIGHTS * (1 - WEIGHTS) / DRAWS) + 1e-9
    assert np.all(np.abs(counts[scheme].mean(axis=0) - expected) <= tolerance)


@pytest.mark.parametrize("scheme", SCHEMES)
def test_every_draw_has_n_sorted_indices_in_range(scheme: str, counts: dict[str, np.ndarray]) -> None:
    assert np.all(counts[scheme].sum(axis=1) == N)
    indices = resample(WEIGHTS, N, scheme, np.random.default_rng(1))
    assert indices.dtype.kind == "i" and len(indices) == N
    assert np.all(np.diff(indices) >= 0) and indices.min() >= 0 and indices.max() < WEIGHTS.size


def test_multinomial_variance_matches_theory(counts: dict[str, np.ndarray]) -> None:
    theory = N * WEIGHTS * (1 - WEIGHTS)
    assert counts["multinomial"].var(axis=0) == pytest.approx(theory, rel=0.15)


@pytest.mark.parametrize("scheme", ["systematic", "stratified", "residual"])
def test_low_variance_schemes_beat_multinomial(scheme: str, counts: dict[str, np.ndarray]) -> None:
    ours = counts[scheme].var(axis=0)
    multinomial = counts["multinomial"].var(axis=0)
    assert ours.sum() < 0.5 * multinomial.sum()
    assert np.all(ours <= multinomial + 0.02)


def test_residual_variance_matches_theory(counts: dict[str, np.ndarray]) -> None:
    scaled = N * WEIGHTS
    left = scaled - np.floor(scaled)
    rest = round(float(left.sum()))
    r = left / left.sum()
    assert counts["residual"].var(axis=0) == pytest.approx(rest * r * (1 - r), abs=0.03)


@pytest.mark.parametrize("seed", range(20))
def test_systematic_counts_are_floor_or_ceil(seed: int) -> None:
    rng = np.random.default_rng(seed)
    size = int(rng.integers(2, 12))
    n = int(rng.integers(1, 40))
    weights = rng.dirichlet(np.full(size, 0.5))
    for _ in range(50):
        got = np.bincount(systematic(weights, n, rng), minlength=size)
        scaled = n * weights
        assert np.all(got >= np.floor(scaled - 1e-9)) and np.all(got <= np.ceil(scaled + 1e-9))


@pytest.mark.parametrize("seed", range(20))
def test_residual_keeps_the_deterministic_copies(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    size = int(rng.integers(2, 12))
    n = int(rng.integers(1, 40))
    weights = rng.dirichlet(np.full(size, 0.5))
    for _ in range(50):
        got = np.bincount(residual(weights, n, rng), minlength=size)
        assert got.sum() == n and np.all(got >= np.floor(n * weights))


@pytest.mark.parametrize("scheme", SCHEMES)
def test_zero_weight_is_never_drawn_and_one_hot_takes_all(scheme: str) -> None:
    rng = np.random.default_rng(3)
    for _ in range(200):
        assert 1 not in resample([0.5, 0.0, 0.5], 7, scheme, rng)
    assert list(resample([0.0, 1.0, 0.0], 5, scheme, rng)) == [1] * 5


@pytest.mark.parametrize("scheme", SCHEMES)
def test_same_seed_same_indices(scheme: str) -> None:
    weights = softmax([0.3, -1.2, 2.0, 0.0, 1.1])
    first = resample(weights, 16, scheme, np.random.default_rng(42))
    again = resample(weights, 16, scheme, np.random.default_rng(42))
    other = [resample(weights, 16, scheme, np.random.default_rng(s)) for s in range(43, 53)]
    assert np.array_equal(first, again)
    assert any(not np.array_equal(first, o) for o in other)


def test_rounding_never_sends_a_draw_to_a_trailing_zero_weight() -> None:
    # weights summing a hair under 1 (as normalised floats can): a point in the gap goes to the
    # last index of positive weight, not to the zero-weight index after it
    weights = np.array([0.5, 0.5 - 1e-12, 0.0])
    assert list(_inverse_cdf(weights, np.array([0.25, 0.75, 1 - 1e-13]))) == [0, 1, 1]


def test_effective_sample_size() -> None:
    assert effective_sample_size(np.full(8, 1 / 8)) == pytest.approx(8.0)
    assert effective_sample_size([0.0, 1.0, 0.0, 0.0]) == pytest.approx(1.0)
    # 1 / (0.5^2 + 0.25^2 + 0.25^2) = 1 / 0.375
    assert effective_sample_size([0.5, 0.25, 0.25]) == pytest.approx(8 / 3)
    assert effective_sample_size([2.0, 1.0, 1.0]) == pytest.approx(8 / 3)  # normalised first


def test_should_resample() -> None:
    uniform, skewed = np.full(4, 0.25), [0.7, 0.1, 0.1, 0.1]  # ESS 4 and 1 / 0.52 ~ 1.92
    assert should_resample(uniform, None) and should_resample(uniform, 1.0)
    assert not should_resample(uniform, 0.5)
    assert should_resample(skewed, 0.5) and not should_resample(skewed, 0.4)
    for bad in (0.0, -0.1, 1.5, math.nan):
        with pytest.raises(InvalidInputError, match="threshold"):
            should_resample(uniform, bad)


def test_softmax() -> None:
    assert softmax([0.0, 0.0]) == pytest.approx([0.5, 0.5])
    assert softmax([1000.0, 1000.0 + math.log(3)]) == pytest.approx([0.25, 0.75])
    assert softmax([-1000.0, 0.0]) == pytest.approx([0.0, 1.0])
    assert softmax([-math.inf, 0.0, 0.0]) == pytest.approx([0.0, 0.5, 0.5])
    assert softmax([-math.inf, -math.inf]) == pytest.approx([0.5, 0.5])
    assert softmax([math.inf, 5.0, math.inf]) == pytest.approx([0.5, 0.0, 0.5])
    assert softmax([2.0]) == pytest.approx([1.0])
    with pytest.raises(InvalidInputError, match="NaN"):
        softmax([0.0, math.nan])
    with pytest.raises(InvalidInputError, match="at least one"):
        softmax([])


def test_logit() -> None:
    assert logit(0.5) == pytest.approx(0.0)
    assert logit(0.75) == pytest.approx(math.log(3))
    assert logit(1.0) == pytest.approx(math.log((1 - 1e-6) / 1e-6))
    assert logit(0.0) == pytest.approx(-logit(1.0))
    assert logit(1.5) == logit(1.0) and logit(-2.0) == logit(0.0)
    assert logit(0.0, eps=0.1) == pytest.approx(math.log(1 / 9))
    with pytest.raises(InvalidInputError, match="NaN"):
        logit(math.nan)
    with pytest.raises(InvalidInputError, match="eps"):
        logit(0.5, eps=0.0)


@pytest.mark.parametrize(
    ("weights", "n", "scheme", "message"),
    [
        ([0.5, 0.5], 4, "bogus", "multinomial, systematic, stratified, residual"),
        ([0.5, 0.6], 4, "systematic", "sum to 1"),
        ([1.5, -0.5], 4, "systematic", "non-negative"),
        ([math.nan, 1.0], 4, "systematic", "NaN"),
        ([math.inf, 1.0], 4, "systematic", "infinity"),
        ([0.0, 0.0], 4, "systematic", "zero"),
        ([], 4, "systematic", "empty"),
        ([0.5, 0.5], 0, "systematic", ">= 1"),
        ([0.5, 0.5], 2.5, "systematic", ">= 1"),
        ([0.5, 0.5], True, "systematic", ">= 1"),
    ],
)
def test_invalid_input(weights: list[float], n: int, scheme: str, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        resample(weights, n, scheme, np.random.default_rng(0))
