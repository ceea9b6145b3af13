"""Saturation budgets for parallel and sequential scaling (Wang et al. 2025, "Scaling over Scaling",
the Test-Time Scaling Performance Model, TTSPM).

Parallel scaling draws N independent samples; if one sample succeeds with probability p, at least
one of N succeeds with probability 1 - (1 - p)^N. Sequential scaling revises one answer for N
rounds; if each round turns a wrong answer right with probability p and a right answer stays
right (an absorbing state), the answer is right after N rounds with probability 1 - (1 - p)^N.
Both paradigms have the paper's functional form

    F(N) = F_max * (1 - (1 - p)^N),

and differ only in what p is (the single-sample success for parallel, the single-round rethink
success for sequential) and in the ceiling F_max (what the selection step or the revision loop
can reach at most: 1 for pass@N, the measured pass@large or a known bound otherwise). So this
module has one model; :func:`parallel` and :func:`sequential` build it with their own measured p
and F_max, and label the budget unit (samples or rounds).

The gain of one more step is F(N + 1) - F(N) = F_max * p * (1 - p)^N, decreasing in N. The
saturation budget N* is the smallest N whose next step gains no more than epsilon:

    N* = max(0, ceil(log(epsilon / (F_max p)) / log(1 - p))),

which is 0 when F_max p <= epsilon (even the first step gains too little, p == 0 included) and 1
when p == 1 and F_max > epsilon (one step reaches the ceiling). The closed form is checked
against the gain itself, so floating-point rounding cannot move N* by one.

:func:`fit_scaling` fits (p, F_max) to measured (budget, accuracy) points by least squares: for a
fixed p the model is linear in F_max, so the best F_max in [0, 1] is closed-form, and p is found
by a log-spaced grid over (0, 1], refined around the best point. Averaged over problems with
different p, accuracy is a mixture of such curves, not one; the fitted p is the effective one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ponder.core.errors import InvalidInputError

_GRID_POINTS = 2001
_SMALLEST_P = 1e-6
_REFINEMENTS = 4


def _check_fraction(name: str, value: float) -> None:
    if not 0 <= value <= 1:  # NaN fails too
        raise InvalidInputError(f"{name} must be in [0, 1], got {value}")


def _check_budget(budget: float) -> None:
    if not budget >= 0 or math.isinf(budget):
        raise InvalidInputError(f"a budget must be a finite number >= 0, got {budget}")


def scaling_curve(p: float, ceiling: float, budgets: Sequence[float]) -> list[float]:
    """F(N) = ceiling * (1 - (1 - p)^N) for each budget N."""
    _check_fraction("p", p)
    _check_fraction("ceiling", ceiling)
    for budget in budgets:
        _check_budget(budget)
    return [ceiling * (1.0 - (1.0 - p) ** budget) for budget in budgets]


def marginal_gain(p: float, ceiling: float, budget: int) -> float:
    """F(N + 1) - F(N) = ceiling * p * (1 - p)^N: what step N + 1 adds."""
    _check_fraction("p", p)
    _check_fraction("ceiling", ceiling)
    _check_budget(budget)
    return ceiling * p * (1.0 - p) ** budget


def saturation_budget(p: float, ceiling: float, epsilon: float) -> int:
    """The smallest N >= 0 with F(N + 1) - F(N) <= epsilon."""
    _check_fraction("p", p)
    _check_fraction("ceiling", ceiling)
    if not epsilon > 0:
        raise InvalidInputError(f"epsilon must be > 0, got {epsilon}")
    first = ceiling * p
    if first <= epsilon:
        return 0
    if p == 1:
        return 1

    def gain(n: int) -> float:
        return first * math.exp(n * math.log1p(-p))

    n = max(0, math.ceil(math.log(epsilon / first) / math.log1p(-p)))
    while n > 0 and gain(n - 1) <= epsilon:
        n -= 1
    while gain(n) > epsilon:
        n += 1
    return n


@dataclass(frozen=True)
class ScalingModel:
    """F(N) = ceiling * (1 - (1 - p)^N); ``unit`` names what N counts and changes no number."""

    p: float
    ceiling: float
    unit: str = "samples"

    def __post_init__(self) -> None:
        _check_fraction("p", self.p)
        _check_fraction("ceiling", self.ceiling)

    def accuracy(self, budget: float) -> float:
        return scaling_curve(self.p, self.ceiling, [budget])[0]

    def curve(self, budgets: Sequence[float]) -> list[float]:
        return scaling_curve(self.p, self.ceiling, budgets)

    def marginal_gain(self, budget: int) -> float:
        return marginal_gain(self.p, self.ceiling, budget)

    def saturation_budget(self, epsilon: float) -> int:
        return saturation_budget(self.p, self.ceiling, epsilon)


def parallel(p: float, ceiling: float = 1.0) -> ScalingModel:
    """N independent samples; ``p`` is the measured single-sample success, ``ceiling`` what the
    selection step reaches at most (1 for pass@N)."""
    return ScalingModel(p, ceiling, "samples")


def sequential(p: float, ceiling: float = 1.0) -> ScalingModel:
    """N rounds of revision; ``p`` is the measured chance that one round turns a wrong answer
    right, ``ceiling`` what the revision loop reaches at most."""
    return ScalingModel(p, ceiling, "rounds")


def _best_ceilings(gains: np.ndarray, accuracies: np.ndarray, ceiling: float | None) -> np.ndarray:
    """Least-squares ceiling in [0, 1] for each row of ``gains`` (1 - (1 - p)^N per budget)."""
    if ceiling is not None:
        return np.full(len(gains), ceiling)
    norms = (gains * gains).sum(axis=1)
    dots = gains @ accuracies
    return np.clip(np.divide(dots, norms, out=np.zeros_like(dots), where=norms > 0), 0.0, 1.0)


def _errors(
    ps: np.ndarray, budgets: np.ndarray, accuracies: np.ndarray, ceiling: float | None
) -> tuple[np.ndarray, np.ndarray]:
    """Sum of squared residuals and best ceiling for each p in ``ps``."""
    gains = 1.0 - np.power(1.0 - ps[:, None], budgets[None, :])
    ceilings = _best_ceilings(gains, accuracies, ceiling)
    residuals = ceilings[:, None] * gains - accuracies[None, :]
    return (residuals * residuals).sum(axis=1), ceilings


def fit_scaling(
    budgets: Sequence[float], accuracies: Sequence[float], *, ceiling: float | None = None
) -> tuple[float, float]:
    """Least-squares (p, ceiling) of F(N) = ceiling * (1 - (1 - p)^N) through measured points.

    Pass ``ceiling`` when it is known (a measured pass@large, a bound) to fit p alone.
    """
    if len(budgets) != len(accuracies):
        raise InvalidInputError(f"{len(budgets)} budgets for {len(accuracies)} accuracies")
    for budget in budgets:
        _check_budget(budget)
    for accuracy in accuracies:
        _check_fraction("an accuracy", accuracy)
    if ceiling is not None:
        _check_fraction("ceiling", ceiling)
    needed = 1 if ceiling is not None else 2
    if len({b for b in budgets if b > 0}) < needed:
        raise InvalidInputError(
            f"fitting needs accuracies at {needed} or more distinct budgets > 0 (F(0) = 0 says nothing)"
        )
    n = np.asarray(budgets, dtype=float)
    a = np.asarray(accuracies, dtype=float)
    grid = np.geomspace(_SMALLEST_P, 1.0, _GRID_POINTS)
    best_error, best_p, best_ceiling = math.inf, 1.0, 0.0
    for _ in range(_REFINEMENTS + 1):
        errors, ceilings = _errors(grid, n, a, ceiling)
        best = int(np.argmin(errors))
        if errors[best] < best_error:
            best_error, best_p, best_ceiling = float(errors[best]), float(grid[best]), float(ceilings[best])
        grid = np.linspace(grid[max(best - 1, 0)], grid[min(best + 1, len(grid) - 1)], 201)
    return best_p, best_ceiling
