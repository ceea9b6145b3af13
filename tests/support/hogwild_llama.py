"""The scheduler's llama.cpp stand-in (:mod:`tests.support.fake_llama`) with what Hogwild!
collaborations need: position shifts, range sharing and header tokenization, and an engine over
it that serves ``collaborate`` as the embedded engine does."""

from __future__ import annotations

import asyncio

from ponder.engines.base import Completion, EngineCapabilities, EngineInfo, GenerationRequest
from ponder.engines.collaboration import CollabRequest, CollabStream
from ponder.engines.llama.scheduler import Scheduler
from tests.support.fake_llama import FakeContext, FakeGenerator


class SharingContext(FakeContext):
    """The fake cache with llama.cpp's position shift and range sharing; sharing into positions a
    sequence already holds is an error (llama.cpp would give one position two cells)."""

    can_shift = True

    def shift(self, seq: int, start: int, delta: int) -> None:
        cells = self.cells.get(seq, {})
        self.cells[seq] = {(p + delta if p >= start else p): t for p, t in cells.items()}

    def share(self, src: int, dst: int, start: int, end: int) -> None:
        cells = self.cells.setdefault(dst, {})
        for p, t in self.cells.get(src, {}).items():
            if start <= p < end:
                assert p not in cells, f"position {p} of sequence {dst} is taken"
                cells[p] = t


class SharingGenerator(FakeGenerator):
    def __init__(self, **options: float) -> None:
        super().__init__(**options)  # type: ignore[arg-type]
        self.context = SharingContext(self.context.n_ctx, self.context.n_batch, self.context.delay)

    def prompt_tokens(self, request: GenerationRequest) -> list[int]:
        if request.messages is not None:  # a chat: its text, as the fake model reads it
            text = "".join(m.content for m in request.messages) + request.assistant_prefix
            request = GenerationRequest(text=text)
        return super().prompt_tokens(request)

    def text_tokens(self, text: str) -> list[int]:
        return [1 + byte % 49 for byte in text.encode("utf-8")]


class SharedFakeEngine:
    """An engine with the shared-cache primitive over the fake scheduler (its tokens print as ``<t>``)."""

    def __init__(self, **options: float) -> None:
        self.scheduler = Scheduler(SharingGenerator(**options), prefill_chunk=16)  # type: ignore[arg-type]
        self.capabilities = EngineCapabilities(fork=True, streams=False, shared_cache=True, max_context=2000)
        self.info = EngineInfo(name="fake-llama", model="fake")

    def collaborate(self, request: CollabRequest) -> CollabStream:
        stream = CollabStream(request, asyncio.get_running_loop(), on_cancel=self.scheduler.poke)
        self.scheduler.submit_collab(stream, self.scheduler.new_caller())
        return stream

    async def generate(self, requests: list[GenerationRequest]) -> list[list[Completion]]:
        raise AssertionError("a shared-cache collaboration sends no ordinary requests")

    async def aclose(self) -> None:
        self.scheduler.close()
