"""A stand-in for the embedded engine's llama.cpp side, for unit tests of the scheduler's logic.

It keeps each sequence's cells like llama.cpp's unified cache does (positions must be filled in
order), and its "model" picks each next token from a hash of the sequence's contents, so a
sample's text depends only on its own history. Token 0 ends a sample; token t prints as ``<t>``.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from ponder.core.errors import ContextOverflowError
from ponder.engines.base import GenerationRequest
from ponder.engines.llama.native import BatchToken
from ponder.engines.llama.slots import SlotTable

VOCAB = 50
UNTOKENIZABLE = "<untokenizable>"


class FakeModel:
    def is_eog(self, token: int) -> bool:
        return token == 0

    def piece(self, token: int) -> bytes:
        return f"<{token}>".encode()


class FakeContext:
    def __init__(self, n_ctx: int, n_batch: int, delay: float) -> None:
        self.n_ctx, self.n_batch, self.delay = n_ctx, n_batch, delay
        self.cells: dict[int, dict[int, int]] = {}
        self.last: list[BatchToken] = []

    def clear(self) -> None:
        self.cells.clear()

    def clear_sequence(self, seq: int) -> None:
        self.cells.pop(seq, None)

    def truncate(self, seq: int, length: int) -> None:
        self.cells[seq] = {p: t for p, t in self.cells.get(seq, {}).items() if p < length}

    def copy_prefix(self, src: int, dst: int, length: int) -> None:
        self.cells[dst] = {p: t for p, t in self.cells.get(src, {}).items() if p < length}

    def decode(self, batch: list[BatchToken]) -> None:
        if self.delay:
            time.sleep(self.delay)
        assert len(batch) <= self.n_batch
        for token in batch:
            cells = self.cells.setdefault(token.seq, {})
            assert token.pos == 0 or token.pos - 1 in cells, "positions must be decoded in order"
            cells[token.pos] = token.token
        self.last = batch

    def logits(self, index: int) -> np.ndarray:
        token = self.last[index]
        history = tuple(self.cells[token.seq][p] for p in range(token.pos + 1))
        row = np.zeros(VOCAB, dtype=np.float32)
        row[1 + hash(history) % (VOCAB - 1)] = 5.0
        return row


class FakeSampler:
    def __init__(self, *, temperature: float, top_p: float, seed: int) -> None:
        self.seed = seed

    def sample(self, context: Any, index: int) -> int:
        return int(np.argmax(context.logits(index)))

    def close(self) -> None:
        return None


class FakeGenerator:
    """What the scheduler needs of :class:`~ponder.engines.llama.generator.Generator`."""

    def __init__(self, *, n_slots: int = 6, n_ctx: int = 2000, n_batch: int = 32, delay: float = 0.0) -> None:
        self.model = FakeModel()
        self.context = FakeContext(n_ctx, n_batch, delay)
        self.slots = SlotTable(n_slots)
        self.max_context = n_ctx

    def prompt_tokens(self, request: GenerationRequest) -> list[int]:
        assert request.text is not None
        if UNTOKENIZABLE in request.text:  # requests refuse invalid text now; this stands for any tokenizer failure
            raise ValueError(f"the fake tokenizer refuses {UNTOKENIZABLE!r}")
        return [1 + byte % (VOCAB - 1) for byte in request.text.encode("utf-8")]  # as llama.cpp's tokenizer, UTF-8

    def max_new_tokens(self, prompt: list[int], request: GenerationRequest) -> int:
        if len(prompt) >= self.max_context:
            raise ContextOverflowError("the prompt does not fit")
        return min(request.max_tokens, self.max_context - len(prompt))

    def reset_cache(self) -> None:
        self.context.clear()
        for slot in self.slots.slots:
            self.slots.touch(slot, [])
