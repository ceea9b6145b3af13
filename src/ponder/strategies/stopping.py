"""Stopping rules for adaptive sampling: how likely is the leading answer to stay ahead?

- ``beta`` (Aggarwal et al. 2023, Adaptive-Consistency): with v1 votes for the leader and v2 for
  the runner-up and a uniform prior, p = p1 / (p1 + p2) ~ Beta(v1 + 1, v2 + 1), and
  P(p > 1/2) = P(Binomial(v1 + v2 + 1, 1/2) <= v1), computed exactly.
- ``dirichlet``: the vote shares of all answers seen ~ Dirichlet(votes + 1); P(the leader's
  share is the largest) by seeded Monte Carlo.
"""

from __future__ import annotations

from collections.abc import Sequence
from math import comb

import numpy as np


def beta_leader_probability(leader: int, runner_up: int) -> float:
    """P(the leader's true share exceeds the runner-up's) under the Beta posterior."""
    n = leader + runner_up + 1
    return sum(comb(n, j) for j in range(leader + 1)) / 2**n


def dirichlet_leader_probability(votes: Sequence[int], seed: int, draws: int = 4000) -> float:
    """P(the most voted answer has the largest share) under Dirichlet(votes + 1)."""
    if len(votes) < 2:
        votes = list(votes) + [0]  # an unseen alternative keeps a single answer from being certain
    counts = np.asarray(votes, dtype=float)
    shares = np.random.default_rng(seed).dirichlet(counts + 1.0, size=draws)
    return float((shares.argmax(axis=1) == int(counts.argmax())).mean())
