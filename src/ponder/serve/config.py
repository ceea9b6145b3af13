"""Server settings: limits and defaults, fixed at start-up (requests never change them)."""

from __future__ import annotations

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
    so far; ``max_body_bytes`` caps a request body. Strategy options that name a file, folder or
    URL of this machine are refused from clients, except ``prm``: the self-evaluation PRM, or one
    of the PRM specs in ``prms`` that the operator allowed (``ponder serve --prm SPEC``).
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

    def __post_init__(self) -> None:
        for name in (
            "default_budget",
            "default_max_tokens",
            "max_tokens_cap",
            "max_budget",
            "max_n",
            "max_concurrent",
            "max_body_bytes",
        ):
            if getattr(self, name) < 1:
                raise InvalidInputError(f"{name} must be >= 1")
        if self.default_budget > self.max_budget:  # else every request without a budget is refused
            raise InvalidInputError(f"default_budget {self.default_budget} exceeds max_budget {self.max_budget}")
        if self.default_max_tokens > self.max_tokens_cap:
            raise InvalidInputError(
                f"default_max_tokens {self.default_max_tokens} exceeds max_tokens_cap {self.max_tokens_cap}"
            )
        if self.request_timeout <= 0:
            raise InvalidInputError("request_timeout must be > 0")
        if "::" in self.model_name:
            raise InvalidInputError("the served model name must not contain '::' (the alias separator)")

    @classmethod
    def with_env_key(cls, **options: Any) -> ServeConfig:
        """Settings whose API key, when not given, comes from ``$PONDER_SERVE_API_KEY``."""
        if options.get("api_key") is None:
            options["api_key"] = os.environ.get(API_KEY_VARIABLE) or None
        return cls(**options)
