"""OpenAI request bodies from generation requests, and completions from OpenAI responses
(whole ones, or streamed chunk by chunk: :class:`ChunkReader`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ponder.core.errors import InvalidInputError, UpstreamError
from ponder.core.result import FinishReason
from ponder.core.usage import Usage
from ponder.engines.base import Completion, GenerationRequest, TokenLogprob
from ponder.engines.chat_template import ChatTemplate
from ponder.engines.http.profiles import EndpointProfile

CHAT = "/v1/chat/completions"
COMPLETIONS = "/v1/completions"


def build_body(
    request: GenerationRequest,
    *,
    model: str,
    profile: EndpointProfile,
    n: int,
    seed: int,
    template: ChatTemplate | None,
) -> tuple[str, dict[str, Any]]:
    """The endpoint path and JSON body for ``n`` samples of ``request``."""
    body: dict[str, Any] = {
        "model": model,
        profile.max_tokens_field: request.max_tokens,
        "temperature": request.temperature,
        "top_p": request.top_p,
    }
    if n > 1:
        body["n"] = n
    if request.stop:
        body["stop"] = list(request.stop)
    if profile.supports_seed:
        body["seed"] = seed
    messages = [{"role": m.role, "content": m.content} for m in request.messages or ()]
    chat_logprobs: dict[str, Any] = {}
    if request.wants_logprobs:
        chat_logprobs["logprobs"] = True
        if request.top_logprobs:
            chat_logprobs["top_logprobs"] = request.top_logprobs
    if request.text is None and not request.assistant_prefix:
        return CHAT, {**body, **chat_logprobs, "messages": messages}
    if request.text is None and profile.continuation == "continue_final_message":
        messages.append({"role": "assistant", "content": request.assistant_prefix})
        return CHAT, {
            **body,
            **chat_logprobs,
            "messages": messages,
            "continue_final_message": True,
            "add_generation_prompt": False,
        }
    if not profile.completions_endpoint:
        raise InvalidInputError(f"the {profile.name} profile cannot continue a partial answer (no text completions)")
    if request.text is not None:
        prompt = request.text
    elif template is None:
        raise InvalidInputError(
            "continuing a partial answer on this server needs the model's chat template: "
            "pass chat_template= (Jinja text or a .gguf path)"
        )
    else:
        prompt = template.render(request.messages or (), assistant_prefix=request.assistant_prefix)
    if request.wants_logprobs:
        body["logprobs"] = max(request.top_logprobs, 1)
    return COMPLETIONS, {**body, "prompt": prompt}


def _chat_logprobs(choice: dict[str, Any]) -> tuple[TokenLogprob, ...] | None:
    content = (choice.get("logprobs") or {}).get("content")
    if content is None:
        return None
    return tuple(
        TokenLogprob(
            item["token"],
            float(item["logprob"]),
            tuple((alt["token"], float(alt["logprob"])) for alt in item.get("top_logprobs") or ()),
        )
        for item in content
    )


def _text_logprobs(choice: dict[str, Any]) -> tuple[TokenLogprob, ...] | None:
    data = choice.get("logprobs")
    if not data or data.get("tokens") is None:
        return None
    tops = data.get("top_logprobs") or [None] * len(data["tokens"])
    return tuple(
        TokenLogprob(
            token,
            float(logprob if logprob is not None else 0.0),
            tuple(sorted(((t, float(v)) for t, v in (top or {}).items()), key=lambda kv: -kv[1])),
        )
        for token, logprob, top in zip(data["tokens"], data["token_logprobs"], tops, strict=False)
    )


def _split(total: int, weights: list[int]) -> list[int]:
    """Share ``total`` in proportion to ``weights`` (integers that add up to ``total``)."""
    mass = sum(weights)
    if not weights:
        return []
    shares = [total // len(weights)] * len(weights) if mass == 0 else [total * w // mass for w in weights]
    shares[-1] += total - sum(shares)
    return shares


def parse_response(data: Any, *, path: str, request: GenerationRequest, first_index: int) -> list[Completion]:
    """Completions from a chat or text completion response (its usage shared fairly among choices);
    ``first_index`` is the first choice's index within ``request`` (indices count from 0 per request).

    Every choice requested the whole prompt; the server computed it once, minus what it reports
    as cached. Completion tokens per choice are exact when logprobs came back, else the reported
    total shared in proportion to text length.
    """
    if not isinstance(data, dict) or not isinstance(data.get("choices"), list) or not data["choices"]:
        raise UpstreamError(f"the server's reply has no choices: {str(data)[:160]!r}")
    choices = sorted(data["choices"], key=lambda c: c.get("index", 0))
    try:
        if path == CHAT:
            texts = [c["message"].get("content") or "" for c in choices]
            logprobs = [_chat_logprobs(c) for c in choices]
        else:
            texts = [c["text"] for c in choices]
            logprobs = [_text_logprobs(c) for c in choices]
    except (KeyError, TypeError, AttributeError) as exc:
        raise UpstreamError(f"the server's reply is not an OpenAI completion: missing {exc}") from None
    usage = data.get("usage") or {}
    prompt = int(usage.get("prompt_tokens") or 0)
    cached = int((usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0)
    present = [lp for lp in logprobs if lp is not None]
    if logprobs and len(present) == len(logprobs):
        counts = [len(lp) for lp in present]
    else:
        counts = _split(int(usage.get("completion_tokens") or 0), [len(t) for t in texts])
    completions = []
    for i, (choice, text, lp, count) in enumerate(zip(choices, texts, logprobs, counts, strict=True)):
        finish: FinishReason = "length" if choice.get("finish_reason") == "length" else "stop"
        completions.append(
            Completion(
                text=text,
                completion_tokens=count,
                finish_reason=finish,
                index=first_index + i,
                usage=Usage(
                    prompt_tokens=prompt,
                    prompt_tokens_computed=(prompt - cached) if i == 0 else 0,
                    completion_tokens=count,
                ),
                logprobs=lp if request.wants_logprobs else None,
                stop_sequence=_matched_stop(choice, request),
            )
        )
    return completions


def _matched_stop(choice: dict[str, Any], request: GenerationRequest) -> str | None:
    """The stop string that ended a choice, where the server says (vLLM and SGLang send it as
    ``stop_reason``/``matched_stop``; a token id there means EOS or a stop token, not a string)."""
    for key in ("stop_reason", "matched_stop"):
        value = choice.get(key)
        if isinstance(value, str) and value in request.stop:
            return value
    return None


def stream_body(body: dict[str, Any], profile: EndpointProfile) -> dict[str, Any]:
    """``body`` as a streaming request (with the usage chunk asked for where the server sends it)."""
    streamed = {**body, "stream": True}
    if profile.stream_usage:
        streamed["stream_options"] = {"include_usage": True}
    return streamed


@dataclass
class ChunkReader:
    """One sample's streamed chunks (a request with ``n=1``) read into deltas, then into the
    :class:`Completion` that :func:`parse_response` would make of the whole reply.

    Tokens are counted from the chunks' logprobs where they come, else one per chunk that
    carries text; the server's usage (the last chunk, with ``include_usage``) overrides the count
    at the end, as it does for a whole reply. A whole reply (a server that ignored ``stream``) is
    read as one chunk.
    """

    path: str
    request: GenerationRequest
    index: int
    text: str = ""
    logprobs: list[TokenLogprob] = field(default_factory=list)
    logprobs_seen: bool = False
    counted: int = 0
    usage: dict[str, Any] = field(default_factory=dict)
    finish: str | None = None
    last_choice: dict[str, Any] = field(default_factory=dict)

    @property
    def tokens(self) -> int:
        """Tokens generated so far (exact with logprobs or usage, else one per text chunk)."""
        if self.logprobs_seen:
            return len(self.logprobs)
        reported = self.usage.get("completion_tokens")
        return int(reported) if reported is not None else self.counted

    def add(self, chunk: Any) -> tuple[str, tuple[TokenLogprob, ...]]:
        """Read one chunk; its new text and new token logprobs (both empty for a chunk that
        carries only a role, a finish reason or the usage)."""
        if not isinstance(chunk, dict):
            raise UpstreamError(f"the server sent a chunk that is not an object: {str(chunk)[:160]!r}")
        if isinstance(chunk.get("usage"), dict):
            self.usage = chunk["usage"]
        new_text: list[str] = []
        new_logprobs: list[TokenLogprob] = []
        for choice in chunk.get("choices") or ():
            if not isinstance(choice, dict):
                raise UpstreamError(f"the server sent a malformed chunk: {str(chunk)[:160]!r}")
            try:
                if self.path == CHAT:
                    part = choice.get("delta") or choice.get("message") or {}
                    piece = part.get("content") or ""
                    logprobs = _chat_logprobs(choice)
                else:
                    piece = choice.get("text") or ""
                    logprobs = _text_logprobs(choice)
            except (KeyError, TypeError, AttributeError, ValueError) as exc:
                raise UpstreamError(f"the server sent a malformed chunk: {exc}") from None
            if logprobs is not None:
                self.logprobs_seen = True
                new_logprobs.extend(logprobs)
            if piece and not logprobs:
                self.counted += 1
            new_text.append(piece)
            if choice.get("finish_reason") is not None:
                self.finish = str(choice["finish_reason"])
                self.last_choice = choice
        text = "".join(new_text)
        self.text += text
        self.logprobs.extend(new_logprobs)
        return text, tuple(new_logprobs) if self.request.wants_logprobs else ()

    def _usage(self, count: int) -> Usage:
        prompt = int(self.usage.get("prompt_tokens") or 0)
        cached = int((self.usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0)
        return Usage(prompt_tokens=prompt, prompt_tokens_computed=prompt - cached, completion_tokens=count)

    def _logprobs(self) -> tuple[TokenLogprob, ...] | None:
        return tuple(self.logprobs) if self.request.wants_logprobs and self.logprobs_seen else None

    def completion(self) -> Completion:
        """The finished sample; an :class:`UpstreamError` if the stream ended before the server
        said why the sample finished (it was cut short)."""
        if self.finish is None:
            raise UpstreamError(
                "the stream ended before the sample finished (no finish_reason): cut short by the "
                "server (llama-cpp-python's server cuts a stream when another request arrives)"
            )
        count = self.tokens
        finish: FinishReason = "length" if self.finish == "length" else "stop"
        return Completion(
            text=self.text,
            completion_tokens=count,
            finish_reason=finish,
            index=self.index,
            usage=self._usage(count),
            logprobs=self._logprobs(),
            stop_sequence=_matched_stop(self.last_choice, self.request),
        )

    def cancelled(self) -> Completion:
        """The sample as far as it got when its caller stopped it."""
        count = self.tokens
        return Completion(
            text=self.text,
            completion_tokens=count,
            finish_reason="cancelled",
            index=self.index,
            usage=self._usage(count),
            logprobs=self._logprobs(),
        )
