"""An engine wrapper that records what every call costs in a ledger."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

from ponder.context.watch import SampleWatch
from ponder.core.ledger import Ledger
from ponder.core.usage import Usage, total
from ponder.engines.base import Arrivals, Completion, Engine, EngineCapabilities, EngineInfo, GenerationRequest
from ponder.engines.base import generate_each as serve_each
from ponder.engines.streaming import SampleDelta, SampleDone, SampleStream, StreamEvent, open_stream


class MeteredEngine:
    """Wraps an engine and records what its calls cost (one engine call per batch) in its own
    :attr:`usage` and, when given, in ``ledger`` (as scorer usage with ``for_scorers``)."""

    def __init__(self, engine: Engine, ledger: Ledger | None = None, *, for_scorers: bool = False) -> None:
        self.engine = engine
        self.ledger = ledger
        self.for_scorers = for_scorers
        self.usage = Usage()

    @property
    def capabilities(self) -> EngineCapabilities:
        return self.engine.capabilities

    @property
    def info(self) -> EngineInfo:  # a remote engine learns its model name on first contact
        return self.engine.info

    def _record(self, rows: Sequence[list[Completion]]) -> None:
        self.record(total([c.usage for row in rows for c in row]) + Usage(engine_calls=1))

    def record(self, cost: Usage) -> None:
        """Add ``cost`` to this meter and its ledger."""
        self.usage = self.usage + cost
        if self.ledger is not None:
            self.ledger.record(cost.as_scorer_usage() if self.for_scorers else cost)

    async def generate(self, requests: Sequence[GenerationRequest]) -> list[list[Completion]]:
        results = await self.engine.generate(requests)
        self._record(results)
        return results

    async def generate_each(self, requests: Sequence[GenerationRequest]) -> Arrivals:
        """The wrapped engine's way of serving several requests (see
        :func:`ponder.engines.base.generate_each`); each arrival is one engine call."""
        async for arrived in serve_each(self.engine, requests):
            self._record([row for _, row in arrived])
            yield arrived

    def stream(self, request: GenerationRequest, watch: SampleWatch | None = None) -> MeteredStream:
        """The wrapped engine's stream of ``request`` (:func:`~ponder.engines.streaming.open_stream`),
        each finished sample's usage recorded as it ends (one engine call per stream); its events
        are published to ``watch`` as they are read (sample ``i`` as identity ``first_index + i``)."""
        return MeteredStream(open_stream(self.engine, request), self, watch)

    async def aclose(self) -> None:
        return None  # the wrapped engine belongs to the caller


class MeteredStream:
    """A :class:`~ponder.engines.streaming.SampleStream` whose samples' usage goes to a meter as
    each ends, and whose events go to ``watch`` (if any) as they are read; ``stop`` and
    ``cancel`` reach the engine's stream."""

    def __init__(self, stream: SampleStream, meter: MeteredEngine, watch: SampleWatch | None = None) -> None:
        self.inner = stream
        self.request = stream.request
        self._meter = meter
        self._watch = watch
        meter.record(Usage(engine_calls=1))

    def stop(self, index: int) -> None:
        self.inner.stop(index)

    def cancel(self) -> None:
        self.inner.cancel()

    def __aiter__(self) -> AsyncIterator[StreamEvent]:
        return self._events()

    async def _events(self) -> AsyncIterator[StreamEvent]:
        first = self.request.first_index
        async for event in self.inner:
            if isinstance(event, SampleDone):
                self._meter.record(event.completion.usage)
            if self._watch is not None:
                if isinstance(event, SampleDelta):
                    self._watch.grew(first + event.index, event.text, event.tokens)
                else:
                    self._watch.ended(first + event.index, event.completion.finish_reason)
            yield event

    async def completions(self) -> list[Completion]:
        """Every sample's completion in index order (draining the stream)."""
        done: dict[int, Completion] = {}
        try:
            async for event in self:
                if isinstance(event, SampleDone):
                    done[event.index] = event.completion
        except asyncio.CancelledError:
            self.cancel()
            raise
        return [done[i] for i in sorted(done)]
