"""The embedded engine's synchronous core: batched, forked, prefix-cached generation.

For each wave of requests (see :func:`plan_waves`):
1. each request's prompt goes to the slot that already holds its longest prefix; only the
   tokens after that prefix are computed (at least the last one, whose logits are needed);
2. each of its ``n`` samples draws its first token from those logits with its own seeded
   sampler chain and gets its own sequence, a copy of the prompt's cells (``seq_cp``: shared,
   not recomputed);
3. all unfinished samples of all requests then decode together, one token each per batch,
   until EOG, a stop string or the token cap.
When the KV cache is full, cached sequences that no running sample needs are dropped, least
recently used first.
"""

from __future__ import annotations

import threading
from typing import Sequence

from ponder.engines.base import Completion, GenerationRequest
from ponder.engines.chat_template import ChatTemplate
from ponder.engines.llama.native import BatchToken, KVFullError, NativeContext, NativeModel, Sampler
from ponder.engines.llama.sequence import SampleState
from ponder.engines.llama.slots import Slot, SlotTable, WaveItem, plan_waves
from ponder.core.errors import ContextOverflowError, EngineError
from ponder.core.seeding import derive_seed
from ponder.core.usage import Usage


class CancelledGeneration(EngineError):
    """The caller gave up on a generation (its task was cancelled); its work stopped."""


