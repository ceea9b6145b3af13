"""Analyses that turn measurements into decisions: cheap curves, saturation budgets, verifier ceilings."""

from ponder.analysis.curves import (
    BEST_OF_K,
    METHODS,
    PASS_AT_K,
    SELF_CONSISTENCY,
    CurvePoint,
    Sample,
    curves,
    pass_at_k,
    per_problem_curves,
)
from ponder.analysis.saturation import (
    ScalingModel,
    fit_scaling,
    marginal_gain,
    parallel,
    saturation_budget,
    scaling_curve,
    sequential,
)
from ponder.analysis.verifiers import VerifierAnalysis, resampling_with_verifier

__all__ = [
    "BEST_OF_K",
    "CurvePoint",
    "METHODS",
    "PASS_AT_K",
    "SELF_CONSISTENCY",
    "Sample",
    "ScalingModel",
    "VerifierAnalysis",
    "curves",
    "fit_scaling",
    "marginal_gain",
    "parallel",
    "pass_at_k",
    "per_problem_curves",
    "resampling_with_verifier",
    "saturation_budget",
    "scaling_curve",
    "sequential",
]
