"""A slowly streaming scripted engine for the interrupt tests (``ponder solve`` under Ctrl-C).

Its samples reason at length ("step 1 ... step N") and never answer by themselves; a sample
continued after the hard interrupt's answer cue answers 42. Each streamed word waits ``delay``
seconds, and the first one writes ``STREAMING`` to stderr, so a test knows when to press Ctrl-C.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass

from ponder.core.params import param
from ponder.engines.base import EngineInfo, GenerationRequest
from ponder.engines.fake import FakeEngine, FakeStream
from ponder.engines.plugin import EnginePlugin
from ponder.engines.streaming import StreamEvent

CUE_ANSWER = " 42."


def reasoning(request: GenerationRequest, index: int) -> str:
    """Long reasoning with no answer; after an answer cue, the answer 42."""
    if "final answer is" in request.assistant_prefix:
        return CUE_ANSWER
    return " ".join(f"step{k}" for k in range(request.max_tokens + 10))


@dataclass(frozen=True)
class SlowOptions:
    delay: float = param(0.02, "seconds per streamed word")


class SlowStream(FakeStream):
    """A fake stream that waits between events (and says when it starts)."""

    delay: float = 0.0
    announced: bool = False

    async def _events(self) -> AsyncIterator[StreamEvent]:
        async for event in super()._events():
            if not SlowStream.announced:
                SlowStream.announced = True
                print("STREAMING", file=sys.stderr, flush=True)
            await asyncio.sleep(self.delay)
            yield event


class SlowEngine(FakeEngine):
    """A :class:`FakeEngine` of :func:`reasoning` whose streams wait ``delay`` seconds a word."""

    def __init__(self, options: SlowOptions = SlowOptions()) -> None:
        super().__init__(reasoning)
        self.delay = options.delay
        self.info = EngineInfo(name="slow", model="slow-1")

    def stream(self, request: GenerationRequest) -> FakeStream:
        made = super().stream(request)
        slow = SlowStream(made.request, made.samples)
        slow.delay = self.delay
        return slow


PLUGIN = EnginePlugin(
    name="slow",
    summary="streams slowly, for interrupt tests",
    Options=SlowOptions,
    factory=SlowEngine,
    spec_option=None,
)
