"""The OpenAI-compatible HTTP engine as a plugin: ``openai:BASE_URL[#MODEL]``."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ponder.core.errors import InvalidInputError
from ponder.core.params import param
from ponder.engines.base import Engine
from ponder.engines.http.profiles import PROFILES
from ponder.engines.plugin import EnginePlugin, required

FORM = "openai:BASE_URL[#MODEL]"


@dataclass(frozen=True)
class OpenAIOptions:
    """The options of :class:`~ponder.engines.http.OpenAIEngine` (empty or 0: the engine's default)."""

    base_url: str = required("the server, e.g. http://127.0.0.1:8000 (a trailing /v1 is fine)", local=True)
    model: str = param("", "the served model name (empty: the first one /v1/models lists)")
    api_key: str = param("", "the server's API key (empty: $PONDER_API_KEY or $OPENAI_API_KEY)")
    profile: str = param("auto", f"auto (detect) or one of {', '.join(PROFILES)}")
    chat_template: str = param("", "Jinja text or a .gguf path, to continue partial answers", local=True)
    concurrency: int = param(0, "most requests in flight (0: 1 for one-at-a-time servers, else 16)")
    timeout: float = param(
        300.0, "total seconds one request to the server may take, retries and waits included (--upstream-timeout)"
    )
    retries: int = param(3, "extra tries on 429, 5xx and dropped connections")
    backoff: float = param(0.5, "seconds before the first retry, doubling after")
    max_response_mb: float = param(64.0, "the most MiB one response (or one stream) may send")


def create(options: OpenAIOptions) -> Engine:
    """An :class:`~ponder.engines.http.OpenAIEngine`."""
    from ponder.engines.http.engine import OpenAIEngine

    if not (options.max_response_mb > 0 and math.isfinite(options.max_response_mb)):
        raise InvalidInputError(f"max_response_mb must be a number > 0, got {options.max_response_mb}")
    return OpenAIEngine(
        options.model or None,
        base_url=options.base_url,
        api_key=options.api_key or None,
        profile=options.profile,
        chat_template=options.chat_template or None,
        concurrency=options.concurrency or None,
        timeout=options.timeout,
        retries=options.retries,
        backoff=options.backoff,
        max_response_bytes=max(int(options.max_response_mb * 2**20), 1),  # at least a byte
    )


def parse_spec(target: str) -> dict[str, str]:
    """``BASE_URL[#MODEL]`` -> ``{"base_url": ..., "model": ...}``."""
    base_url, _, model = target.partition("#")
    if not base_url.startswith(("http://", "https://")) or base_url in ("http://", "https://"):
        raise InvalidInputError(f"needs a base URL starting with http:// or https:// after openai: ({FORM})")
    return {"base_url": base_url, **({"model": model} if model else {})}


PLUGIN = EnginePlugin(
    name="openai",
    summary="any OpenAI-compatible server: vLLM, SGLang, llama.cpp's servers, Ollama, OpenAI",
    Options=OpenAIOptions,
    factory=create,
    spec_option=None,
    parse_spec=parse_spec,
    spec_form=FORM,
)
