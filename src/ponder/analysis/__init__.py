"""Analyses that turn measurements into decisions (budgets, ceilings)."""

from ponder.analysis.verifiers import VerifierAnalysis, resampling_with_verifier

__all__ = ["VerifierAnalysis", "resampling_with_verifier"]
