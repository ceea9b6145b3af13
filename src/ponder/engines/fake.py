"""A scripted engine for unit tests of strategy logic.

It returns the texts you give it, honours ``n``, ``stop`` and ``max_tokens`` (a token here is a
whitespace-separated word), reports usage like a real engine, and records every request::

    engine = FakeEngine(["The answer is 4.", "The answer is 5."])
    engine = FakeEngine(lambda request, index: f"sample {index} of seed {request.seed}")

A list is consumed in order and cycles when it runs out; a callable gets the request and the
sample's index within it (the sample's identity is ``request.first_index + index``). An item
may be a :class:`Scripted` text that also fixes the logprobs a judge reads. ``fork=True`` makes
the fake report the prompt as computed once per request, as a forking engine would.

``engine.stream(request)`` serves the same samples word by word: one :class:`SampleDelta` per
word, the samples taking turns (sample 0's first word, sample 1's first word, ..., then the
second words), each event after an ``await asyncio.sleep(0)``. The events are made as the
consumer reads them, so a ``stop(i)`` between two events takes effect at once: sample ``i`` ends
with ``finish_reason="cancelled"`` and exactly the text its deltas carried. No timing is involved,
so a test that stops a sample after its k-th word always sees the same result. Leaving the loop
early cancels the rest, as with every engine's stream.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field

from ponder.core.errors import InvalidInputError
from ponder.core.usage import Usage
from ponder.engines.base import (
    Arrivals,
    Completion,
    EngineCapabilities,
    EngineInfo,
    FinishReason,
    GenerationRequest,
    TokenLogprob,
)
from ponder.engines.streaming import SampleDelta, SampleDone, StreamEvent


@dataclass(frozen=True)
class Scripted:
    """A scripted text with its per-token logprob and the first token's alternatives."""

    text: str
    logprob: float = -0.5
    top: tuple[tuple[str, float], ...] = ()


Item = str | Scripted
Script = Sequence[Item] | Callable[[GenerationRequest, int], Item]


def prompt_text(request: GenerationRequest) -> str:
    """The text a fake model 'sees' for a request."""
    if request.text is not None:
        return request.text
    assert request.messages is not None
    chat = "\n".join(f"{m.role}: {m.content}" for m in request.messages)
    return f"{chat}\nassistant: {request.assistant_prefix}"


def _cut(text: str, request: GenerationRequest) -> tuple[str, int, FinishReason, str | None]:
    """Apply stop strings (the earliest wins) and the token cap to a scripted text."""
    finish: FinishReason = "stop"
    hits = sorted((at, stop) for stop in request.stop if (at := text.find(stop)) >= 0)
    matched = None
    if hits:
        text, matched = text[: hits[0][0]], hits[0][1]
    words = list(re.finditer(r"\S+", text))
    if len(words) > request.max_tokens:
        text, finish, matched = text[: words[request.max_tokens - 1].end()], "length", None
    return text, len(text.split()), finish, matched


class FakeEngine:
    """Scripted completions and recorded requests; see the module docstring."""

    def __init__(self, script: Script, *, fork: bool = False, remote: bool = False, max_context: int = 4096) -> None:
        if not callable(script) and not script:
            raise InvalidInputError("FakeEngine needs at least one scripted text")
        self.script = script
        self.requests: list[GenerationRequest] = []
        self.calls = 0
        self._cursor = 0
        self.capabilities = EngineCapabilities(
            fork=fork,
            prefix_cache=False,
            logprobs=True,
            raw_continuation=True,
            max_context=max_context,
            seeded=True,
            reports_stop=True,
            streams=True,
            remote=remote,
        )
        self.info = EngineInfo(name="fake", model="scripted")

    def _next_item(self, request: GenerationRequest, index: int) -> Scripted:
        if callable(self.script):
            item = self.script(request, index)
        else:
            item = self.script[self._cursor % len(self.script)]
            self._cursor += 1
        return item if isinstance(item, Scripted) else Scripted(item)

    def _sample(self, request: GenerationRequest, index: int, prompt_tokens: int) -> _Sample:
        item = self._next_item(request, index)
        text, n_tokens, finish, matched = _cut(item.text, request)
        computed = prompt_tokens if (index == 0 or not self.capabilities.fork) else 0
        return _Sample(
            index=index,
            item=item,
            text=text,
            tokens=n_tokens,
            finish=finish,
            matched=matched,
            usage=Usage(prompt_tokens=prompt_tokens, prompt_tokens_computed=computed),
        )

    async def generate(self, requests: Sequence[GenerationRequest]) -> list[list[Completion]]:
        self.calls += 1
        results: list[list[Completion]] = []
        for request in requests:
            self.requests.append(request)
            prompt_tokens = len(prompt_text(request).split())
            results.append(
                [self._sample(request, index, prompt_tokens).completion(request) for index in range(request.n)]
            )
        return results

    def stream(self, request: GenerationRequest) -> FakeStream:
        """The samples ``generate`` would return for ``request``, word by word (see the module
        docstring). Counts as one call and records the request, like ``generate``."""
        self.calls += 1
        self.requests.append(request)
        prompt_tokens = len(prompt_text(request).split())
        return FakeStream(request, [self._sample(request, index, prompt_tokens) for index in range(request.n)])

    async def generate_each(self, requests: Sequence[GenerationRequest]) -> Arrivals:
        """Like a server's engine when ``remote`` (each request its own call, rows yielded one by
        one), else one batch, as a local engine serves them."""
        if not self.capabilities.remote:
            yield list(enumerate(await self.generate(requests)))
            return
        for position, request in enumerate(requests):
            [row] = await self.generate([request])
            yield [(position, row)]

    async def aclose(self) -> None:
        return None


