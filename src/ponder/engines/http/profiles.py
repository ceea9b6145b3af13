"""Endpoint profiles: what each OpenAI-compatible server accepts, as facts, apart from the engine.

``continuation`` says how a partial assistant answer is continued:
- ``continue_final_message``: chat completions with the partial answer as the last assistant
  message and ``continue_final_message=true, add_generation_prompt=false`` (vLLM, SGLang);
- ``template``: the text-completions endpoint with the chat template applied by ponder (servers
  that always start a new reply: llama.cpp's servers, Ollama, hosted OpenAI-style APIs - the
  template comes from ``chat_template=`` (Jinja text or a GGUF file), else from the server where
  the profile names a ``template_path``: llama-server's ``GET /props`` gives ``chat_template``
  (with ``bos_token`` and ``eos_token``), read once when the engine connects
  (:func:`template_from_props`); a server without it leaves continuation unavailable, as before).

``streams`` says the server sends ``"stream": true`` replies as server-sent events and aborts a
request whose stream the client closes (vLLM, SGLang, both llama.cpp servers, Ollama, OpenAI);
``generic`` assumes neither, so an unknown server gets whole completions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from ponder.core.errors import InvalidModelError, UnknownNameError
from ponder.core.text import check_text
from ponder.engines.chat_template import ChatTemplate

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
    template_path: str | None = None  # GET it for the chat template when none is given (llama-server: /props)
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
            reports_cached_tokens=True,
            completions_endpoint=True,
            serves_one_at_a_time=False,
            streams=True,
            stream_usage=True,
            template_path="/props",
            notes="llama-server: batches concurrent requests (--parallel slots); chat template from GET /props; "
            "its n needs that many free slots at once (more than --parallel is refused) and reports the first "
            "choice's usage only, so ponder fans out; cached prompt tokens in usage.prompt_tokens_details; "
            "text-completion logprobs in the chat format (content); continue_final_message only in recent builds",
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


def template_from_props(props: Any) -> ChatTemplate | None:
    """The chat template in llama-server's ``GET /props`` reply (``chat_template``, with its
    ``bos_token`` and ``eos_token``), or ``None`` when the reply has none (an older server, a
    model without a template) or it cannot be used (not text, or not a template that compiles)."""
    if not isinstance(props, dict):
        return None
    source = props.get("chat_template")
    if not isinstance(source, str) or not source.strip():
        return None
    specials = {key: props.get(key) for key in ("bos_token", "eos_token")}
    tokens = {key: value if isinstance(value, str) else "" for key, value in specials.items()}
    try:
        for key, value in (("chat_template", source), *tokens.items()):
            check_text(value, f"{key} of /props")
        return ChatTemplate(source, **tokens)
    except (InvalidModelError, ValueError):
        return None


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
