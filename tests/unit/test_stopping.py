"""Stopping rules of adaptive self-consistency."""

from __future__ import annotations

from itertools import pairwise
from math import comb

import pytest

from ponder.strategies.stopping import beta_leader_probability, dirichlet_leader_probability


def test_beta_four_to_nothing() -> None:
    assert beta_leader_probability(4, 0) == pytest.approx(31 / 32)


def test_beta_matches_the_binomial_formula() -> None:
    for leader in range(6):
        for runner_up in range(6):
            n = leader + runner_up + 1
            expected = sum(comb(n, j) for j in range(leader + 1)) / 2**n
            assert beta_leader_probability(leader, runner_up) == pytest.approx(expected)


@pytest.mark.parametrize("votes", [0, 1, 2, 5, 20])
def test_beta_tie_is_one_half(votes: int) -> None:
    assert beta_leader_probability(votes, votes) == pytest.approx(0.5)


@pytest.mark.parametrize("runner_up", [0, 1, 3])
def test_beta_grows_with_the_leaders_votes(runner_up: int) -> None:
    values = [beta_leader_probability(leader, runner_up) for leader in range(runner_up, runner_up + 10)]
    assert all(a < b for a, b in pairwise(values))
    assert all(0.0 <= v <= 1.0 for v in values)


def test_beta_shrinks_with_the_runner_ups_votes() -> None:
    values = [beta_leader_probability(8, runner_up) for runner_up in range(9)]
    assert all(a > b for a, b in pairwise(values))


def test_beta_complement() -> None:
    # P(leader ahead) + P(runner-up ahead) = 1 (the posterior is continuous).
    assert beta_leader_probability(5, 2) + beta_leader_probability(2, 5) == pytest.approx(1.0)


def test_dirichlet_is_seeded() -> None:
    first = dirichlet_leader_probability([5, 3, 1], seed=7)
    assert dirichlet_leader_probability([5, 3, 1], seed=7) == first
    values = {dirichlet_leader_probability([5, 3, 1], seed=s) for s in range(5)}
    assert len(values) > 1  # the seed does change the Monte Carlo draw


@pytest.mark.parametrize("votes", [[1], [10, 0, 0], [3, 3], [4, 2, 2, 1], [0, 0]])
def test_dirichlet_is_a_probability(votes: list[int]) -> None:
    assert 0.0 <= dirichlet_leader_probability(votes, seed=1) <= 1.0


def test_dirichlet_is_high_for_a_clear_leader() -> None:
    assert dirichlet_leader_probability([10, 0, 0], seed=3) > 0.95


def test_dirichlet_is_a_coin_flip_for_a_tie() -> None:
    assert 0.4 < dirichlet_leader_probability([3, 3], seed=3) < 0.6


def test_dirichlet_single_answer_is_not_certain() -> None:
    assert dirichlet_leader_probability([2], seed=0) < 1.0
    assert dirichlet_leader_probability([2], seed=0) == dirichlet_leader_probability([2, 0], seed=0)


def test_dirichlet_grows_with_the_lead() -> None:
    weak = dirichlet_leader_probability([3, 2], seed=11)
    strong = dirichlet_leader_probability([8, 2], seed=11)
    assert strong > weak
