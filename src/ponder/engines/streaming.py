"""The streaming side of the engine contract: watch samples grow, stop any one of them.

``engine.stream(request)`` returns a :class:`SampleStream` at once; iterating it yields
:class:`SampleDelta` events (new text of one sample, with its token count and, when asked, its
token logprobs) and one :class:`SampleDone` per sample (its final :class:`Completion`).
``stream.stop(i)`` ends sample ``i`` (its completion has ``finish_reason="cancelled"`` and the
text so far); ``stream.cancel()`` ends them all. ``await stream.completions()`` drains the
stream and returns the ``n`` completions in index order: ``generate`` is built on it.

:class:`QueueStream` is the plumbing the engines share: a producer (a scheduler thread, an HTTP
reader, a script) pushes events, the consumer iterates; stop requests go the other way.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from ponder.core.errors import EngineError
from ponder.core.usage import Usage
from ponder.engines.base import Completion, Engine, GenerationRequest, TokenLogprob


@dataclass(frozen=True)
class SampleDelta:
    """New text of sample ``index``: ``text`` since the last delta, ``tokens`` generated so far,
    and the new tokens' logprobs (empty unless the request asked for them)."""

    index: int
    text: str
    tokens: int
    logprobs: tuple[TokenLogprob, ...] = ()


@dataclass(frozen=True)
class SampleDone:
    """Sample ``index`` has ended; ``completion`` is what ``generate`` would have returned for it."""

    index: int
    completion: Completion


StreamEvent = SampleDelta | SampleDone


@runtime_checkable
class SampleStream(Protocol):
    """One request's samples as they grow (see the module docstring)."""

    request: GenerationRequest

    def __aiter__(self) -> AsyncIterator[StreamEvent]: ...

    def stop(self, index: int) -> None: ...

    def cancel(self) -> None: ...

    async def completions(self) -> list[Completion]: ...


@runtime_checkable
class Streams(Protocol):
    """An engine that streams (every built-in one does)."""

    def stream(self, request: GenerationRequest) -> SampleStream: ...


_END = object()


@dataclass
class QueueStream:
    """A :class:`SampleStream` fed from any thread: the producer calls :meth:`push`, :meth:`fail`
    and :meth:`finish` (thread-safe); stop and cancel requests are read by the producer from
    :meth:`stopped` and :attr:`cancelled` (and announced through ``on_stop``)."""

    request: GenerationRequest
    loop: asyncio.AbstractEventLoop
    on_stop: Callable[[int | None], None] = lambda index: None
    _queue: asyncio.Queue[object] = field(default_factory=asyncio.Queue)
    _stopped: set[int] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _done: dict[int, Completion] = field(default_factory=dict)
    _ended: bool = False
    _finished_samples: int = 0
    cancelled: bool = False

    # -- producer side (any thread) ------------------------------------------------------

    def push(self, event: StreamEvent) -> None:
        """Send an event; the stream ends by itself after the last sample's :class:`SampleDone`."""
        self._send(event)
        if isinstance(event, SampleDone):
            self._finished_samples += 1
            if self._finished_samples == self.request.n:
                self.finish()

    def fail(self, error: BaseException) -> None:
        self._send(error)

    def finish(self) -> None:
        self._send(_END)

    def _send(self, item: object) -> None:
        """Hand ``item`` to the consumer's event loop; a loop that has closed (its caller is gone,
        e.g. an ``asyncio.run`` that ended on a time budget) cancels the stream instead."""
        try:
            self.loop.call_soon_threadsafe(self._queue.put_nowait, item)
        except RuntimeError:  # the loop is closed: nobody will read this stream again
            with self._lock:
                self.cancelled = True

    def stopped(self, index: int) -> bool:
        with self._lock:
            return self.cancelled or index in self._stopped

    def cancelled_sample(self, index: int, prompt_tokens: int = 0) -> None:
        """End sample ``index`` before it produced anything (its caller cancelled first)."""
        usage = Usage(prompt_tokens=prompt_tokens)
        self.push(SampleDone(index, Completion("", 0, "cancelled", usage, index=index)))

    # -- consumer side (the event loop) --------------------------------------------------

    def stop(self, index: int) -> None:
        if not 0 <= index < self.request.n:
            raise IndexError(f"no sample {index} in a request of {self.request.n}")
        with self._lock:
            self._stopped.add(index)
        self.on_stop(index)

    def cancel(self) -> None:
        with self._lock:
            self.cancelled = True
        self.on_stop(None)

    def __aiter__(self) -> AsyncIterator[StreamEvent]:
        return self._events()

    async def _events(self) -> AsyncIterator[StreamEvent]:
        try:
            while not self._ended:
                item = await self._queue.get()
                if item is _END:
                    self._ended = True
                    break
                if isinstance(item, BaseException):
                    self._ended = True
                    raise item
                assert isinstance(item, (SampleDelta, SampleDone))
                if isinstance(item, SampleDone):
                    self._done[item.index] = item.completion
                yield item
        except (asyncio.CancelledError, GeneratorExit):
            self.cancel()  # the consumer went away: the producer frees the samples
            raise

    async def completions(self) -> list[Completion]:
        """Drain the stream; the completions in index order (cancelling the stream if the
        awaiting task is cancelled)."""
        try:
            async for _ in self:
                pass
        except asyncio.CancelledError:
            self.cancel()
            raise
        missing = [i for i in range(self.request.n) if i not in self._done]
        if missing:
            raise EngineError(f"the stream ended without samples {missing}")
        return [self._done[i] for i in range(self.request.n)]


def open_stream(engine: Engine, request: GenerationRequest) -> SampleStream:
    """``engine.stream(request)`` when the engine streams, else a stream fed by one ``generate``
    call (each sample arrives whole, as one delta; stopping one ends nothing early)."""
    if isinstance(engine, Streams):
        return engine.stream(request)
    stream = QueueStream(request, asyncio.get_running_loop())

    async def feed() -> None:
        try:
            [row] = await engine.generate([request])
        except asyncio.CancelledError:  # the consumer cancelled: every sample ends empty
            for index in range(request.n):
                stream.cancelled_sample(index)
            return
        except Exception as exc:  # handed to the consumer
            stream.fail(exc)
            return
        for completion in row:
            stream.push(
                SampleDelta(completion.index, completion.text, completion.completion_tokens, completion.logprobs or ())
            )
            stream.push(SampleDone(completion.index, completion))
        if len(row) != request.n:  # a short row: the consumer is told which samples are missing
            stream.finish()

    task = asyncio.ensure_future(feed())

    def on_stop(index: int | None) -> None:
        if index is None:  # cancel: the whole call goes
            task.cancel()

    stream.on_stop = on_stop
    return stream
