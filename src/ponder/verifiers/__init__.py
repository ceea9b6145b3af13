"""Verifiers that execute: a sandbox for untrusted Python, and unit tests run in it."""

from ponder.verifiers.sandbox import (
    Isolation, SandboxError, SandboxLimits, SandboxResult, Status, isolation_layers, run_python,
)
from ponder.verifiers.unit_tests import (
    TestOutcome, UnitTestVerifier, check_solution, describe_failure, extract_code,
)

__all__ = [
    "Isolation", "SandboxError", "SandboxLimits", "SandboxResult", "Status", "TestOutcome",
    "UnitTestVerifier", "check_solution", "describe_failure", "extract_code", "isolation_layers",
    "run_python",
]
