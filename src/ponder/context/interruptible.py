"""A stream of samples that interrupts reach: the context's streams, continued after each signal.

:class:`LiveStream` wraps the metered stream a context opened (:meth:`StepContext.stream
<ponder.context.StepContext.stream>`) and registers with the run's
:class:`~ponder.context.interrupts.Interrupts`. Without a signal it passes the engine's events on
unchanged. On a signal it stops each of its samples still running (the engine's per-sample
stop) and, when the stopped sample's partial completion arrives, continues it in a stream of its
own (one sample, the partial text plus the signal's note as ``assistant_prefix``, seeded by the
sample's identity and the continuation's number); the consumer sees one sample that went on: the
continuation's deltas (``tokens`` counting the whole sample; an answer cue's deltas carry no
logprobs, so a watcher of confidences does not stop a sample that is concluding) and one
:class:`~ponder.engines.streaming.SampleDone` with the whole text, all segments' tokens, usage
and logprobs, and the last segment's finish reason. ``stop(i)`` reaches whichever segment of
sample ``i`` is running; a sample its consumer stopped is not continued.

A sample already answering (after a hard interrupt's cue, or with one pending) is left alone by
every later signal: a second hard interrupt counts it as reached (it is answering already), and a
soft interrupt or an update does not cut its answer. A sample's token cap only shrinks: a soft
interrupt caps it at what it had generated plus ``soft_budget`` of what its cap (not
``max_tokens``) left, and a later soft interrupt or update goes on from that cap; a signal still
leaves a sample at least ``answer_tokens`` to conclude. Whether the engine can continue a partial
answer (``raw_continuation``) is read when a signal acts, not when the stream opens: a server's
engine learns it when it connects (llama-server's chat template comes from ``/props``). A soft
interrupt or an update that arrives while the engine says it cannot continue waits for the
sample's next text to ask again (so that a stream still connecting is not cut for nothing).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from typing import Any

from ponder.context.interrupts import Interrupts, SampleRecord, Signal
from ponder.context.metered import MeteredStream
from ponder.core.chat import Message
from ponder.core.seeding import derive_seed
from ponder.core.usage import Usage
from ponder.engines.base import Completion, GenerationRequest, TokenLogprob
from ponder.engines.streaming import SampleDelta, SampleDone, StreamEvent

Opener = Callable[[GenerationRequest, str, int], MeteredStream]
"""Opens a continuation's stream (metered into the run's ledger), given the sample's text so far
(notes included) and the tokens it generated."""


@dataclass
class _Sample:
    """One sample of the request across its segments."""

    index: int
    identity: int
    text: str = ""  # the ended segments' text, with the notes that followed them
    tokens: int = 0  # tokens the ended segments generated
    usage: Usage = field(default_factory=Usage)
    logprobs: list[TokenLogprob] | None = field(default_factory=list)
    pending: list[Signal] = field(default_factory=list)
    records: list[SampleRecord] = field(default_factory=list)  # the signals that reached it
    segments: int = 0
    stopped: bool = False  # by the consumer
    done: bool = False
    concluding: bool = False  # the running segment answers an answer cue
    waiting: bool = False  # pending soft/update signals wait to learn whether the engine can continue
    cap: int | None = None  # the tokens the sample may generate in all (None: the request's max_tokens)

    @property
    def answering(self) -> bool:
        """Whether the sample answers a hard interrupt (concluding, or about to)."""
        return self.concluding or any(s.mode == "hard" for s in self.pending)


@dataclass
class _Source:
    """A stream feeding samples: ``samples[i]`` is the sample its index ``i`` serves."""

    stream: MeteredStream
    samples: dict[int, _Sample]
    iterator: AsyncIterator[StreamEvent]
    continuation: bool = False
    pulling: asyncio.Future[StreamEvent | None] | None = None


async def _pull(iterator: AsyncIterator[StreamEvent]) -> StreamEvent | None:
    try:
        return await iterator.__anext__()
    except StopAsyncIteration:
        return None


class LiveStream:
    """The consumer's view of a context's stream (see the module docstring); a
    :class:`~ponder.engines.streaming.SampleStream`."""

    def __init__(
        self,
        stream: MeteredStream,
        interrupts: Interrupts,
        open_stream: Opener,
        record: Callable[[Usage], None],
        *,
        task: str,
        continues: bool | Callable[[], bool],
    ) -> None:
        """``open_stream`` opens continuations; ``record`` meters their extra tokens; ``task``
        names the answer task (its answer cue); ``continues``: whether the engine can continue a
        partial answer (``raw_continuation``), or a function that says so when asked (read each
        time a signal acts: a server's engine learns it when it connects)."""
        self.inner = stream
        self._record = record
        self.request = stream.request
        self._interrupts = interrupts
        self._open = open_stream
        self._task = task
        self._can_continue = continues
        first = self.request.first_index
        self._samples = [_Sample(i, first + i) for i in range(self.request.n)]
        self._sources = [_Source(stream, dict(enumerate(self._samples)), aiter(stream))]
        self._done: dict[int, Completion] = {}
        interrupts.register(self)

    # -- the consumer's controls -----------------------------------------------------------------

    def stop(self, index: int) -> None:
        if not 0 <= index < self.request.n:
            raise IndexError(f"no sample {index} in a request of {self.request.n}")
        sample = self._samples[index]
        sample.stopped = True
        sample.pending.clear()
        self._stop_running(sample)

    def cancel(self) -> None:
        for source in self._sources:
            source.stream.cancel()

    def _stop_running(self, sample: _Sample) -> None:
        for source in self._sources:
            for local, held in source.samples.items():
                if held is sample:
                    source.stream.stop(local)

    # -- interrupts ----------------------------------------------------------------------------

    def _continues(self) -> bool:
        """Whether the engine can continue a partial answer, as it knows now."""
        return self._can_continue() if callable(self._can_continue) else self._can_continue

    def interrupt(self, signal: Signal) -> int:
        """Stop every running sample to continue it after ``signal``; how many were reached (a
        sample already answering a hard interrupt counts for a hard one, and is left alone)."""
        reached = 0
        for sample in self._samples:
            if sample.done or sample.stopped:
                continue
            if sample.answering:  # its answer is being formed: no signal cuts it
                reached += signal.mode == "hard"
                continue
            sample.pending.append(signal)
            if signal.mode == "hard" or self._continues():
                sample.waiting = False
                self._stop_running(sample)
            else:  # the engine cannot continue it (or does not know yet): ask again at its next text
                sample.waiting = True
            reached += 1
        return reached

    def _resolve_waiting(self, sample: _Sample) -> None:
        """Pending soft/update signals of ``sample`` act now if the engine can continue it, else
        they are dropped (the sample goes on; samples started later still see an update)."""
        sample.waiting = False
        if self._continues():
            self._stop_running(sample)
        else:
            sample.pending = [s for s in sample.pending if s.mode == "hard"]

    # -- events --------------------------------------------------------------------------------

    def __aiter__(self) -> AsyncIterator[StreamEvent]:
        return self._events()

    async def _events(self) -> AsyncIterator[StreamEvent]:
        try:
            while self._sources:
                source, event = await self._next()
                if event is None:
                    self._sources.remove(source)
                    continue
                for out in self._handle(source, event):
                    yield out
        except (asyncio.CancelledError, GeneratorExit):
            self.cancel()
            raise
        finally:
            self._interrupts.unregister(self)
            for source in self._sources:
                if source.pulling is not None:
                    source.pulling.cancel()
                    with contextlib.suppress(BaseException):
                        await source.pulling

    async def _next(self) -> tuple[_Source, StreamEvent | None]:
        """The next event of any source (with one source and nothing pending, read it directly)."""
        if len(self._sources) == 1 and self._sources[0].pulling is None:
            source = self._sources[0]
            return source, await _pull(source.iterator)
        for source in self._sources:
            if source.pulling is None:
                source.pulling = asyncio.ensure_future(_pull(source.iterator))
        pulling = [s.pulling for s in self._sources if s.pulling is not None]
        await asyncio.wait(pulling, return_when=asyncio.FIRST_COMPLETED)
        source = next(s for s in self._sources if s.pulling is not None and s.pulling.done())
        assert source.pulling is not None
        event, source.pulling = source.pulling.result(), None
        return source, event

    def _handle(self, source: _Source, event: StreamEvent) -> list[StreamEvent]:
        sample = source.samples[event.index]
        if isinstance(event, SampleDelta):
            if sample.waiting:
                self._resolve_waiting(sample)
            tokens = sample.tokens + event.tokens
            out = SampleDelta(sample.index, event.text, tokens, () if sample.concluding else event.logprobs)
            self._interrupts.grew(tokens)
            return [out]
        del source.samples[event.index]
        completion = event.completion
        if sample.waiting:  # it ended before its signals could act
            sample.waiting = False
            sample.pending = [s for s in sample.pending if s.mode == "hard"]
        if source.continuation:
            self._ended_continuation(sample, completion)
        resumed = completion.finish_reason == "cancelled" and sample.pending and not sample.stopped
        if resumed and self._continue(sample, completion):
            return []
        return [SampleDone(sample.index, self._finish(sample, completion))]

    def _ended_continuation(self, sample: _Sample, completion: Completion) -> None:
        extra = completion.completion_tokens
        if sample.records:
            sample.records[-1].extra_tokens += extra
        self._record(Usage(interrupt_tokens=extra))

    def _finish(self, sample: _Sample, completion: Completion) -> Completion:
        """The whole sample: its ended segments, then ``completion``, its last."""
        sample.done = True
        for record in sample.records:
            record.finish_reason = completion.finish_reason
        if not sample.segments:
            self._done[sample.index] = completion
            return completion
        logprobs = None
        if sample.logprobs is not None and completion.logprobs is not None:
            logprobs = (*sample.logprobs, *completion.logprobs)
        whole = replace(
            completion,
            text=sample.text + completion.text,
            completion_tokens=sample.tokens + completion.completion_tokens,
            usage=sample.usage + completion.usage,
            index=sample.index,
            logprobs=logprobs,
        )
        self._done[sample.index] = whole
        return whole

    def _continue(self, sample: _Sample, partial: Completion) -> bool:
        """Continue ``sample`` after its pending signals, from ``partial`` (its running segment,
        stopped); False when the engine cannot continue it (it ends with ``partial``)."""
        signals, sample.pending = sample.pending, []
        generated = sample.tokens + partial.completion_tokens
        for signal in signals:
            sample.records.append(self._interrupts.record(signal, sample.identity, generated))
        fresh = generated == 0 and not sample.text and all(s.mode == "update" for s in signals)
        if not fresh and not self._continues():  # an engine that cannot continue: keep the partial
            for record in sample.records[-len(signals) :]:
                record.continued = False
            return False
        if fresh:  # nothing to continue: begin again on the updated question
            sample.usage = sample.usage + partial.usage
        else:
            self._absorb(sample, partial)
        request = self._request(sample, signals, generated, fresh)
        sample.segments += 1
        stream = self._open(request, sample.text, sample.tokens)
        self._sources.append(_Source(stream, {0: sample}, aiter(stream), continuation=True))
        return True

    def _absorb(self, sample: _Sample, partial: Completion) -> None:
        sample.text += partial.text
        sample.tokens += partial.completion_tokens
        sample.usage = sample.usage + partial.usage
        if sample.logprobs is not None and partial.logprobs is not None:
            sample.logprobs.extend(partial.logprobs)
        else:
            sample.logprobs = None

    def _request(self, sample: _Sample, signals: list[Signal], generated: int, fresh: bool) -> GenerationRequest:
        """The continuation of ``sample`` after ``signals`` (a restart on the updated question when ``fresh``)."""
        settings = self._interrupts.settings
        base = self.request
        hard = any(s.mode == "hard" for s in signals)
        cap = base.max_tokens if sample.cap is None else sample.cap
        left = max(cap - generated, 0)
        if fresh:
            for record in sample.records[-len(signals) :]:
                record.restarted = True
            notes = "".join(settings.update_question.format(text=s.text) for s in signals)
            return replace(base, n=1, first_index=sample.identity, max_tokens=max(left, 1), **_asked_again(base, notes))
        for signal in signals:
            if signal.mode == "soft":
                sample.text += settings.soft_note
            elif signal.mode == "update":
                sample.text += settings.update_note.format(text=signal.text)
        if hard:
            sample.text += settings.cue(self._task, self._prefix() + sample.text)
            sample.concluding = True
            for record in sample.records[-len(signals) :]:
                record.concluded = True
            budget = settings.answer_tokens
        else:
            if any(s.mode == "soft" for s in signals):  # the cap only shrinks: a soft one from what is left
                sample.cap = min(cap, generated + math.ceil(settings.soft_budget * left))
                left = sample.cap - generated
            budget = max(left, settings.answer_tokens)
        seed = derive_seed(base.seed, sample.identity, sample.segments + 1)
        continued: dict[str, Any] = (
            {"text": (base.text or "") + sample.text}
            if base.messages is None
            else {"assistant_prefix": base.assistant_prefix + sample.text}
        )
        return replace(base, n=1, first_index=sample.identity, seed=seed, max_tokens=budget, **continued)

    def _prefix(self) -> str:
        return self.request.assistant_prefix if self.request.messages is not None else ""

    async def completions(self) -> list[Completion]:
        """Every sample's completion in index order (draining the stream)."""
        try:
            async for _ in self:
                pass
        except asyncio.CancelledError:
            self.cancel()
            raise
        return [self._done[i] for i in sorted(self._done)]


def _asked_again(base: GenerationRequest, notes: str) -> dict[str, Any]:
    """The request's prompt with the updates after its question (its last user message, or its text)."""
    if base.messages is None:
        return {"text": (base.text or "") + notes}
    messages = list(base.messages)
    for i in range(len(messages) - 1, -1, -1):
        if messages[i].role == "user":
            messages[i] = Message("user", messages[i].content + notes)
            break
    return {"messages": tuple(messages)}
