"""Bookkeeping for the KV cache's sequences: which tokens each holds, and which to reuse.

Pure Python (no llama.cpp), so the cache policy is unit-tested on its own. A *slot* is one
llama.cpp sequence id; the table remembers the tokens whose keys and values the slot holds at
positions ``0..len-1``. A new prompt is placed in the slot that shares its longest prefix, so
only the rest is computed; slots that hold nothing useful are reused least-recently-used first.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field


def common_prefix(a: list[int], b: list[int]) -> int:
    """Length of the longest common prefix of two token lists."""
    limit = min(len(a), len(b))
    i = 0
    while i < limit and a[i] == b[i]:
        i += 1
    return i


@dataclass
class Slot:
    """One sequence of the KV cache and the tokens it holds."""

    seq: int
    tokens: list[int] = field(default_factory=list)
    last_used: int = 0


class SlotTable:
    """All slots of a context, with a clock for least-recently-used choices."""

    def __init__(self, n_slots: int) -> None:
        self.slots = [Slot(seq) for seq in range(n_slots)]
        self._clock = 0

    def touch(self, slot: Slot, tokens: list[int]) -> None:
        """Record that ``slot`` now holds ``tokens``."""
        self._clock += 1
        slot.tokens = tokens
        slot.last_used = self._clock

    def best_prefix(self, tokens: list[int], taken: set[int]) -> tuple[Slot, int]:
        """The free slot sharing the longest prefix with ``tokens`` (ties: least recently used)."""
        free = [s for s in self.slots if s.seq not in taken]
        if not free:
            raise RuntimeError("no free slot")  # callers plan waves so that this cannot happen
        best = max(free, key=lambda s: (common_prefix(s.tokens, tokens), -s.last_used))
        return best, common_prefix(best.tokens, tokens)

    def least_useful(self, taken: set[int]) -> Slot:
        """A free slot to overwrite: empty ones first, then the least recently used."""
        free = [s for s in self.slots if s.seq not in taken]
        if not free:
            raise RuntimeError("no free slot")
        return min(free, key=lambda s: (bool(s.tokens), s.last_used))

    def evictable(self, taken: set[int]) -> Iterable[Slot]:
        """Slots holding tokens that no running sequence needs, least recently used first."""
        return sorted((s for s in self.slots if s.seq not in taken and s.tokens), key=lambda s: s.last_used)
