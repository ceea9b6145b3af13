"""A sandbox for untrusted Python (programs the model writes, unit tests): see :mod:`ponder.sandbox.sandbox`."""

from ponder.sandbox.sandbox import (
    Isolation,
    SandboxError,
    SandboxLimits,
    SandboxResult,
    Status,
    isolation_layers,
    run_python,
)

__all__ = ["Isolation", "SandboxError", "SandboxLimits", "SandboxResult", "Status", "isolation_layers", "run_python"]
