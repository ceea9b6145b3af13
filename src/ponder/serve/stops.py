"""A request's ``stop`` strings, applied to the samples its strategy generates.

:class:`WithStops` wraps the served engine for one run as its generator engine: every request
the strategy makes (samples, continuations, streams) also stops at the client's strings, on top
of any the strategy uses itself (a step delimiter). Judges get the engine unwrapped: their
replies are not the client's text. A sample cut at a client's string ends with ``stop``, as
OpenAI's server ends it: it is finished, never continued (step-wise search takes a stop other
than its delimiter as the end of the solution where the engine names the string that matched,
``reports_stop``; elsewhere a cut step is taken as a step).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from ponder.engines.base import Arrivals, Completion, Engine, EngineCapabilities, EngineInfo, GenerationRequest
from ponder.engines.base import generate_each as serve_each
from ponder.engines.streaming import SampleStream, open_stream


class WithStops:
    """``engine`` with ``stops`` added to every request (see the module docstring)."""

    def __init__(self, engine: Engine, stops: Sequence[str]) -> None:
        self.engine = engine
        self.stops = tuple(stops)

    @property
    def capabilities(self) -> EngineCapabilities:
        return self.engine.capabilities

    @property
    def info(self) -> EngineInfo:
        return self.engine.info

    def _with_stops(self, request: GenerationRequest) -> GenerationRequest:
        extra = tuple(s for s in self.stops if s not in request.stop)
        return replace(request, stop=request.stop + extra) if extra else request

    async def generate(self, requests: Sequence[GenerationRequest]) -> list[list[Completion]]:
        return await self.engine.generate([self._with_stops(r) for r in requests])

    async def generate_each(self, requests: Sequence[GenerationRequest]) -> Arrivals:
        async for arrived in serve_each(self.engine, [self._with_stops(r) for r in requests]):
            yield arrived

    def stream(self, request: GenerationRequest) -> SampleStream:
        return open_stream(self.engine, self._with_stops(request))

    async def aclose(self) -> None:
        return None  # the served engine belongs to the server


def with_stops(engine: Engine, stops: Sequence[str]) -> Engine:
    """``engine`` itself when there are no stops, else :class:`WithStops`."""
    return WithStops(engine, stops) if stops else engine
