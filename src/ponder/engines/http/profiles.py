"""Endpoint profiles: what each OpenAI-compatible server accepts, as facts, apart from the engine.

``continuation`` says how a partial assistant answer is continued:
- ``continue_final_message``: chat completions with the partial answer as the last assistant
  message and ``continue_final_message=true, add_generation_prompt=false`` (vLLM, SGLang);
- ``template``: the text-completions endpoint with the chat template applied by ponder (servers
  that always start a new reply: llama.cpp's servers, Ollama, hosted OpenAI-style APIs - the
  template comes from ``chat_template=``, a GGUF file, or llama-server's ``/props``).

``streams`` says the server sends ``"stream": true`` replies as server-sent events and aborts a
request whose stream the client closes (vLLM, SGLang, both llama.cpp servers, Ollama, OpenAI);
``generic`` assumes neither, so an unknown server gets whole completions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from ponder.core.errors import UnknownNameError

Continuation = Literal["continue_final_message", "template"]


@dataclass(frozen=True)
class EndpointProfile:
    """The differences between OpenAI-compatible servers that ponder must respect."""

    name: str
    supports_n: bool  # honours n > 1 in one request
    max_tokens_field: str  # "max_tokens" or "max_completion_tokens"
    continuation: Continuation
    supports_seed: bool
    supports_logprobs: bool
    reports_cached_tokens: bool  # usage.prompt_tokens_details.cached_tokens
    completions_endpoint: bool  # has /v1/completions
    serves_one_at_a_time: bool  # more concurrent requests only queue
    streams: bool = False  # "stream": true sends server-sent events, and closing one aborts its request
    stream_usage: bool = False  # honours stream_options.include_usage (a last chunk with the usage)
    notes: str = ""


PROFILES: dict[str, EndpointProfile] = {
    p.name: p
    for p in (
        EndpointProfile(
            "vllm",
            supports_n=True,
            max_tokens_field="max_tokens",
            continuation="continue_final_message",
            supports_seed=True,
            supports_logprobs=True,
            reports_cached_tokens=True,
            completions_endpoint=True,
            serves_one_at_a_time=False,
            streams=True,
            stream_usage=True,
            notes="automatic prefix caching; cached tokens reported with --enable-prompt-tokens-details",
        ),
        EndpointProfile(
            "sglang",
            supports_n=True,
            max_tokens_field="max_tokens",
            continuation="continue_final_message",
            supports_seed=True,
            supports_logprobs=True,
            reports_cached_tokens=True,
            completions_endpoint=True,
            serves_one_at_a_time=False,
            streams=True,
            stream_usage=True,
            notes="radix prefix cache",
        ),
        EndpointProfile(
            "llama-cpp-python",
            supports_n=False,
            max_tokens_field="max_tokens",
            continuation="template",
            supports_seed=True,
            supports_logprobs=True,
            reports_cached_tokens=False,
            completions_endpoint=True,
            serves_one_at_a_time=True,
            streams=True,
            stream_usage=False,
            notes="python -m llama_cpp.server: ignores n and max_completion_tokens; one request at a time "
            "(a request arriving during a stream cuts that stream short); no usage in streams",
        ),
        EndpointProfile(
            "llama.cpp",
            supports_n=False,
            max_tokens_field="max_tokens",
            continuation="template",
            supports_seed=True,
            supports_logprobs=True,
            reports_cached_tokens=False,
            completions_endpoint=True,
            serves_one_at_a_time=False,
            streams=True,
            stream_usage=True,
            notes="llama-server; chat template from GET /props",
        ),
        EndpointProfile(
            "ollama",
            supports_n=False,
            max_tokens_field="max_tokens",
            continuation="template",
            supports_seed=True,
            supports_logprobs=False,
            reports_cached_tokens=False,
            completions_endpoint=True,
            serves_one_at_a_time=False,
            streams=True,
            stream_usage=True,
            notes="OpenAI-compatible API under /v1",
        ),
        EndpointProfile(
            "openai",
            supports_n=True,
            max_tokens_field="max_completion_tokens",
            continuation="template",
            supports_seed=True,
            supports_logprobs=True,
            reports_cached_tokens=True,
            completions_endpoint=False,
            serves_one_at_a_time=False,
            streams=True,
            stream_usage=True,
            notes="hosted API: no raw continuation of chat models",
        ),
        EndpointProfile(
            "generic",
            supports_n=False,
            max_tokens_field="max_tokens",
            continuation="template",
            supports_seed=True,
            supports_logprobs=True,
            reports_cached_tokens=False,
            completions_endpoint=True,
            serves_one_at_a_time=False,
            streams=False,
            stream_usage=False,
            notes="the safe choice for an unknown server: one sample per request",
        ),
    )
}

_OWNERS = {
    "vllm": "vllm",
    "sglang": "sglang",
    "llamacpp": "llama.cpp",
    "library": "ollama",
    "ollama": "ollama",
    "openai": "openai",
    "system": "openai",
    "openai-internal": "openai",
    "me": "llama-cpp-python",
}


def get_profile(name: str) -> EndpointProfile:
    profile = PROFILES.get(name)
    if profile is None:
        raise UnknownNameError(f"unknown endpoint profile {name!r}; available: {', '.join(sorted(PROFILES))}")
    return profile


def detect_profile(models: dict[str, Any], headers: dict[str, str]) -> EndpointProfile:
    """Guess the server from ``GET /v1/models`` (its ``owned_by``) and response headers."""
    server = headers.get("server", "").lower()
    if "ollama" in server:
        return PROFILES["ollama"]
    if "llama.cpp" in server:
        return PROFILES["llama.cpp"]
    for entry in models.get("data") or []:
        owner = str(entry.get("owned_by", "")).lower() if isinstance(entry, dict) else ""
        if owner in _OWNERS:
            return PROFILES[_OWNERS[owner]]
    return PROFILES["generic"]
