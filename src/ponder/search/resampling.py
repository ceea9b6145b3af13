"""Resampling schemes for particle filtering, with one shared signature.

A resampler takes normalised weights ``w`` (length N), a number of draws ``n`` and a seeded
``numpy.random.Generator`` and returns ``n`` ancestor indices, sorted ascending. Each scheme is
unbiased: index ``i`` gets ``n * w_i`` offspring in expectation. They differ in the variance of
the offspring counts (Douc & Cappé 2005, "Comparison of resampling schemes for particle
filtering"):

- ``multinomial``: ``n`` independent draws from ``w`` (the plain scheme; highest variance).
- ``stratified``: one uniform in each stratum ``[k/n, (k+1)/n)``, mapped through the CDF of ``w``.
- ``systematic``: a single uniform ``U``; the points ``(U + k) / n`` mapped through the CDF, so
  every index gets ``floor(n * w_i)`` or ``ceil(n * w_i)`` offspring.
- ``residual``: ``floor(n * w_i)`` deterministic copies of each index, then the remaining
  ``n - sum(floor(n * w_i))`` drawn by *multinomial* resampling from the residual weights
  ``n * w_i - floor(n * w_i)`` (normalised).

Puri et al. 2025 ("A probabilistic inference approach to inference-time scaling of LLMs using
particle-based Monte Carlo methods") resample at every step, multinomially (their code draws with
``numpy.random.choice``), from the softmax of the particle log weights. Resampling only when the
effective sample size ``ESS = 1 / sum(w_i^2)`` falls below a fraction of N (:func:`should_resample`)
is the usual adaptive refinement of sequential Monte Carlo; the weights a skipped resampling does
not reset must then keep multiplying (``w_t = w_(t-1) G_t``, see
:mod:`ponder.strategies.particle_filtering`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from ponder.core.errors import InvalidInputError

Resampler = Callable[[np.ndarray, int, np.random.Generator], np.ndarray]
"""(normalised weights, n, rng) -> ``n`` ancestor indices (int array, sorted ascending)."""

SUM_TOLERANCE = 1e-6


def softmax(logits: Sequence[float]) -> np.ndarray:
    """Normalised weights ``exp(l_i) / sum exp(l_j)``, computed stably.

    ``-inf`` logits get weight 0; if every logit is ``-inf`` the weights are uniform; ``+inf``
    logits share all the weight equally (the limit). NaN logits are rejected.
    """
    x = np.asarray(logits, dtype=float).reshape(-1)
    if x.size == 0:
        raise InvalidInputError("softmax needs at least one logit")
    if np.isnan(x).any():
        raise InvalidInputError("softmax got a NaN logit")
    if np.isposinf(x).any():
        x = np.where(np.isposinf(x), 0.0, -np.inf)
    if np.isneginf(x).all():
        return np.full(x.size, 1.0 / x.size)
    e = np.exp(x - x.max())
    return e / e.sum()


def logit(p: float, eps: float = 1e-6) -> float:
    """``log(p / (1 - p))`` with ``p`` clipped to ``[eps, 1 - eps]`` so 0 and 1 stay finite."""
    if not 0.0 < eps < 0.5:
        raise InvalidInputError(f"logit eps must be in (0, 0.5), got {eps}")
    if math.isnan(p):
        raise InvalidInputError("logit got a NaN probability")
    q = min(max(float(p), eps), 1.0 - eps)
    return math.log(q / (1.0 - q))


def _weights(weights: Sequence[float] | np.ndarray) -> np.ndarray:
    """Check non-negative finite weights with a positive sum; return them normalised."""
    w = np.asarray(weights, dtype=float).reshape(-1)
    if w.size == 0:
        raise InvalidInputError("weights are empty")
    if not np.isfinite(w).all():
        raise InvalidInputError("weights contain NaN or infinity")
    if (w < 0).any():
        raise InvalidInputError(f"weights must be non-negative, got minimum {w.min()}")
    total = w.sum()
    if total <= 0:
        raise InvalidInputError("weights sum to zero")
    return w / total


def effective_sample_size(weights: Sequence[float] | np.ndarray) -> float:
    """``1 / sum(w_i^2)`` of the normalised weights: N for uniform weights, 1 for one-hot."""
    w = _weights(weights)
    return float(1.0 / np.sum(w * w))


def should_resample(weights: Sequence[float] | np.ndarray, threshold: float | None) -> bool:
    """Whether to resample: ``threshold`` None or 1 means always; else ``ESS < threshold * N``.

    ``threshold`` must lie in (0, 1]; e.g. 0.5 resamples once the ESS falls below half the
    particles.
    """
    if threshold is None or threshold == 1.0:
        return True
    if not 0.0 < threshold < 1.0:
        raise InvalidInputError(f"resampling threshold must be in (0, 1] or None, got {threshold}")
    w = _weights(weights)
    return effective_sample_size(w) < threshold * w.size


def _inverse_cdf(weights: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Index ``i`` with ``C[i-1] <= u < C[i]`` for each point ``u`` in [0, 1) (C: the CDF).

    Rounding can leave the sum of the weights a hair under 1; a point in that gap goes to the
    last index of positive weight, never to a zero-weight index after it.
    """
    cdf = np.cumsum(weights)
    cdf[-1] = 1.0
    idx = np.searchsorted(cdf, points, side="right")
    last = int(np.flatnonzero(weights > 0)[-1])
    return np.minimum(idx, last).astype(np.int64)


def multinomial(weights: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` independent draws from the categorical distribution ``weights``."""
    return np.sort(_inverse_cdf(weights, rng.random(n)))


def stratified(weights: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """One uniform draw in each stratum ``[k/n, (k+1)/n)``, mapped through the CDF."""
    return _inverse_cdf(weights, (np.arange(n) + rng.random(n)) / n)


def systematic(weights: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """The comb ``(U + k) / n`` for a single uniform ``U``, mapped through the CDF."""
    return _inverse_cdf(weights, (np.arange(n) + rng.random()) / n)


def residual(weights: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``floor(n * w_i)`` copies of each index, the rest multinomial on the residual weights."""
    scaled = n * weights
    copies = np.floor(scaled).astype(np.int64)
    rest = n - int(copies.sum())
    kept = np.repeat(np.arange(weights.size, dtype=np.int64), copies)
    if rest <= 0:
        return kept[:n]
    leftover = scaled - copies
    drawn = multinomial(leftover / leftover.sum(), rest, rng)
    return np.sort(np.concatenate([kept, drawn]))


RESAMPLERS: dict[str, Resampler] = {
    "multinomial": multinomial,
    "systematic": systematic,
    "stratified": stratified,
    "residual": residual,
}


def resample(weights: Sequence[float] | np.ndarray, n: int, scheme: str, rng: np.random.Generator) -> np.ndarray:
    """Draw ``n`` ancestor indices from normalised ``weights`` with the named scheme."""
    sampler = RESAMPLERS.get(scheme)
    if sampler is None:
        choices = ", ".join(RESAMPLERS)
        raise InvalidInputError(f"unknown resampling scheme {scheme!r}; choose one of {choices}")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise InvalidInputError(f"number of draws must be an integer >= 1, got {n!r}")
    w = _weights(weights)
    total = float(np.sum(np.asarray(weights, dtype=float)))
    if abs(total - 1.0) > SUM_TOLERANCE:
        raise InvalidInputError(f"weights must be normalised (sum to 1), got sum {total:.6g}")
    return sampler(w, int(n), rng)
