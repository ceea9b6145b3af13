"""Verifiers that execute: unit tests run in the sandbox (:mod:`ponder.sandbox`), scored as a verifier."""

from ponder.verifiers.unit_tests import (
    TestOutcome,
    UnitTestVerifier,
    check_solution,
    describe_failure,
    extract_code,
)

__all__ = ["TestOutcome", "UnitTestVerifier", "check_solution", "describe_failure", "extract_code"]
