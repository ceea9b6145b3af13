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
from ponder.sandbox.view import FILESYSTEM, Filesystem, filesystem_view

__all__ = [
    "FILESYSTEM",
    "Filesystem",
    "Isolation",
    "SandboxError",
    "SandboxLimits",
    "SandboxResult",
    "Status",
    "filesystem_view",
    "isolation_layers",
    "run_python",
]
