"""Server settings: limits and defaults, fixed at start-up (requests never change them)."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ponder.core.errors import InvalidInputError
from ponder.registry import load_pipeline
from ponder.scorers import SCORERS

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

    ``default_pipeline`` (``ponder serve --pipeline FILE``: the config's data, read by the operator;
    clients never name a file) is what requests that name no strategy (in ``ponder.strategy`` or a
    ``MODEL::STRATEGY`` alias), or name ``pipeline``, run, at the budget it can spend unless the
    request sets one; it is
    validated here (its ``model`` keys must be engine specs, its scorers built-in ones).

    ``memory`` (``ponder serve --memory FILE``; the operator's, never a client's) is a concept
    memory file every request reads (``memory_selection``: ``lexical`` or ``model``); runs write to
    it only with ``memory_write="confident"`` (nothing a server runs is verified, so the default
    is ``never``): when the winning answer holds at least 0.8 of the vote. The memory is shared by
    every client (concepts learned from one client's questions reach the others' prompts).
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
    default_pipeline: Mapping[str, Any] | None = field(default=None, compare=False)
    memory: str | None = None
    memory_write: str = "never"
    memory_selection: str = "lexical"

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
        if self.memory_write not in ("never", "confident"):
            raise InvalidInputError(f"memory_write must be never or confident, got {self.memory_write!r}")
        if self.memory_selection not in ("lexical", "model"):
            raise InvalidInputError(f"memory_selection must be lexical or model, got {self.memory_selection!r}")
        if "::" in self.model_name:
            raise InvalidInputError("the served model name must not contain '::' (the alias separator)")
        if self.default_pipeline is not None and self.pipeline_budget() > self.max_budget:
            raise InvalidInputError(
                f"the pipeline can spend {self.pipeline_budget()} generations, over max_budget {self.max_budget}"
            )

    def pipeline_budget(self) -> int:
        """The generations :attr:`default_pipeline` can spend (validating it); 0 without one."""
        if self.default_pipeline is None:
            return 0
        return load_pipeline(self.default_pipeline, scorers=SCORERS, engines=()).generations()

    @classmethod
    def with_env_key(cls, **options: Any) -> ServeConfig:
        """Settings whose API key, when not given, comes from ``$PONDER_SERVE_API_KEY``."""
        if options.get("api_key") is None:
            options["api_key"] = os.environ.get(API_KEY_VARIABLE) or None
        return cls(**options)
