"""Hogwild! collaboration on the embedded engine: W workers on one shared KV cache, in one batch.

The scheduler (:mod:`ponder.engines.llama.scheduler`) steps collaborations beside its ordinary
jobs: their workers' next tokens go into the same ``llama_decode`` as every other live sample.
Each worker is one llama.cpp sequence laid out as the paper's step-wise cache (Rodionov et al.
2025, "Hogwild! Inference"), with the common history shared, not copied::

    worker i:  [common prompt][step 1][step 2] ... [step k][worker i's step in progress]
    positions   0 ..          P                            H        H + L_i

- The common prompt is prefilled once (only what the slot cache does not hold) in worker 0's
  sequence and shared with the other workers (``seq_cp``: the same cells).
- Each step opens with its worker's header (``**Bob [3]:** ``): new tokens, decoded once.
- When worker i's step ends (its delimiter, its token cap or the end of its text; its last token is
  decoded first, and a step cut short is closed with the delimiter), its cells ``[H, H + S)``
  become history: for every other worker j still writing, j's step in progress moves past it
  (``seq_add`` by ``+S`` over j's positions ``>= H``: llama.cpp re-rotates the cached keys, RoPE
  being relative) and j's sequence takes i's cells (``seq_cp`` over ``[H, H + S)``). Then
  ``H += S``. No token is decoded twice: the counters (``prompt_tokens_recomputed`` among them)
  account for every token decoded.

Exactness: a shifted cell reads as if computed at its new position (within float tolerance: the
cache holds f16 keys, and on the default model the next-token distribution after a shift differs
from one computed in place by a KL of 0.002-0.005 nats, as much as the same text computed at
other positions does; tests/integration/test_hogwild_engine.py), and a shared cell is the very
cell its author computed. What Hogwild! changes is only what a step in progress saw: its
earlier tokens did not see a step that joined the history meanwhile, its later ones do (the
paper's semantics too).

Not shown to a worker: the others' steps in progress (the paper puts them before each worker's
own step). A llama.cpp cell has one position in every sequence that holds it, so one cell cannot
sit at a different place in each worker's view (the reference code rotates queries per cache
block instead); showing them would mean recomputing them for each view on every token. This
layout is exact and recomputes nothing; the others' work arrives one finished step at a time.

Cost: llama.cpp applies pending shifts at the next decode by re-rotating the keys of every cell
of the cache (not only the moved ones), so each decode step in which a step moved pays time in
proportion to ``n_ctx`` (measured on 2 threads: ~20 ms at 2,048 cells, ~80 ms at 8,192, against
~8 ms for a decode step). Steps that end in the same decode step share one shift.

Everything here runs on the scheduler's thread.
"""

from __future__ import annotations

import codecs
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ponder.core.errors import EngineError
from ponder.core.seeding import derive_seed
from ponder.core.usage import Usage
from ponder.engines.collaboration import CollabEnd, CollabStream, EndReason, FinishedStep, step_ends
from ponder.engines.llama.generator import Generator
from ponder.engines.llama.native import BatchToken, Sampler
from ponder.engines.llama.slots import Slot

COUNTERS = (
    "prompt_tokens_computed",  # the common prompt's prefill, step headers and closings decoded: new tokens
    "prompt_tokens_recomputed",  # tokens decoded that the cache held already: 0 by construction
    "history_tokens_shared",  # cells a worker's sequence took from another's (seq_cp), per receiver
    "cells_shifted",  # cells of steps in progress moved past a new history step (seq_add)
    "tokens_decoded",  # every token this collaboration put into a batch
    "steps_moved",  # steps moved into the common history
)


def _decoder() -> Any:
    return codecs.getincrementaldecoder("utf-8")(errors="replace")


@dataclass
class _Worker:
    """One worker: its sequence, sampler and step in progress (cells ``[history end, pos)``)."""

    index: int
    seq: int
    sampler: Sampler
    pos: int
    number: int = 1  # its step in progress (from 1)
    header: str = ""
    feed: list[int] = field(default_factory=list)  # header tokens still to decode
    step: list[int] = field(default_factory=list)  # this step's tokens in the cache, header first
    text: str = ""  # this step's text after its header
    drawn: int = 0  # tokens drawn for this step
    generated: int = 0  # tokens drawn in all
    pending: int | None = None  # drawn, to decode next
    tail: list[int] = field(default_factory=list)  # a delimiter closing a step cut short, to decode with it
    ending: bool = False  # the step is complete (once ``pending`` and ``tail`` are decoded)
    last: bool = False  # no step after this one (its token cap or its end of text)
    retired: bool = False  # its last step is handled: it decodes nothing more
    started: float = 0.0
    fed: int = 0  # tokens it has in the batch being decoded
    logits_at: int = -1  # batch index of the logits its next token is drawn from
    decoder: Any = field(default_factory=_decoder)


