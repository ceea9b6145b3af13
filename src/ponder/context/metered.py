"""An engine wrapper that records what every call costs in a ledger."""

from __future__ import annotations

from collections.abc import Sequence

from ponder.core.ledger import Ledger
from ponder.core.usage import Usage, total
from ponder.engines.base import Arrivals, Completion, Engine, EngineCapabilities, EngineInfo, GenerationRequest
from ponder.engines.base import generate_each as serve_each


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
        cost = total([c.usage for row in rows for c in row]) + Usage(engine_calls=1)
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

    async def aclose(self) -> None:
        return None  # the wrapped engine belongs to the caller
