"""Thresholdout, the reusable holdout (Dwork, Feldman, Hardt, Pitassi, Reingold, Roth, "The reusable
holdout: Preserving validity in adaptive data analysis", Science 349(6248), 2015; the algorithm box
"Thresholdout").

The algorithm. Inputs: a threshold ``T``, a noise scale ``sigma``, a budget ``B``. Draw
``gamma ~ Lap(2 sigma)`` and set ``T_hat = T + gamma``. For each query ``phi`` (here: one
configuration, given as its accuracy on the training split and on the holdout split):

1. if the budget is spent (``B < 1``), refuse (:class:`HoldoutBudgetExhausted`; the paper outputs ⊥);
2. draw ``eta ~ Lap(4 sigma)``;
3. if ``|holdout(phi) - train(phi)| > T_hat + eta`` (the training estimate has overfit): draw
   ``xi ~ Lap(sigma)``, spend one unit (``B -= 1``), redraw ``T_hat = T + Lap(2 sigma)``, and
   answer ``holdout(phi) + xi``;
4. otherwise answer ``train(phi)``.

So the holdout is consulted for every query, but it is *revealed* (with noise) only when the
training estimate is off by more than the noisy threshold; the budget counts those revelations.

Clipping. A noisy answer ``holdout(phi) + xi`` can fall outside [0, 1] (a holdout accuracy of 1.0
plus positive noise), which no accuracy can be; ponder clips it to [0, 1]. The algorithm box does
not clip, but this changes none of its guarantees: clipping is post-processing of the mechanism's
output, which keeps its differential privacy (and so its generalisation guarantee), and since the
true accuracy lies in [0, 1], the clipped answer is never further from it than the raw one. The
budget, the threshold test and the noise draws are unchanged (:attr:`HoldoutQuery.answer` is the
clipped answer).

Defaults. ``T = 0.04`` and ``sigma = 0.01`` are the values of the paper's experiment ("Thresholdout
was invoked with T = 0.04 and tau = 0.01", tau being the noise scale, on a holdout of n = 10,000
points; the authors' experiment code writes them as ``4 / sqrt(n)`` and ``1 / sqrt(n)``, and draws
Gaussian noise where the algorithm box, followed here, draws Laplace noise). On a holdout of a few
hundred problems the sampling spread of a train - holdout gap (about 0.05 at 200 problems each)
exceeds ``T``, so a good share of queries cross the threshold by noise alone and spend budget;
``benchmarks/holdout_validity.py`` measures what that means for the reported scores.

Budget. The paper's guarantee ties ``B`` to the holdout size: the answers stay accurate to ``tau``
as long as ``n`` grows roughly like ``sqrt(B) * log(m / beta) / tau**2`` (``m`` queries, failure
probability ``beta``), so ``B`` may grow quadratically with ``n``. With its constants that bound
allows no budget at all at the holdout sizes ponder tunes on (hundreds of problems; the authors'
experiment code enforces none), so it cannot set the default. :data:`DEFAULT_BUDGET` is a
practical cap instead, set from what a search spends: at ``ponder tune mawps-singleop``'s split
(225 train / 169 holdout problems) about 40% of queries cross by noise alone at the default ``T``
and ``sigma`` (``benchmarks/holdout_validity.py``), so 64 lets a search of about 150
configurations finish (none of 200 simulated searches of 100 ran out), while a search that keeps
querying runs out and says so (90% of those of 200 did). Pass ``budget`` to change it.

Determinism (no deviation from the paper's distribution, only in the order of draws): the noise
comes from a ``numpy`` generator seeded with ``seed``; ``gamma`` is drawn at construction, and
every query then draws exactly three numbers, ``eta``, ``xi`` and the next ``gamma``, whether or
not it crosses (``xi`` and ``gamma`` are used only when it does). Replaying the same sequence of
``(train, holdout)`` queries on a fresh ``Thresholdout`` with the same arguments therefore
reproduces every answer and the budget exactly, which is how an interrupted search resumes.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import NamedTuple

import numpy as np

from ponder.core.errors import InvalidInputError

DEFAULT_THRESHOLD = 0.04  # the paper's experiment (n = 10,000: 4 / sqrt(n))
DEFAULT_SIGMA = 0.01  # the paper's experiment (n = 10,000: 1 / sqrt(n))
DEFAULT_BUDGET = 64  # a practical cap: see the module docstring


class HoldoutBudgetExhausted(InvalidInputError):
    """Thresholdout has revealed the holdout as often as its budget allows and refuses further queries."""


class HoldoutQuery(NamedTuple):
    """One answered query: the two estimates, the answer, and whether the threshold was crossed."""

    train: float
    holdout: float
    answer: float
    crossed: bool


def _check_number(value: float, name: str, *, low: float, high: float = math.inf) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        bound = f"in [{low:g}, {high:g}]" if math.isfinite(high) else f">= {low:g}"
        raise InvalidInputError(f"Thresholdout {name} must be a number {bound}, got {value!r}")
    if not math.isfinite(value):
        raise InvalidInputError(f"Thresholdout {name} must be finite, got {value!r}")
    return float(value)


class Thresholdout:
    """The reusable holdout (see the module docstring): answer ``train`` unless it is off from
    ``holdout`` by more than a noisy threshold, else a noisy ``holdout``, within a budget."""

    def __init__(
        self,
        *,
        threshold: float = DEFAULT_THRESHOLD,
        sigma: float = DEFAULT_SIGMA,
        budget: int = DEFAULT_BUDGET,
        seed: int = 0,
    ) -> None:
        self._threshold = _check_number(threshold, "threshold", low=0.0)
        self._sigma = _check_number(sigma, "sigma (noise scale)", low=0.0)
        if isinstance(budget, bool) or not isinstance(budget, int) or budget < 1:
            raise InvalidInputError(f"Thresholdout budget must be an integer >= 1, got {budget!r}")
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise InvalidInputError(f"Thresholdout seed must be an integer >= 0, got {seed!r}")
        self._budget = budget
        self._seed = seed
        self._rng = np.random.default_rng(seed)
        self._spent = 0
        self._threshold_hat = self._threshold + self._laplace(2 * self._sigma)
        self.log: list[HoldoutQuery] = []

    def _laplace(self, scale: float) -> float:
        return float(self._rng.laplace(0.0, scale))

    @property
    def threshold(self) -> float:
        """``T``, the threshold before noise."""
        return self._threshold

    @property
    def sigma(self) -> float:
        """The noise scale."""
        return self._sigma

    @property
    def seed(self) -> int:
        """The seed of the noise."""
        return self._seed

    @property
    def budget(self) -> int:
        """How many threshold crossings (holdout revelations) are allowed in all."""
        return self._budget

    @property
    def queries(self) -> int:
        """How many queries have been answered."""
        return len(self.log)

    @property
    def overfit_detections(self) -> int:
        """How many answered queries crossed the threshold (each spent one unit of budget)."""
        return self._spent

    @property
    def spent(self) -> int:
        """The budget spent so far (the same as :attr:`overfit_detections`)."""
        return self._spent

    @property
    def remaining(self) -> int:
        """The budget left."""
        return self._budget - self._spent

    def query(self, train_value: float, holdout_value: float) -> float:
        """Answer one query given a configuration's train and holdout accuracies (each in [0, 1]);
        the answer is in [0, 1] too (a noisy holdout answer is clipped).

        Raises :class:`HoldoutBudgetExhausted` once the budget is spent, and
        :class:`InvalidInputError` for a value outside [0, 1].
        """
        train = _check_number(train_value, "train value", low=0.0, high=1.0)
        holdout = _check_number(holdout_value, "holdout value", low=0.0, high=1.0)
        if self.remaining < 1:
            raise HoldoutBudgetExhausted(
                f"the holdout budget is spent: Thresholdout revealed the holdout {self._spent} times "
                f"(budget {self._budget}) over {self.queries} queries and answers no more, since further "
                f"answers would no longer be valid estimates; raise the budget (Thresholdout budget=..., "
                f"the tune run's holdout budget), or split off a fresh holdout"
            )
        eta = self._laplace(4 * self._sigma)
        xi = self._laplace(self._sigma)
        gamma = self._laplace(2 * self._sigma)
        crossed = abs(holdout - train) > self._threshold_hat + eta
        if crossed:
            self._spent += 1
            self._threshold_hat = self._threshold + gamma
            answer = min(1.0, max(0.0, holdout + xi))  # post-processing: see "Clipping" above
        else:
            answer = train
        self.log.append(HoldoutQuery(train, holdout, answer, crossed))
        return answer

    def replay(self, queries: Iterable[tuple[float, float]]) -> list[float]:
        """Answer each stored ``(train, holdout)`` query in order (on a fresh instance with the
        same arguments, this restores the state of an interrupted run exactly)."""
        return [self.query(train, holdout) for train, holdout in queries]