class CollabJob:
    """One collaboration from admission to its end (see the module docstring)."""

    def __init__(self, stream: CollabStream, caller: int, prompt: list[int], generator: Generator) -> None:
        self.stream = stream
        self.request = stream.request
        self.caller = caller
        self.prompt = prompt
        self.generator = generator
        self.context = generator.context
        self.max_new = generator.max_new_tokens(prompt, self.request.prompt)
        self.base: Slot | None = None
        self.pos = 0  # prompt tokens in the base sequence so far
        self.workers: list[_Worker] = []
        self.history_end = 0
        self.steps = 0
        self.drawn = 0
        self.sent = Usage()  # the usage already sent with events
        self.requested = 0  # prompt tokens as requested (each worker's view)
        self.counters = dict.fromkeys(COUNTERS, 0)
        self.clock = time.perf_counter()
        self.ended = False

    # -- planning ----------------------------------------------------------------------------

    @property
    def prefilling(self) -> bool:
        return not self.workers

    def seqs(self) -> set[int]:
        return {w.seq for w in self.workers} | ({self.base.seq} if self.base is not None else set())

    def forks(self) -> int:
        """Sequences it will take when its prompt is prefilled (beside the base)."""
        return self.request.workers - 1 if self.prefilling else 0

    def cells(self) -> int:
        """KV cells it may need (an estimate: the prompt, every token drawn, a header per 32 of them)."""
        workers = self.request.workers
        tokens = workers * self.max_new
        if self.request.total_tokens is not None:
            tokens = min(tokens, self.request.total_tokens)
        return len(self.prompt) + tokens + 12 * (workers + tokens // 32)

    # -- the prompt --------------------------------------------------------------------------

    def start(self, base: Slot, reuse: int, taken: set[int]) -> None:
        """Admitted: its prompt goes to ``base`` (worker 0's sequence), of which ``reuse`` tokens are cached."""
        self.base, self.pos = base, reuse
        self.context.truncate(base.seq, reuse)
        self.generator.slots.touch(base, self.prompt[:reuse])
        self.clock = time.perf_counter()
        if reuse == len(self.prompt):
            self.fork(taken)

    def add_prefill(self, batch: list[BatchToken], budget: int) -> int:
        """Add a chunk of the prompt (no logits needed: each worker's header follows); tokens used."""
        if not self.prefilling or budget <= 0 or self.base is None:
            return 0
        chunk = self.prompt[self.pos : self.pos + budget]
        batch.extend(BatchToken(token, self.pos + i, self.base.seq, False) for i, token in enumerate(chunk))
        self.pos += len(chunk)
        self.counters["prompt_tokens_computed"] += len(chunk)
        self.counters["tokens_decoded"] += len(chunk)
        return len(chunk)

    def fork(self, taken: set[int]) -> None:
        """The prompt is in the base sequence: share it with every worker and open their first steps."""
        assert self.base is not None
        request, slots = self.request, self.generator.slots
        slots.touch(self.base, self.prompt)
        seqs = [self.base.seq]
        for _ in range(1, request.workers):
            slot = slots.least_useful(taken | set(seqs))
            self.context.copy_prefix(self.base.seq, slot.seq, len(self.prompt))
            slots.touch(slot, self.prompt)
            seqs.append(slot.seq)
        prompt = request.prompt
        for index, seq in enumerate(seqs):
            seed = derive_seed(prompt.seed, prompt.first_index + index)
            sampler = Sampler(temperature=prompt.temperature, top_p=prompt.top_p, seed=seed)
            self.workers.append(_Worker(index, seq, sampler, pos=len(self.prompt)))
        self.base = None
        self.history_end = len(self.prompt)
        self.requested += request.workers * len(self.prompt)
        for worker in self.workers:
            self._begin_step(worker)

    # -- one batch ---------------------------------------------------------------------------

    def live(self) -> list[_Worker]:
        return [w for w in self.workers if not w.retired]

    def add_decode(self, batch: list[BatchToken], limit: int) -> None:
        """Add each worker's header tokens or its pending token (while the batch has room)."""
        for w in self.live():
            w.fed, w.logits_at = 0, -1
            tokens = w.feed or ([w.pending] if w.pending is not None else []) + w.tail
            if not tokens or len(batch) + len(tokens) > limit:
                continue
            last = len(tokens) - 1
            wants = bool(w.feed) or not w.ending  # a step's last token needs no logits: a header follows
            batch.extend(BatchToken(t, w.pos + i, w.seq, wants and i == last) for i, t in enumerate(tokens))
            w.fed = len(tokens)
            w.logits_at = len(batch) - 1 if wants else -1

    def after_decode(self, taken: Callable[[], set[int]]) -> None:
        """Take in what the batch decoded: draw next tokens, move finished steps into the history,
        end the collaboration when it is over."""
        if self.prefilling:
            if self.pos == len(self.prompt):
                self.fork(taken())
            return
        complete: list[_Worker] = []
        total = self.request.total_tokens
        for w in self.live():
            if w.fed:
                self._decoded(w)
                if w.ending:
                    complete.append(w)
                    continue
            spent = total is not None and self.drawn >= total  # workers draw in order up to the budget
            if w.logits_at >= 0 and not w.feed and not spent:
                self._draw(w, w.sampler.sample(self.context, w.logits_at))
                if w.ending and w.pending is None and not w.tail:  # its text ended: complete now
                    complete.append(w)
            w.logits_at = -1
        if total is not None and self.drawn >= total:
            self.conclude("tokens")
            return
        for w in complete:
            if not self._room():  # the history is full: the other complete steps stay in progress
                break
            if self._move(w):
                self.conclude("answer")
                return
        reason = self._over()
        if reason is not None:
            self.conclude(reason)

    def _decoded(self, w: _Worker) -> None:
        if w.feed:  # a header: counted when decoded (one begun as the collaboration ends never is)
            w.step.extend(w.feed)
            self.counters["prompt_tokens_computed"] += len(w.feed)
            self.requested += len(w.feed)
            w.feed = []
        else:
            w.step.extend(([w.pending] if w.pending is not None else []) + w.tail)
            self.counters["prompt_tokens_computed"] += len(w.tail)
            self.requested += len(w.tail)
            w.pending, w.tail = None, []
        w.pos += w.fed
        self.counters["tokens_decoded"] += w.fed
        w.fed = 0

    def _draw(self, w: _Worker, token: int) -> None:
        model = self.generator.model
        w.drawn += 1
        w.generated += 1
        self.drawn += 1
        request = self.request
        if model.is_eog(token):
            w.ending = w.last = True
            w.tail = self._closing(w)
            return
        w.text += w.decoder.decode(model.piece(token))
        w.pending = token
        if w.generated >= self.max_new:
            w.last = True
        capped = request.step_tokens and w.drawn >= request.step_tokens
        if step_ends(w.text, request.delimiter, request.end_chars):
            w.ending = True
        elif w.last or capped:
            w.ending = True
            w.tail = self._closing(w)

    def _closing(self, w: _Worker) -> list[int]:
        """The delimiter, decoded after a step cut short (a cap, the end of its text), so that the
        next step in the history begins on its own paragraph (nothing for a blank step)."""
        delimiter = self.request.delimiter
        if not w.text.strip() or w.text.endswith(delimiter):
            return []
        return self.generator.text_tokens(delimiter)

    def _room(self) -> bool:
        """Whether the history may take another step (``max_steps``)."""
        return not self.request.max_steps or self.steps < self.request.max_steps

    def _over(self) -> EndReason | None:
        if not self.live():
            return "exhausted"
        if not self._room():
            return "steps"
        limit = self.generator.max_context
        if any(w.pos + len(w.feed) + 1 >= limit for w in self.live()):
            return "context"
        return None

    # -- the history -------------------------------------------------------------------------

    def _begin_step(self, w: _Worker) -> None:
        w.header = self.request.header(w.index, w.number)
        w.feed = self.generator.text_tokens(w.header)
        if not w.feed:
            raise EngineError(f"worker {w.index}'s step header {w.header!r} has no tokens")
        w.step, w.text, w.drawn, w.ending = [], "", 0, False
        w.decoder = _decoder()
        w.started = time.perf_counter()

    def _move(self, w: _Worker) -> bool:
        """Move ``w``'s complete step into the common history (see the module docstring); whether
        it states the final answer. A blank step is dropped instead."""
        start, size = self.history_end, len(w.step)
        if w.text.strip():
            for other in self.live():
                if other is w:
                    continue
                held = other.pos - start  # its step's cells in the cache (a header to decode is not)
                self.context.shift(other.seq, start, size)
                self.context.share(w.seq, other.seq, start, start + size)
                other.pos += size
                self.counters["cells_shifted"] += held
                self.counters["history_tokens_shared"] += size
                self.requested += size
            self.history_end += size
            self.steps += 1
            self.counters["steps_moved"] += 1
            final = self._report(w)
        else:
            self.context.truncate(w.seq, start)
            w.pos, final = start, False
        if w.last:
            w.retired = True
        else:
            w.number += 1 if w.text.strip() else 0
            self._begin_step(w)
        return final

    def _report(self, w: _Worker) -> bool:
        final = self.request.is_final(w.text)
        now = time.perf_counter()
        self.stream.push(
            FinishedStep(
                worker=w.index,
                number=w.number,
                order=self.steps,
                header=w.header,
                text=w.text,
                tokens=w.drawn,
                started=round(w.started - self.clock, 4),
                ended=round(now - self.clock, 4),
                final=final,
                usage=self._usage_since_sent(),
            )
        )
        return final

    def _usage_since_sent(self) -> Usage:
        """What the collaboration spent since its last event: prompt tokens requested (each
        worker's view) and computed, tokens drawn by every worker (steps in progress included, so
        a token budget sees them at once)."""
        spent = Usage(
            prompt_tokens=self.requested,
            prompt_tokens_computed=self.counters["prompt_tokens_computed"],
            completion_tokens=self.drawn,
        )
        since = Usage(
            prompt_tokens=spent.prompt_tokens - self.sent.prompt_tokens,
            prompt_tokens_computed=spent.prompt_tokens_computed - self.sent.prompt_tokens_computed,
            completion_tokens=spent.completion_tokens - self.sent.completion_tokens,
        )
        self.sent = spent
        return since

    # -- the end -----------------------------------------------------------------------------

    def conclude(self, reason: EndReason) -> None:
        """End: complete steps not yet moved are reported as finished (nothing more is decoded)
        while ``max_steps`` allows, the others as steps in progress; the sequences keep only the
        prompt, as a cache entry."""
        partial: list[str] = []
        tokens: list[int] = []
        for w in self.workers:
            if not w.retired and w.ending and w.text.strip() and self._room():
                self.steps += 1
                self._report(w)
                w.text, w.drawn = "", 0
            partial.append("" if w.retired else w.text)
            tokens.append(0 if w.retired else w.drawn)
        if self.prefilling:  # ended before its workers began
            partial, tokens = [""] * self.request.workers, [0] * self.request.workers
        recomputed = self.counters["tokens_decoded"] - self.counters["prompt_tokens_computed"]
        recomputed -= sum(w.generated for w in self.workers)  # drawn tokens decoded, or drawn last
        self.counters["prompt_tokens_recomputed"] = max(recomputed, 0)
        usage = self._usage_since_sent()
        self._release()
        self.ended = True
        self.stream.push(CollabEnd(reason, tuple(partial), tuple(tokens), usage, dict(self.counters)))

    def _release(self) -> None:
        slots = self.generator.slots
        keep = self.pos if self.prefilling else len(self.prompt)
        for seq in self.seqs():
            self.context.truncate(seq, keep)
            slots.touch(slots.slots[seq], self.prompt[:keep])
        for w in self.workers:
            w.sampler.close()

    def fail(self, error: BaseException) -> None:
        slots = self.generator.slots
        for seq in self.seqs():
            self.context.clear_sequence(seq)  # what these sequences hold is unknown now: forget it
            slots.touch(slots.slots[seq], [])
        for w in self.workers:
            w.sampler.close()
        self.ended = True
        self.stream.fail(error)
