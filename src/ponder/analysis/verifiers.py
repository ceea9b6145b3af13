"""Resampling against an imperfect verifier (Stroebl et al. 2024, "Inference Scaling fLaws").

Policy: draw samples one at a time, up to k, and return the first that the verifier passes;
abstain if none passes. For a problem whose single sample is correct with probability p, a
verifier with completeness c = P(pass | correct) and soundness s = P(reject | incorrect) passes
a sample with probability q = p c + (1 - p)(1 - s). With k samples the policy returns a correct
answer with probability (p c / q)(1 - (1 - q)^k), a false positive with probability
((1 - p)(1 - s) / q)(1 - (1 - q)^k), and abstains otherwise. As k grows, accuracy rises only to
the ceiling p c / q = P(correct | pass): resampling cannot beat the verifier's precision.

Utility counts +1 per correct answer, -C per false positive (``false_positive_cost``), 0 per
abstention, minus ``sample_cost`` per sample drawn. Averaged over problems with different p, the
utility-maximising k is finite, and small when false positives are expensive: problems the model
rarely solves contribute mostly false positives as k grows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ponder.core.errors import InvalidInputError


@dataclass(frozen=True)
class VerifierAnalysis:
    """Accuracy and utility of resample-until-pass for k = 1..max_samples (index k - 1)."""

    ceiling: float  # accuracy as k -> infinity, averaged over problems
    accuracy: tuple[float, ...]
    false_positive_rate: tuple[float, ...]
    expected_samples: tuple[float, ...]
    utility: tuple[float, ...]
    best_samples: int  # k with the highest utility (0: abstaining beats any k)


def _check_probability(name: str, value: float) -> None:
    if not 0 <= value <= 1:
        raise InvalidInputError(f"{name} must be in [0, 1], got {value}")


def resampling_with_verifier(
    success_rates: Sequence[float],
    *,
    completeness: float,
    soundness: float,
    false_positive_cost: float = 1.0,
    sample_cost: float = 0.0,
    max_samples: int = 64,
) -> VerifierAnalysis:
    """Analyse resample-until-pass over problems with single-sample success ``success_rates``."""
    if not success_rates:
        raise InvalidInputError("success_rates is empty: measure p on at least one problem")
    for p in success_rates:
        _check_probability("a success rate", p)
    _check_probability("completeness", completeness)
    _check_probability("soundness", soundness)
    if false_positive_cost < 0 or sample_cost < 0 or max_samples < 1:
        raise InvalidInputError("costs must be >= 0 and max_samples >= 1")
    n = len(success_rates)
    accuracy, false_pos, samples, utility = [], [], [], []
    ceiling = 0.0
    for p in success_rates:
        q = p * completeness + (1 - p) * (1 - soundness)
        ceiling += p * completeness / q if q > 0 else 0.0
    for k in range(1, max_samples + 1):
        right = wrong = drawn = 0.0
        for p in success_rates:
            q = p * completeness + (1 - p) * (1 - soundness)
            if q == 0:
                drawn += k
                continue
            returned = 1 - (1 - q) ** k
            right += p * completeness / q * returned
            wrong += (1 - p) * (1 - soundness) / q * returned
            drawn += returned / q  # E[min(K, geometric)] = (1 - (1 - q)^k) / q
        accuracy.append(right / n)
        false_pos.append(wrong / n)
        samples.append(drawn / n)
        utility.append((right - false_positive_cost * wrong - sample_cost * drawn) / n)
    best = max(range(max_samples), key=lambda i: utility[i])
    return VerifierAnalysis(
        ceiling=ceiling / n,
        accuracy=tuple(accuracy),
        false_positive_rate=tuple(false_pos),
        expected_samples=tuple(samples),
        utility=tuple(utility),
        best_samples=best + 1 if utility[best] > 0 else 0,
    )
