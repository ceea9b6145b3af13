"""Typed errors. Every error ponder raises on purpose derives from :class:`PonderError`.

The CLI and the server turn a ``PonderError`` into a one-line message (and an exit code or an
HTTP status); anything else escaping is a bug.
"""

from __future__ import annotations


class PonderError(Exception):
    """Base class of all errors that ponder raises deliberately."""


class InvalidInputError(PonderError, ValueError):
    """A caller passed a value that cannot work (empty question, budget < 1, ...)."""


class EngineError(PonderError):
    """An engine could not serve a request."""


class ModelNotFoundError(EngineError):
    """The model file or name does not exist or cannot be read."""


class InvalidModelError(EngineError):
    """The model exists but cannot be loaded (not a GGUF file, corrupt, unsupported)."""


class ContextOverflowError(EngineError):
    """A prompt (plus what must be generated) does not fit the model's context."""


class BackendUnavailableError(EngineError):
    """The backend is missing (package not installed) or not reachable."""


class EngineTimeoutError(EngineError):
    """The backend did not answer in time (after any retries)."""


class UpstreamError(EngineError):
    """A model server answered with an error or with something that is not a valid response."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class UnknownNameError(PonderError, LookupError):
    """A strategy, engine or model name is not registered."""
