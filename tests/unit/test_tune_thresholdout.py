"""Thresholdout against its definition (Dwork et al., Science 2015): answers, noise, budget, replay."""

from __future__ import annotations

import numpy as np
import pytest

from ponder.core.errors import InvalidInputError
from ponder.tune.thresholdout import DEFAULT_BUDGET, HoldoutBudgetExhausted, HoldoutQuery, Thresholdout


def test_without_noise_it_answers_train_within_the_threshold_and_holdout_beyond() -> None:
    t = Thresholdout(threshold=0.1, sigma=0.0, budget=10)
    assert t.query(0.50, 0.55) == 0.50  # |gap| 0.05 <= T: the train estimate
    assert t.query(0.50, 0.60) == 0.50  # |gap| == T is not a crossing (strict >)
    assert t.query(0.70, 0.50) == 0.50  # |gap| 0.2 > T: the holdout estimate
    assert t.query(0.30, 0.45) == 0.45
    assert [q.crossed for q in t.log] == [False, False, True, True]
    assert (t.queries, t.spent, t.overfit_detections, t.remaining, t.budget) == (4, 2, 2, 8, 10)


def test_noise_follows_the_algorithm_box() -> None:
    # the reference: the same generator, drawn in the documented order (gamma; then per query eta, xi, gamma)
    sigma, threshold, seed = 0.05, 0.04, 11
    rng = np.random.default_rng(seed)
    threshold_hat = threshold + rng.laplace(0.0, 2 * sigma)
    t = Thresholdout(threshold=threshold, sigma=sigma, budget=1000, seed=seed)
    gen = np.random.default_rng(5)
    crossings = 0
    for _ in range(200):
        train, holdout = float(gen.uniform(0.3, 0.7)), float(gen.uniform(0.3, 0.7))
        eta, xi, gamma = rng.laplace(0.0, 4 * sigma), rng.laplace(0.0, sigma), rng.laplace(0.0, 2 * sigma)
        if abs(holdout - train) > threshold_hat + eta:
            expected = holdout + xi
            threshold_hat = threshold + gamma
            crossings += 1
        else:
            expected = train
        assert t.query(train, holdout) == pytest.approx(expected, abs=0)
    assert 0 < crossings < 200
    assert t.spent == crossings and t.remaining == 1000 - crossings


def test_noisy_answers_are_clipped_to_the_unit_interval() -> None:
    """An accuracy cannot leave [0, 1]: a noisy holdout answer beyond either end is clipped (post-processing,
    so the guarantees stand), and everything else (threshold test, budget, draws) follows the algorithm box."""
    sigma, threshold, seed = 0.2, 0.0, 3
    rng = np.random.default_rng(seed)
    threshold_hat = threshold + rng.laplace(0.0, 2 * sigma)
    t = Thresholdout(threshold=threshold, sigma=sigma, budget=1000, seed=seed)
    low = high = 0
    for i in range(200):
        train, holdout = (0.0, 1.0) if i % 2 else (1.0, 0.0)
        eta, xi, gamma = rng.laplace(0.0, 4 * sigma), rng.laplace(0.0, sigma), rng.laplace(0.0, 2 * sigma)
        answer = t.query(train, holdout)
        assert 0.0 <= answer <= 1.0 and t.log[-1].answer == answer
        if abs(holdout - train) > threshold_hat + eta:
            raw = holdout + xi
            assert answer == min(1.0, max(0.0, raw))
            low, high = low + (raw < 0.0), high + (raw > 1.0)
            threshold_hat = threshold + gamma
        else:
            assert answer == train
    assert low > 10 and high > 10  # both ends were clipped


def test_replay_reproduces_every_answer_and_the_budget() -> None:
    gen = np.random.default_rng(0)
    queries = [(float(a), float(b)) for a, b in gen.uniform(0.2, 0.8, size=(60, 2))]
    first = Thresholdout(seed=7, budget=100)
    answers = [first.query(a, b) for a, b in queries]
    again = Thresholdout(seed=7, budget=100)
    assert again.replay(queries) == answers
    assert again.log == first.log and again.spent == first.spent and again.remaining == first.remaining
    # the state after a replayed prefix equals the state of the uninterrupted run
    resumed = Thresholdout(seed=7, budget=100)
    resumed.replay(queries[:25])
    assert [resumed.query(a, b) for a, b in queries[25:]] == answers[25:]
    other = Thresholdout(seed=8, budget=100)
    assert other.replay(queries) != answers


def test_crossings_spend_the_budget_and_exhaustion_raises() -> None:
    t = Thresholdout(threshold=0.0, sigma=0.0, budget=2)
    assert t.query(0.9, 0.1) == 0.1
    assert t.remaining == 1
    assert t.query(0.5, 0.5) == 0.5  # no crossing: free
    assert t.remaining == 1
    assert t.query(0.1, 0.9) == 0.9
    assert t.remaining == 0
    with pytest.raises(
        HoldoutBudgetExhausted, match=r"holdout budget is spent.*2 times \(budget 2\).*3 queries.*raise"
    ):
        t.query(0.5, 0.5)
    assert t.queries == 3  # the refused query is not logged
    assert isinstance(HoldoutBudgetExhausted("x"), InvalidInputError)


def test_log_records_each_query() -> None:
    t = Thresholdout(threshold=0.1, sigma=0.0)
    t.query(0.4, 0.9)
    assert t.log == [HoldoutQuery(train=0.4, holdout=0.9, answer=0.9, crossed=True)]
    assert t.budget == DEFAULT_BUDGET and (t.threshold, t.sigma, t.seed) == (0.1, 0.0, 0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"threshold": -0.1}, "threshold must be a number >= 0"),
        ({"sigma": -1.0}, "sigma"),
        ({"sigma": float("inf")}, "sigma .* must be finite"),
        ({"budget": 0}, "budget must be an integer >= 1"),
        ({"budget": 2.5}, "budget must be an integer >= 1"),
        ({"budget": True}, "budget must be an integer >= 1"),
        ({"seed": -1}, "seed must be an integer >= 0"),
    ],
)
def test_bad_arguments(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        Thresholdout(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(("train", "holdout"), [(1.2, 0.5), (0.5, -0.1), (float("nan"), 0.5), ("0.5", 0.5)])
def test_values_outside_unit_interval_are_refused(train: float, holdout: float) -> None:
    t = Thresholdout()
    with pytest.raises(InvalidInputError, match=r"value must be a number in \[0, 1\]"):
        t.query(train, holdout)
    assert t.queries == 0
