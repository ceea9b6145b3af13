"""Collaborating workers on one shared history (Hogwild! Inference): the request, its events, its stream.

``W`` workers answer one prompt together. Each writes *steps* (text up to a delimiter); a finished
step joins a *common history* that every worker then reads before its own step in progress, in
the order the steps finished. An engine that can keep that history in one shared KV cache says so
with ``capabilities.shared_cache`` and serves ``engine.collaborate(request)`` (:class:`Collaborates`;
the embedded llama.cpp engine does, :mod:`ponder.engines.llama.collab`); on any other engine the
same protocol runs by re-sending the history each step (:mod:`ponder.context.collaboration_resend`).

A collaboration reports :class:`FinishedStep` events (one per step moved into the history, in
history order) and ends with one :class:`CollabEnd` (why it ended, each worker's step in
progress, the usage not yet reported and the engine's counters).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

from ponder.core.errors import EngineError, InvalidInputError
from ponder.core.text import check_text
from ponder.core.usage import Usage
from ponder.engines.base import GenerationRequest

EndReason = Literal["answer", "tokens", "steps", "exhausted", "context", "cancelled"]
"""Why a collaboration ended: a worker stated the final ``answer``; the total ``tokens`` budget
ran out; ``steps`` (the most history steps); every worker ``exhausted`` its own tokens or ended
its text; a worker's sequence reached the model's ``context``; its caller ``cancelled`` it."""


def step_ends(text: str, delimiter: str, end_chars: str = "") -> bool:
    """Whether a step whose text (after its header) is ``text`` has ended: it holds the delimiter
    after some non-blank content and, when ``end_chars`` is given, that content ends with one of
    them (the reference code ends a step only after a sentence: ``"x = 5\\n\\n"`` goes on)."""
    body = text.lstrip()
    at = body.find(delimiter)
    while at >= 0:
        content = body[:at].rstrip()
        if content and (not end_chars or content[-1] in end_chars):
            return True
        at = body.find(delimiter, at + 1)
    return False


@dataclass(frozen=True)
class CollabRequest:
    """What ``W = len(headers)`` workers generate together.

    ``prompt`` is the common prompt (a chat, or raw text, with any ``assistant_prefix`` opening
    the shared history) with the sampling settings: ``max_tokens`` is each worker's cap, sample
    ``i`` (worker ``i``) is seeded by ``(seed, first_index + i)``. ``headers[i]`` opens each step
    of worker ``i``, with ``{step}`` its step number (e.g. ``"**Bob [{step}]:** "``);
    ``openers[i]``, if given, follows the header of worker ``i``'s first step (a first sentence the
    worker continues). A step ends at ``delimiter`` (see :func:`step_ends` for ``end_chars``), at
    ``step_tokens`` tokens (0: no cap) or at the end of the worker's text. ``total_tokens`` caps
    the tokens all workers draw together, ``max_steps`` the steps in the history (0: no cap).
    ``final(step_text)`` says whether a finished step states the final answer: the first that does
    ends the collaboration (called on the engine's worker thread; an error counts as no).
    """

    prompt: GenerationRequest
    headers: tuple[str, ...]
    openers: tuple[str, ...] = ()
    delimiter: str = "\n\n"
    end_chars: str = ""
    step_tokens: int = 0
    total_tokens: int | None = None
    max_steps: int = 0
    final: Callable[[str], bool] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if not self.headers:
            raise InvalidInputError("a collaboration needs at least one worker (one header)")
        if self.openers and len(self.openers) != len(self.headers):
            raise InvalidInputError(f"{len(self.openers)} openers for {len(self.headers)} workers")
        if not self.delimiter:
            raise InvalidInputError("the step delimiter must not be empty")
        if not all(self.headers):
            raise InvalidInputError("a worker's step header must not be empty")
        if self.step_tokens < 0 or self.max_steps < 0:
            raise InvalidInputError("step_tokens and max_steps must be >= 0")
        if self.total_tokens is not None and self.total_tokens < 1:
            raise InvalidInputError(f"total_tokens must be >= 1, got {self.total_tokens}")
        for text in (*self.headers, *self.openers, self.delimiter, self.end_chars):
            check_text(text, "a collaboration's header, opener or delimiter")

    @property
    def workers(self) -> int:
        return len(self.headers)

    def header(self, worker: int, step: int) -> str:
        """The text that opens step ``step`` (from 1) of ``worker``."""
        opener = self.openers[worker] if self.openers and step == 1 else ""
        return self.headers[worker].replace("{step}", str(step)) + opener

    def is_final(self, text: str) -> bool:
        if self.final is None:
            return False
        try:
            return bool(self.final(text))
        except Exception:  # a faulty predicate must not stop the engine: no answer seen
            return False


@dataclass(frozen=True)
class FinishedStep:
    """A step moved into the common history: its ``worker`` (index), the worker's step
    ``number`` (from 1), its ``order`` in the history (from 1), its ``header`` and ``text`` (after
    the header), the ``tokens`` the worker drew for it, when it started and ended (seconds since
    the collaboration began), whether it states the ``final`` answer, and the ``usage`` to record
    with it (the shared-cache engine: what the whole collaboration spent since its previous event,
    so that a budget sees every worker's tokens; the re-sending session: nothing, its requests are
    metered as they return)."""

    worker: int
    number: int
    order: int
    header: str
    text: str
    tokens: int
    started: float
    ended: float
    final: bool = False
    usage: Usage = field(default_factory=Usage)


@dataclass(frozen=True)
class CollabEnd:
    """The end of a collaboration: its ``reason``, each worker's step in progress (text after its
    header, and tokens), the usage not yet recorded, and the engine's ``counters`` (the shared-cache
    engine: ``prompt_tokens_computed``, ``prompt_tokens_recomputed``, ``history_tokens_shared``,
    ``cells_shifted``, ``tokens_decoded``, ``steps_moved``)."""

    reason: EndReason
    partial: tuple[str, ...]
    partial_tokens: tuple[int, ...]
    usage: Usage = field(default_factory=Usage)
    counters: Mapping[str, int] = field(default_factory=dict)


CollabEvent = FinishedStep | CollabEnd


@runtime_checkable
class CollabSession(Protocol):
    """A running collaboration: :meth:`next` gives its events in order (the last is a
    :class:`CollabEnd`); :meth:`cancel` ends it (a :class:`CollabEnd` with reason ``cancelled``
    follows, holding the steps in progress)."""

    request: CollabRequest

    async def next(self) -> CollabEvent: ...

    def cancel(self) -> None: ...


@runtime_checkable
class Collaborates(Protocol):
    """An engine with a shared-cache collaboration primitive (``capabilities.shared_cache``)."""

    def collaborate(self, request: CollabRequest) -> CollabSession: ...


class CollabStream:
    """A :class:`CollabSession` fed from any thread: the producer calls :meth:`push` and
    :meth:`fail` (thread-safe) and reads :attr:`cancelled`; the consumer awaits :meth:`next`."""

    def __init__(
        self, request: CollabRequest, loop: asyncio.AbstractEventLoop, on_cancel: Callable[[], None] = lambda: None
    ) -> None:
        self.request = request
        self.cancelled = False
        self._loop = loop
        self._on_cancel = on_cancel
        self._queue: asyncio.Queue[CollabEvent | BaseException] = asyncio.Queue()
        self._ended = False

    def push(self, event: CollabEvent | BaseException) -> None:
        try:
            self._loop.call_soon_threadsafe(self._queue.put_nowait, event)
        except RuntimeError:  # the consumer's loop has closed: nobody reads this any more
            self.cancelled = True

    def fail(self, error: BaseException) -> None:
        self.push(error)

    async def next(self) -> CollabEvent:
        if self._ended:
            raise EngineError("the collaboration has ended")
        item = await self._queue.get()
        if isinstance(item, BaseException):
            self._ended = True
            raise item
        if isinstance(item, CollabEnd):
            self._ended = True
        return item

    def cancel(self) -> None:
        self.cancelled = True
        self._on_cancel()