def _words(text: str) -> list[str]:
    """``text`` in pieces of one word each (leading whitespace with its word, trailing whitespace
    with the last piece), so that the pieces join to ``text``."""
    pieces = re.findall(r"\s*\S+", text)
    rest = text[sum(len(p) for p in pieces) :]
    if rest:
        if pieces:
            pieces[-1] += rest
        else:
            pieces = [rest]
    return pieces


@dataclass
class _Sample:
    """One scripted sample of a request: what ``generate`` returns for it, and how far a stream got."""

    index: int
    item: Scripted
    text: str
    tokens: int
    finish: FinishReason
    matched: str | None
    usage: Usage  # the prompt's share; completion tokens are added per completion
    sent: int = 0  # pieces streamed so far
    ended: bool = False

    def _logprobs(self, words: Sequence[str]) -> tuple[TokenLogprob, ...]:
        return tuple(TokenLogprob(w, self.item.logprob, self.item.top if i == 0 else ()) for i, w in enumerate(words))

    def completion(self, request: GenerationRequest) -> Completion:
        """The whole sample, as ``generate`` returns it."""
        return Completion(
            text=self.text,
            completion_tokens=self.tokens,
            finish_reason=self.finish,
            index=self.index,
            usage=dataclasses.replace(self.usage, completion_tokens=self.tokens),
            logprobs=self._logprobs(self.text.split()) if request.wants_logprobs else None,
            stop_sequence=self.matched,
        )

    def cancelled(self, request: GenerationRequest) -> Completion:
        """The sample stopped after the pieces streamed so far."""
        text = "".join(_words(self.text)[: self.sent])
        tokens = len(text.split())
        return Completion(
            text=text,
            completion_tokens=tokens,
            finish_reason="cancelled",
            index=self.index,
            usage=dataclasses.replace(self.usage, completion_tokens=tokens),
            logprobs=self._logprobs(text.split()) if request.wants_logprobs else None,
        )

    def next_delta(self, request: GenerationRequest) -> SampleDelta | None:
        """The next word as a delta, or ``None`` when the text is all sent."""
        pieces = _words(self.text)
        if self.sent >= len(pieces):
            return None
        piece = pieces[self.sent]
        before = len("".join(pieces[: self.sent]).split())
        self.sent += 1
        words = piece.split()
        logprobs = (
            ()
            if not request.wants_logprobs
            else tuple(
                TokenLogprob(w, self.item.logprob, self.item.top if before + i == 0 else ())
                for i, w in enumerate(words)
            )
        )
        return SampleDelta(self.index, piece, before + len(words), logprobs)


@dataclass
class FakeStream:
    """The fake's :class:`~ponder.engines.streaming.SampleStream`: events are made as they are
    read, round-robin over the samples still running, so stops take effect at the next event."""

    request: GenerationRequest
    samples: list[_Sample]
    _stopped: set[int] = field(default_factory=set)
    _done: dict[int, Completion] = field(default_factory=dict)
    _turn: int = 0
    cancelled: bool = False

    def stop(self, index: int) -> None:
        if not 0 <= index < self.request.n:
            raise IndexError(f"no sample {index} in a request of {self.request.n}")
        self._stopped.add(index)

    def cancel(self) -> None:
        self.cancelled = True

    def stopped(self, index: int) -> bool:
        return self.cancelled or index in self._stopped

    def __aiter__(self) -> AsyncIterator[StreamEvent]:
        return self._events()

    async def _events(self) -> AsyncIterator[StreamEvent]:
        try:
            while True:
                await asyncio.sleep(0)  # other tasks run (and may stop samples) before each event
                event = self._next()
                if event is None:
                    return
                if isinstance(event, SampleDone):
                    self._done[event.index] = event.completion
                yield event
        except (asyncio.CancelledError, GeneratorExit):
            self.cancel()  # the consumer went away, as with every engine's stream
            raise

    def _next(self) -> StreamEvent | None:
        live = [s for s in self.samples if not s.ended]
        if not live:
            return None
        for sample in live:  # stopped samples end first, at once
            if self.stopped(sample.index):
                sample.ended = True
                return SampleDone(sample.index, sample.cancelled(self.request))
        sample = min(live, key=lambda s: (s.index - self._turn) % len(self.samples))
        self._turn = (sample.index + 1) % len(self.samples)
        delta = sample.next_delta(self.request)
        if delta is not None:
            return delta
        sample.ended = True
        return SampleDone(sample.index, sample.completion(self.request))

    async def completions(self) -> list[Completion]:
        """Read the rest of the stream; the completions in index order."""
        async for _ in self:
            pass
        return [self._done[i] for i in range(self.request.n)]