class Generator:
    """Owns one model and one context; call from a single thread."""

    def __init__(self, model: NativeModel, context: NativeContext, n_slots: int) -> None:
        self.model = model
        self.context = context
        self.slots = SlotTable(n_slots)
        self.template = ChatTemplate(
            model.chat_template(), bos_token=model.special_text(model.bos), eos_token=model.special_text(model.eos)
        )
        self.max_context = min(context.n_ctx, model.n_ctx_train or context.n_ctx)
        self._cancel = threading.Event()

    def reset_cache(self) -> None:
        """Forget every cached prefix (the next call computes its prompts in full)."""
        self.context.clear()
        for slot in self.slots.slots:
            self.slots.touch(slot, [])

    # -- preparing requests ------------------------------------------------------------------

    def prompt_tokens(self, request: GenerationRequest) -> list[int]:
        """The tokens of a request's full prompt (chat template and partial answer included)."""
        if request.text is not None:
            return self.model.tokenize(request.text, add_special=self.model.add_bos)
        assert request.messages is not None
        text = self.template.render(request.messages, assistant_prefix=request.assistant_prefix)
        tokens = self.model.tokenize(text, add_special=self.model.add_bos)
        if len(tokens) > 1 and tokens[0] == tokens[1] == self.model.bos:
            tokens = tokens[1:]  # the template wrote a BOS of its own
        return tokens

    def _max_new(self, prompt: list[int], request: GenerationRequest) -> int:
        if not prompt:
            raise ContextOverflowError("the prompt is empty after tokenization")
        if len(prompt) >= self.max_context:
            raise ContextOverflowError(
                f"prompt has {len(prompt)} tokens but the model's context holds {self.max_context}"
            )
        return min(request.max_tokens, self.max_context - len(prompt))

    # -- generation --------------------------------------------------------------------------

    def generate(self, requests: Sequence[GenerationRequest], cancel: threading.Event | None = None) -> list[list[Completion]]:
        """Serve a batch; setting ``cancel`` (from another thread) stops it between decode steps."""
        self._cancel = cancel or threading.Event()
        prompts = [self.prompt_tokens(r) for r in requests]
        limits = [self._max_new(p, r) for p, r in zip(prompts, requests)]
        sizes = [(len(p), r.n, m) for p, r, m in zip(prompts, requests, limits)]
        waves = plan_waves(sizes, n_slots=len(self.slots.slots), n_cells=self.context.n_ctx)
        results: list[list[Completion | None]] = [[None] * r.n for r in requests]
        for wave in waves:
            self._check_cancel()
            for state in self._run_wave(wave, requests, prompts, limits):
                results[state.request][state.index] = self._completion(state, len(prompts[state.request]))
        return [[c for c in row if c is not None] for row in results]

    def _run_wave(
        self, wave: list[WaveItem], requests: Sequence[GenerationRequest], prompts: list[list[int]], limits: list[int]
    ) -> list[SampleState]:
        taken: set[int] = set()
        bases = []
        for item in wave:  # choose every base first, so no fork overwrites another's prefix
            slot, shared = self.slots.best_prefix(prompts[item.request], taken)
            taken.add(slot.seq)
            bases.append((slot, shared))
        states: list[SampleState] = []
        try:
            for item, (base, shared) in zip(wave, bases):
                states += self._start_request(item, requests[item.request], prompts[item.request],
                                              limits[item.request], base, shared, taken)
            self._decode_all(states, taken)
        except BaseException:
            for seq in taken:  # what these sequences hold is unknown now: forget it
                self.context.clear_sequence(seq)
                self.slots.touch(self.slots.slots[seq], [])
            raise
        finally:
            for state in states:
                state.close()
        for state in states:
            self.slots.touch(self.slots.slots[state.slot], prompts[state.request] + state.decoded)
        return states

    def _start_request(
        self, item: WaveItem, request: GenerationRequest, prompt: list[int], max_new: int,
        base: Slot, shared: int, taken: set[int],
    ) -> list[SampleState]:
        """Prefill the uncached part of the prompt, then fork and draw each sample's first token."""
        reuse = min(shared, len(prompt) - 1)
        self.context.truncate(base.seq, reuse)
        self.slots.touch(base, prompt[:reuse])
        logits_index = self._prefill(base.seq, prompt, reuse, taken)
        self.slots.touch(base, prompt)
        row = self.context.logits(logits_index).copy() if request.wants_logprobs else None
        states = []
        for k in range(item.count):
            index = item.first + k
            slot = self.slots.least_useful(taken)
            taken.add(slot.seq)
            self.context.copy_prefix(base.seq, slot.seq, len(prompt))
            sampler = Sampler(temperature=request.temperature, top_p=request.top_p,
                              seed=derive_seed(request.seed, request.first_index + index))
            state = SampleState(
                request=item.request, index=index, slot=slot.seq, pos=len(prompt), max_new=max_new,
                stop=request.stop, sampler=sampler, want_logprobs=request.wants_logprobs,
                top_logprobs=request.top_logprobs,
                prompt_computed=len(prompt) - reuse if k == 0 else 0,
            )
            state.accept(self.model, sampler.sample(self.context, logits_index), row)
            states.append(state)
        return states

    def _check_cancel(self) -> None:
        if self._cancel.is_set():
            raise CancelledGeneration("generation cancelled by the caller")

    def _prefill(self, seq: int, prompt: list[int], start: int, taken: set[int]) -> int:
        """Decode ``prompt[start:]`` into ``seq`` in chunks; return the logits index of the last token."""
        size = self.context.n_batch
        batch: list[BatchToken] = []
        for begin in range(start, len(prompt), size):
            self._check_cancel()
            chunk = prompt[begin : begin + size]
            last = begin + len(chunk) == len(prompt)
            batch = [BatchToken(t, begin + i, seq, last and i == len(chunk) - 1) for i, t in enumerate(chunk)]
            self._decode(batch, taken)
        return len(batch) - 1  # logits are addressed by batch position

    def _decode_all(self, states: list[SampleState], taken: set[int]) -> None:
        active = [s for s in states if s.pending is not None]
        while active:
            self._check_cancel()
            batch = [BatchToken(token, s.pos, s.slot, True) for s in active if (token := s.pending) is not None]
            self._decode(batch, taken)
            for i, state in enumerate(active):
                state.mark_decoded()
                token = state.sampler.sample(self.context, i)
                state.accept(self.model, token, self.context.logits(i) if state.want_logprobs else None)
            active = [s for s in active if s.pending is not None]

    def _decode(self, batch: list[BatchToken], taken: set[int]) -> None:
        """Decode, dropping cached sequences nobody running needs while the cache is full."""
        while True:
            try:
                self.context.decode(batch)
                return
            except KVFullError:
                victims = list(self.slots.evictable(taken))
                if not victims:
                    raise ContextOverflowError(
                        f"the KV cache ({self.context.n_ctx} cells) is too small for this batch; "
                        "raise n_ctx or lower n / max_tokens"
                    ) from None
                self.context.clear_sequence(victims[0].seq)
                self.slots.touch(victims[0], [])

    def _completion(self, state: SampleState, prompt_len: int) -> Completion:
        assert state.finish is not None
        return Completion(
            text=state.text,
            completion_tokens=state.generated,
            finish_reason=state.finish,
            index=state.index,
            usage=Usage(prompt_tokens=prompt_len, prompt_tokens_computed=state.prompt_computed,
                        completion_tokens=state.generated),
            logprobs=tuple(state.logprobs) if state.want_logprobs else None,
            stop_sequence=state.stop_sequence,
        )
