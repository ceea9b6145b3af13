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
from ponder.engines.http.wire import (
    ChatChoice,
    ChatChunk,
    ChatChunkChoice,
    ChatLogprobs,
    ChatReply,
    Choice,
    TextChoice,
    TextChunk,
    TextChunkChoice,
    TextLogprobs,
    TextReply,
    WireUsage,
    read,
)

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


def _chat_logprobs(logprobs: ChatLogprobs | TextLogprobs | None) -> tuple[TokenLogprob, ...] | None:
    if logprobs is None or logprobs.content is None:
        return None
    return tuple(
        TokenLogprob(item.token, item.logprob, tuple((alt.token, alt.logprob) for alt in item.top_logprobs or ()))
        for item in logprobs.content
    )


def _text_logprobs(logprobs: TextLogprobs | None) -> tuple[TokenLogprob, ...] | None:
    """A text completion's logprobs: OpenAI's legacy columns (``tokens``, ``token_logprobs``,
    ``top_logprobs``), or the chat format (``content``) that llama-server sends there."""
    if logprobs is not None and logprobs.tokens is None:
        return _chat_logprobs(logprobs)
    if logprobs is None or logprobs.tokens is None:
        return None
    tops = logprobs.top_logprobs or [None] * len(logprobs.tokens)
    return tuple(
        TokenLogprob(
            token,
            logprob if logprob is not None else 0.0,
            tuple(sorted((top or {}).items(), key=lambda kv: -kv[1])),
        )
        for token, logprob, top in zip(logprobs.tokens, logprobs.token_logprobs or (), tops, strict=False)
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
    A response of the wrong shape is an :class:`UpstreamError` naming the field (see :mod:`.wire`).

    Every choice requested the whole prompt; the server computed it once, minus what it reports
    as cached. Completion tokens per choice are exact when logprobs came back, else the reported
    total shared in proportion to text length.
    """
    texts: list[str]
    logprobs: list[tuple[TokenLogprob, ...] | None]
    choices: list[ChatChoice] | list[TextChoice]
    what = f"the {path} reply"
    if path == CHAT:
        chat = read(ChatReply, data, what)
        choices, usage = sorted(chat.choices, key=lambda c: c.index), chat.usage
        texts = [c.message.content or "" for c in choices]
        logprobs = [_chat_logprobs(c.logprobs) for c in choices]
    else:
        plain = read(TextReply, data, what)
        choices, usage = sorted(plain.choices, key=lambda c: c.index), plain.usage
        texts = [c.text for c in choices]
        logprobs = [_text_logprobs(c.logprobs) for c in choices]
    usage = usage or WireUsage()
    prompt, cached = usage.prompt, usage.cached
    present = [lp for lp in logprobs if lp is not None]
    if logprobs and len(present) == len(logprobs):
        counts = [len(lp) for lp in present]
    else:
        counts = _split(usage.completion_tokens or 0, [len(t) for t in texts])
    completions = []
    for i, (choice, text, lp, count) in enumerate(zip(choices, texts, logprobs, counts, strict=True)):
        finish: FinishReason = "length" if choice.finish_reason == "length" else "stop"
        completions.append(
            Completion(
                text=text,
                completion_tokens=count,
                finish_reason=finish,
                index=first_index + i,
                usage=Usage(
                    prompt_tokens=prompt,
                    prompt_tokens_computed=max(prompt - cached, 0) if i == 0 else 0,
                    completion_tokens=count,
                ),
                logprobs=lp if request.wants_logprobs else None,
                stop_sequence=_matched_stop(choice, request),
            )
        )
    return completions


def _matched_stop(choice: Choice | None, request: GenerationRequest) -> str | None:
    """The stop string that ended a choice, where the server says (vLLM and SGLang send it as
    ``stop_reason``/``matched_stop``; a token id there means EOS or a stop token, not a string)."""
    if choice is None:
        return None
    for value in (choice.stop_reason, choice.matched_stop):
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
    read as one chunk. A chunk of the wrong shape is an :class:`UpstreamError` naming the field.
    """

    path: str
    request: GenerationRequest
    index: int
    text: str = ""
    logprobs: list[TokenLogprob] = field(default_factory=list)
    logprobs_seen: bool = False
    counted: int = 0
    usage: WireUsage = field(default_factory=WireUsage)
    finish: str | None = None
    last_choice: ChatChunkChoice | TextChunkChoice | None = None

    @property
    def tokens(self) -> int:
        """Tokens generated so far (exact with logprobs or usage, else one per text chunk)."""
        if self.logprobs_seen:
            return len(self.logprobs)
        reported = self.usage.completion_tokens
        return reported if reported is not None else self.counted

    def add(self, chunk: Any) -> tuple[str, tuple[TokenLogprob, ...]]:
        """Read one chunk; its new text and new token logprobs (both empty for a chunk that
        carries only a role, a finish reason or the usage)."""
        what = f"a chunk of the {self.path} stream"
        parsed: ChatChunk | TextChunk = (
            read(ChatChunk, chunk, what) if self.path == CHAT else read(TextChunk, chunk, what)
        )
        if parsed.usage is not None:
            self.usage = parsed.usage
        new_text: list[str] = []
        new_logprobs: list[TokenLogprob] = []
        for choice in parsed.choices or ():
            if isinstance(choice, ChatChunkChoice):
                part = choice.delta or choice.message
                piece = (part.content if part else None) or ""
                logprobs = _chat_logprobs(choice.logprobs)
            else:
                piece = choice.text or ""
                logprobs = _text_logprobs(choice.logprobs)
            if logprobs is not None:
                self.logprobs_seen = True
                new_logprobs.extend(logprobs)
            if piece and not logprobs:
                self.counted += 1
            new_text.append(piece)
            if choice.finish_reason is not None:
                self.finish = choice.finish_reason
                self.last_choice = choice
        text = "".join(new_text)
        self.text += text
        self.logprobs.extend(new_logprobs)
        return text, tuple(new_logprobs) if self.request.wants_logprobs else ()

    def _usage(self, count: int) -> Usage:
        prompt, cached = self.usage.prompt, self.usage.cached
        return Usage(prompt_tokens=prompt, prompt_tokens_computed=max(prompt - cached, 0), completion_tokens=count)

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
