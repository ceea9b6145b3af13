"""Server settings: limits and defaults, fixed at start-up (requests never change them)."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

from ponder.core.errors import InvalidInputError

API_KEY_VARIABLE = "PONDER_SERVE_API_KEY"


@dataclass(frozen=True)
class ServeConfig:
    """Limits and defaults of ``ponder serve``.

    ``api_key`` (default ``$PONDER_SERVE_API_KEY``) guards every endpoint but ``/health``.
    ``max_budget`` caps generations per request (times ``n``); ``max_concurrent`` runs execute
    at once, more get 429; ``request_timeout`` seconds after which a run returns its best answer
    so far; a run still going ``timeout_grace`` seconds later (stuck in work it cannot leave) is
    cancelled and answered with 504. ``max_body_bytes`` caps a request body. Strategy options that
    name a file, folder or URL of this machine are refused from clients, except ``prm``: the
    self-evaluation PRM, or one of the PRM specs in ``prms`` that the operator allowed
    (``ponder serve --prm SPEC``). With ``code_execution`` off, requests whose run would execute
    model-written code are refused (:mod:`ponder.serve.code_policy`). A stream that has sent
    nothing for ``keep_alive`` seconds sends a ``: keep-alive`` comment.

    Connections (applied by :func:`ponder.serve.connections.uvicorn_config`): a client must send
    a request's headers within ``header_timeout`` seconds and its body within ``body_timeout``
    seconds after them, else it gets 408 and is disconnected; past ``max_connections`` open
    connections, requests get 503.
    """

    model_name: str = "ponder"
    api_key: str | None = None
    default_strategy: str = "self-consistency"
    default_budget: int = 4
    default_max_tokens: int = 512
    max_tokens_cap: int = 4096
    max_budget: int = 64
    max_n: int = 8
    max_concurrent: int = 4
    request_timeout: float = 300.0
    max_body_bytes: int = 1_000_000
    prms: tuple[str, ...] = ()
    timeout_grace: float = 2.0
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    max_connections: int = 100
    code_execution: bool = True
    keep_alive: float = 15.0

    def __post_init__(self) -> None:
        for name in (
            "default_budget",
            "default_max_tokens",
            "max_tokens_cap",
            "max_budget",
            "max_n",
            "max_concurrent",
            "max_body_bytes",
            "max_connections",
        ):
            if getattr(self, name) < 1:
                raise InvalidInputError(f"{name} must be >= 1")
        if self.default_budget > self.max_budget:  # else every request without a budget is refused
            raise InvalidInputError(f"default_budget {self.default_budget} exceeds max_budget {self.max_budget}")
        if self.default_max_tokens > self.max_tokens_cap:
            raise InvalidInputError(
                f"default_max_tokens {self.default_max_tokens} exceeds max_tokens_cap {self.max_tokens_cap}"
            )
        for name in ("request_timeout", "timeout_grace", "header_timeout", "body_timeout", "keep_alive"):
            seconds = getattr(self, name)
            if not (math.isfinite(seconds) and seconds > 0):
                raise InvalidInputError(f"{name} must be a number of seconds > 0, got {seconds}")
        if "::" in self.model_name:
            raise InvalidInputError("the served model name must not contain '::' (the alias separator)")

    @classmethod
    def with_env_key(cls, **options: Any) -> ServeConfig:
        """Settings whose API key, when not given, comes from ``$PONDER_SERVE_API_KEY``."""
        if options.get("api_key") is None:
            options["api_key"] = os.environ.get(API_KEY_VARIABLE) or None
        return cls(**options)
