"""The engine contract: a batch of generation requests in, completions out.

Every backend (embedded llama.cpp, OpenAI-compatible HTTP, the fake for tests)
implements :class:`Engine`. Strategies talk only to this contract.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from ponder.core.chat import Message as Message  # the chat types live in core (a candidate records its chat)
from ponder.core.chat import Role as Role
from ponder.core.errors import InvalidInputError
from ponder.core.result import FinishReason
from ponder.core.text import check_text
from ponder.core.usage import Usage


@dataclass(frozen=True)
class GenerationRequest:
    """What to generate, and how.

    Exactly one of ``messages`` (a chat, rendered with the model's chat template) and ``text``
    (raw text to continue, no template) is given. With ``messages``, ``assistant_prefix`` is a
    partial assistant answer that the completion continues (step-wise search uses this, so the
    chat stays a chat). Sample ``i`` of the request is seeded by ``(seed, first_index + i)``, so
    samples drawn in several batches are the same samples as one batch would draw.
    ``top_logprobs > 0`` also returns that many most likely alternatives for each token (and
    implies ``logprobs``).
    """

    messages: tuple[Message, ...] | None = None
    text: str | None = None
    assistant_prefix: str = ""
    n: int = 1
    max_tokens: int = 256
    temperature: float = 0.7
    top_p: float = 1.0
    stop: tuple[str, ...] = ()
    seed: int = 0
    first_index: int = 0
    logprobs: bool = False
    top_logprobs: int = 0

    def __post_init__(self) -> None:
        if (self.messages is None) == (self.text is None):
            raise InvalidInputError("a request needs exactly one of `messages` and `text`")
        if self.text is not None and self.assistant_prefix:
            raise InvalidInputError("`assistant_prefix` applies to chat requests only; append it to `text`")
        if self.messages is not None and not self.messages:
            raise InvalidInputError("`messages` is empty")
        if self.n < 1:
            raise InvalidInputError(f"n must be >= 1, got {self.n}")
        if self.max_tokens < 1:
            raise InvalidInputError(f"max_tokens must be >= 1, got {self.max_tokens}")
        if not (self.temperature >= 0 and math.isfinite(self.temperature)):
            raise InvalidInputError(f"temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise InvalidInputError(f"top_p must be in (0, 1], got {self.top_p}")
        if any(not s for s in self.stop):
            raise InvalidInputError("stop strings must not be empty")
        if self.first_index < 0:
            raise InvalidInputError(f"first_index must be >= 0, got {self.first_index}")
        if not 0 <= self.top_logprobs <= 20:
            raise InvalidInputError(f"top_logprobs must be in [0, 20], got {self.top_logprobs}")
        for message in self.messages or ():
            check_text(message.content, f"a {message.role} message")
        check_text(self.text or "", "the request's text")
        check_text(self.assistant_prefix, "the assistant prefix")
        for stop in self.stop:
            check_text(stop, "a stop string")

    @property
    def wants_logprobs(self) -> bool:
        return self.logprobs or self.top_logprobs > 0

    @classmethod
    def chat(cls, user: str, *, system: str | None = None, **options: Any) -> GenerationRequest:
        """A request for one user message, optionally after a system message."""
        messages = ((Message("system", system),) if system else ()) + (Message("user", user),)
        return cls(messages=messages, **options)


@dataclass(frozen=True)
class TokenLogprob:
    """The log-probability of one generated token under the model (before temperature), and
    the most likely alternatives at that position when ``top_logprobs`` was asked for."""

    token: str
    logprob: float
    top: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True)
class Completion:
    """One generated sample.

    ``usage`` is this sample's share of the request's cost: its prompt tokens as requested, the
    prompt tokens computed for it (a forked sample computes none), its completion tokens.
    A sample that failed (a remote engine gave up on it while others succeeded) has
    ``finish_reason="error"``, empty text and the reason in ``error``; it is never an answer.
    ``stop_sequence`` is the stop string that ended the sample (cut from ``text``); ``None`` at
    EOS, at the token cap, or when the backend does not say which stop ended it.
    """

    text: str
    completion_tokens: int
    finish_reason: FinishReason
    usage: Usage
    index: int = 0
    logprobs: tuple[TokenLogprob, ...] | None = None
    error: str | None = None
    stop_sequence: str | None = None

    @property
    def sum_logprob(self) -> float | None:
        """Log-probability of the whole generated text, when logprobs were requested."""
        return None if self.logprobs is None else sum(t.logprob for t in self.logprobs)


@dataclass(frozen=True)
class EngineCapabilities:
    """What a backend can do; strategies adapt to it."""

    fork: bool = False  # n samples share one computed prefix
    prefix_cache: bool = False  # a prefix computed by an earlier call is reused
    logprobs: bool = False
    raw_continuation: bool = False  # continue a partial assistant answer / raw text
    max_context: int = 0  # tokens per sequence; 0 when unknown
    seeded: bool = False  # the same seed reproduces the same sample
    reports_stop: bool = False  # a completion names the stop string that ended it (stop_sequence)
    streams: bool = False  # stream() yields samples as they grow (else one delta per sample, at its end)
    remote: bool = False  # requests go to a server: concurrent calls overlap (a local engine serves calls in turn)
    shared_cache: bool = False  # collaborate(): workers share one KV cache of their common history (Hogwild!)


@dataclass
class EngineInfo:
    """A description of the engine for results and logs."""

    name: str
    model: str
    details: dict[str, object] = field(default_factory=dict)


@runtime_checkable
class Engine(Protocol):
    """The async backend contract (``capabilities`` and ``info`` may be plain attributes or properties)."""

    @property
    def capabilities(self) -> EngineCapabilities: ...

    @property
    def info(self) -> EngineInfo: ...

    async def generate(self, requests: Sequence[GenerationRequest]) -> list[list[Completion]]:
        """Serve a batch of requests; result ``i`` holds ``requests[i].n`` completions in order."""
        ...

    async def aclose(self) -> None:
        """Release the backend's resources."""
        ...


Arrivals = AsyncIterator[list[tuple[int, list[Completion]]]]
"""Rows of a batch as they arrive: each item is ``[(request position, its completions), ...]``."""


@runtime_checkable
class ServesEach(Protocol):
    """An engine that chooses how to serve several requests (concurrent calls to a server,
    rows handed back as each finishes) rather than in one batch."""

    def generate_each(self, requests: Sequence[GenerationRequest]) -> Arrivals: ...


async def generate_each(engine: Engine, requests: Sequence[GenerationRequest]) -> Arrivals:
    """Serve ``requests`` the way ``engine`` prefers: its own ``generate_each`` (a server's
    engine sends them at once and yields each row as it arrives, so the caller can work on it
    while the rest are in flight), else one batch (a local engine decodes them together)."""
    if isinstance(engine, ServesEach):
        async for arrived in engine.generate_each(requests):
            yield arrived
        return
    rows = await engine.generate(requests)
    yield list(enumerate(rows))
