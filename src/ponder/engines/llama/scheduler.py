"""Continuous batching for the embedded engine: one scheduler, every caller's samples in one batch.

The scheduler owns the llama.cpp context on one worker thread. Callers submit requests (each
with its :class:`~ponder.engines.streaming.QueueStream`) and read their samples' events. Each
scheduler step:

1. retires samples their callers stopped or cancelled (their sequences are free at once);
2. admits waiting requests, first come first served, while sequences and KV cells allow: the
   prompt goes to the slot that already holds its longest prefix (only the rest is computed);
   a request with more samples than free sequences runs part of them now, the rest when room
   frees up (its prompt is cached by then);
3. builds one batch: the next token of every live sample of every caller, plus prefill chunks
   of admitted prompts within a per-step token budget (``prefill_chunk``), so a long prompt never
   stalls the running samples for more than that many tokens a step;
4. decodes it (dropping cached sequences that nothing live needs while the cache is full);
5. forks each prompt that finished prefilling into its samples (``seq_cp``: the prompt's cells
   are shared, not copied) and draws their first tokens; samples every live sample's next token;
   sends each caller its deltas; retires finished samples.

Collaborations (Hogwild!, :mod:`ponder.engines.llama.collab`) join the same steps: admitted in
step 2 (after their own queue), their workers' tokens and prompt chunks go into the batch of
step 3, and step 5 draws their tokens and moves their finished steps into their shared history.

A request waits when sequences or cells run short; it fails only if it could never fit.
With ``deterministic`` the scheduler serves one caller at a time (a caller is one ``generate``
call or one stream), so a caller's texts do not depend on what else was running.
"""

from __future__ import annotations

import itertools
import threading
from collections import deque
from collections.abc import Callable
from typing import Any, TypeVar, cast

from ponder.core.errors import ContextOverflowError, EngineError, InvalidInputError
from ponder.core.seeding import derive_seed
from ponder.engines.collaboration import CollabStream
from ponder.engines.llama.collab_queue import Collabs
from ponder.engines.llama.generator import Generator
from ponder.engines.llama.jobs import Job, Waiting
from ponder.engines.llama.native import BatchToken, KVFullError, Sampler
from ponder.engines.llama.sequence import SampleState
from ponder.engines.streaming import QueueStream, SampleDelta, SampleDone

T = TypeVar("T")

DEFAULT_PREFILL_CHUNK = 256


class Scheduler:
    """The embedded engine's worker: see the module docstring. Public methods are thread-safe."""

    def __init__(
        self, generator: Generator, *, deterministic: bool = False, prefill_chunk: int = DEFAULT_PREFILL_CHUNK
    ) -> None:
        self.generator = generator
        self.context = generator.context
        self.slots = generator.slots
        self.deterministic = deterministic
        self.prefill_chunk = max(1, min(prefill_chunk, self.context.n_batch))
        self._callers = itertools.count()
        self._waiting: deque[Waiting] = deque()
        self._jobs: list[Job] = []
        self._calls: deque[tuple[Callable[[], Any], threading.Event, list[Any]]] = deque()
        self._wake = threading.Condition()
        self._closed = False
        self._last_caller = -1
        self.decode_steps = 0  # llama_decode calls made (for tests and benchmarks)
        self.decoded_tokens = 0  # tokens those calls decoded
        self.collabs = Collabs(generator)
        self._thread = threading.Thread(target=self._loop, name="ponder-llama", daemon=True)
        self._thread.start()

    # -- callers ---------------------------------------------------------------------------

    def new_caller(self) -> int:
        """An id grouping the requests of one call (deterministic mode serves callers one at a time)."""
        return next(self._callers)

    def submit(self, stream: QueueStream, caller: int) -> None:
        """Queue a request; its events (or its error: a prompt too long for the context, say)
        arrive on ``stream``."""
        with self._wake:
            if self._closed:
                raise EngineError("the engine is closed")
            self._waiting.append(Waiting(stream, stream.request, caller))
            self._wake.notify()

    def submit_collab(self, stream: CollabStream, caller: int) -> None:
        """Queue a collaboration (:mod:`ponder.engines.llama.collab`); its events arrive on ``stream``."""
        with self._wake:
            if self._closed:
                raise EngineError("the engine is closed")
            self.collabs.waiting.append((stream, caller))
            self._wake.notify()

    def poke(self) -> None:
        """Wake the worker (a caller stopped a sample or cancelled)."""
        with self._wake:
            self._wake.notify()

    def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the worker thread between two steps and return its result."""
        if threading.current_thread() is self._thread:
            return fn()
        done = threading.Event()
        box: list[Any] = []
        with self._wake:
            if self._closed:
                raise EngineError("the engine is closed")
            self._calls.append((fn, done, box))
            self._wake.notify()
        done.wait()
        result = box[0]
        if isinstance(result, BaseException):
            raise result
        return cast(T, result)

    def idle_call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` once nothing is generating (e.g. dropping the cache)."""

        def when_idle() -> T:
            self._drain()
            return fn()

        return self.call(when_idle)

    def live_samples(self, stream: object) -> dict[int, int]:
        """Tokens generated so far by each live sample of ``stream`` (call on the worker thread,
        e.g. through :meth:`call`: between two steps, so the counts are exact)."""
        return {
            state.index: state.generated
            for job in self._jobs
            if job.stream is stream
            for state in job.states
            if state.finish is None
        }

    def close(self) -> None:
        with self._wake:
            self._closed = True
            self._wake.notify()
        self._thread.join()

    # -- the loop --------------------------------------------------------------------------

    def _loop(self) -> None:
        while True:
            with self._wake:
                while not (self._closed or self._calls or self._waiting or self._jobs or self.collabs.busy):
                    self._wake.wait()
                if self._closed and not self._calls:
                    pending = list(self._waiting)
                    self._waiting.clear()
                    break
                calls = list(self._calls)
                self._calls.clear()
            for fn, done, box in calls:
                try:
                    box.append(fn())
                except BaseException as exc:  # handed to the caller
                    box.append(exc)
                done.set()
            if self._waiting or self._jobs or self.collabs.busy:
                try:
                    self._step()
                except Exception as exc:  # a failed step must not leave its callers waiting forever
                    self._fail_running(
                        exc if isinstance(exc, EngineError) else EngineError(f"the engine failed: {exc}")
                    )
        for waiting in pending:
            waiting.stream.fail(EngineError("the engine was closed"))
        for job in list(self._jobs):
            self._fail(job, EngineError("the engine was closed"))
        self.collabs.fail_waiting(EngineError("the engine was closed"))
        self.collabs.fail_running(EngineError("the engine was closed"))

    def _fail_running(self, error: EngineError) -> None:
        """Fail the running jobs (what their sequences hold is unknown now); the waiting ones
        had no part in it and keep their turn."""
        for job in list(self._jobs):
            self._fail(job, error)
        self.collabs.fail_running(error)

    def _drain(self) -> None:
        """Step until nothing is waiting or running (on the worker thread)."""
        while self._waiting or self._jobs or self.collabs.busy:
            self._step()

    def _step(self) -> None:
        self._retire_stopped()
        self._admit_collabs()
        self._admit()
        if not self._jobs and not self.collabs.running:
            return
        batch = self._batch()
        if not batch:
            return
        try:
            self._decode(batch)
        except ContextOverflowError as exc:
            self._fail_running(exc)
            return
        self.decode_steps += 1
        self.decoded_tokens += len(batch)
        self._after_decode()

    # -- admission ---------------------------------------------------------------------------

    def _taken(self) -> set[int]:
        taken = {job.base.seq for job in self._jobs if job.base is not None} | self.collabs.taken()
        return taken | {state.slot for job in self._jobs for state in job.states if state.finish is None}

    def _admit_collabs(self) -> None:
        """Admit waiting collaborations while sequences and cells allow (deterministic: alone)."""
        if not self.collabs.waiting:
            return
        alone = not self._jobs and not self.collabs.running
        if self.deterministic:
            if not alone:
                return
            caller = self.collabs.waiting[0][1]
            if caller != self._last_caller:
                self.generator.reset_cache()  # each caller starts from an empty cache
            self._last_caller = caller
        taken = self._taken()
        promised = sum(job.count for job in self._jobs if job.prefilling) + self.collabs.promised()
        reserved = sum(job.cells() for job in self._jobs) + self.collabs.cells()
        free = len(self.slots.slots) - len(taken) - promised
        self.collabs.admit(taken, free, self.context.n_ctx - reserved, alone)

    def _admit(self) -> None:
        while self._waiting:
            head = self._waiting[0]
            if head.stream.cancelled:
                self._waiting.popleft()
                for index in range(head.next_sample, head.request.n):
                    head.stream.cancelled_sample(index, len(head.prompt))
                continue
            if not head.prompt:
                try:
                    head.prompt = self.generator.prompt_tokens(head.request)
                    head.max_new = self.generator.max_new_tokens(head.prompt, head.request)
                except EngineError as exc:  # the prompt can never fit
                    self._waiting.popleft()
                    head.stream.fail(exc)
                    continue
                except Exception as exc:  # a prompt the tokenizer refuses (e.g. not valid Unicode): its own failure
                    self._waiting.popleft()
                    head.stream.fail(InvalidInputError(f"the prompt cannot be tokenized: {exc}"))
                    continue
            if self.deterministic and (
                any(job.caller != head.caller for job in self._jobs) or self.collabs.callers() - {head.caller}
            ):
                return  # one caller at a time
            if self.deterministic and not self._jobs and not self.collabs.running and head.caller != self._last_caller:
                self.generator.reset_cache()  # each caller starts from an empty cache: its texts are its own
            self._last_caller = head.caller
            taken = self._taken()
            promised = sum(job.count for job in self._jobs if job.prefilling) + self.collabs.promised()  # forks to come
            free_slots = len(self.slots.slots) - len(taken) - promised
            reserved = sum(job.cells() for job in self._jobs) + self.collabs.cells()
            room_cells = (self.context.n_ctx - reserved - len(head.prompt)) // max(head.max_new, 1)
            left = head.request.n - head.next_sample
            count = min(left, free_slots - 1, room_cells)
            if count <= 0:
                if not self._jobs:  # nothing else holds room: it can never fit
                    self._waiting.popleft()
                    head.stream.fail(
                        ContextOverflowError(
                            f"one sample of {len(head.prompt)} prompt tokens and up to {head.max_new} new ones "
                            f"does not fit the KV cache ({self.context.n_ctx} cells, {len(self.slots.slots)} sequences)"
                        )
                    )
                    continue
                return
            base, shared = self.slots.best_prefix(head.prompt, taken)
            reuse = min(shared, len(head.prompt) - 1)
            self.context.truncate(base.seq, reuse)
            self.slots.touch(base, head.prompt[:reuse])
            self._jobs.append(
                Job(
                    head.stream,
                    head.request,
                    head.prompt,
                    head.max_new,
                    head.caller,
                    first=head.next_sample,
                    count=count,
                    base=base,
                    pos=reuse,
                )
            )
            head.next_sample += count
            if head.next_sample >= head.request.n:
                self._waiting.popleft()

    # -- one batch ---------------------------------------------------------------------------

    def _batch(self) -> list[BatchToken]:
        batch: list[BatchToken] = []
        for job in self._jobs:
            for state in job.states:
                if state.finish is None and state.pending is not None:
                    batch.append(BatchToken(state.pending, state.pos, state.slot, True))
        self.collabs.add_decode(batch, self.context.n_batch)
        budget = min(self.prefill_chunk, self.context.n_batch - len(batch)) if batch else self.context.n_batch
        for job in self._jobs:
            job.logits_at = -1
            if not job.prefilling or budget <= 0:
                continue
            assert job.base is not None
            chunk = job.prompt[job.pos : job.pos + budget]
            last = job.pos + len(chunk) == len(job.prompt)
            for i, token in enumerate(chunk):
                batch.append(BatchToken(token, job.pos + i, job.base.seq, last and i == len(chunk) - 1))
            if last:
                job.logits_at = len(batch) - 1
            job.computed += len(chunk)
            job.pos += len(chunk)
            budget -= len(chunk)
        self.collabs.add_prefill(batch, budget)
        return batch

    def _decode(self, batch: list[BatchToken]) -> None:
        """Decode, dropping cached sequences nobody running needs while the cache is full."""
        while True:
            try:
                self.context.decode(batch)
                return
            except KVFullError:
                victims = list(self.slots.evictable(self._taken()))
                if not victims:
                    raise ContextOverflowError(
                        f"the KV cache ({self.context.n_ctx} cells) is too small for this batch; "
                        "raise n_ctx or lower n / max_tokens"
                    ) from None
                self.context.clear_sequence(victims[0].seq)
                self.slots.touch(victims[0], [])

    def _after_decode(self) -> None:
        position = 0
        for job in list(self._jobs):
            for state in job.states:
                if state.finish is not None or state.pending is None:
                    continue
                state.mark_decoded()
                token = state.sampler.sample(self.context, position)
                before = (len(state.text), len(state.logprobs))
                state.accept(
                    self.generator.model, token, self.context.logits(position) if state.want_logprobs else None
                )
                position += 1
                self._report(job, state, before)
        for job in list(self._jobs):
            if job.logits_at >= 0:
                self._fork(job)
        self.collabs.after_decode(self._taken)
        self._drop_finished()

    def _drop_finished(self) -> None:
        """Jobs whose samples have all ended leave (their streams end with their last sample)."""
        self._jobs = [job for job in self._jobs if job.prefilling or any(s.finish is None for s in job.states)]

    def _fork(self, job: Job) -> None:
        """The job's prompt is in its base slot: give each sample its own sequence and first token."""
        assert job.base is not None
        base, request = job.base, job.request
        self.slots.touch(base, job.prompt)
        row = self.context.logits(job.logits_at).copy() if request.wants_logprobs else None
        taken = self._taken()
        for k in range(job.count):
            index = job.first + k
            if job.stream.stopped(index):  # stopped before it began: no sequence, no token
                job.stream.cancelled_sample(index, len(job.prompt))
                continue
            slot = self.slots.least_useful(taken)
            taken.add(slot.seq)
            self.context.copy_prefix(base.seq, slot.seq, len(job.prompt))
            sampler = Sampler(
                temperature=request.temperature,
                top_p=request.top_p,
                seed=derive_seed(request.seed, request.first_index + index),
            )
            state = SampleState(
                request=0,
                index=index,
                slot=slot.seq,
                pos=len(job.prompt),
                max_new=job.max_new,
                stop=request.stop,
                sampler=sampler,
                want_logprobs=request.wants_logprobs,
                top_logprobs=request.top_logprobs,
                prompt_computed=job.computed if k == 0 else 0,
            )
            job.states.append(state)
            state.accept(self.generator.model, sampler.sample(self.context, job.logits_at), row)
            self._report(job, state, (0, 0))
        job.base = None  # its slot keeps the prompt as a cache entry; the samples hold their own copies

    # -- events ------------------------------------------------------------------------------

    def _report(self, job: Job, state: SampleState, before: tuple[int, int]) -> None:
        """Send the sample's new text; while it runs, the last characters that could begin a stop
        string are held back (a stop string is cut from the text, so it must never be sent)."""
        hold = 0 if state.finish is not None else max((len(s) for s in state.stop), default=1) - 1
        upto = max(len(state.text) - hold, state.streamed)
        text, logprobs = state.text[state.streamed : upto], tuple(state.logprobs[before[1] :])
        state.streamed = upto
        if text or logprobs:
            job.stream.push(SampleDelta(state.index, text, state.generated, logprobs))
        if state.finish is not None:
            self._retire(job, state)

    def _retire(self, job: Job, state: SampleState) -> None:
        """Free the sample's sequence (its tokens stay as a cache entry) and send its completion."""
        slot = self.slots.slots[state.slot]
        self.slots.touch(slot, job.prompt + state.decoded)
        state.close()
        job.stream.push(SampleDone(state.index, job.completion(state)))

    def _retire_stopped(self) -> None:
        for job in list(self._jobs):
            if job.prefilling and job.stream.cancelled:
                assert job.base is not None
                self.slots.touch(job.base, job.prompt[: job.pos])
                self._jobs.remove(job)
                for index in range(job.first, job.first + job.count):
                    job.stream.cancelled_sample(index, len(job.prompt))
                continue
            for state in job.states:
                if state.finish is None and job.stream.stopped(state.index):
                    state.finish = "cancelled"
                    state.pending = None
                    self._retire(job, state)
        self._drop_finished()
        self.collabs.retire_cancelled()

    def _fail(self, job: Job, error: BaseException) -> None:
        for seq in {s.slot for s in job.states} | ({job.base.seq} if job.base is not None else set()):
            self.context.clear_sequence(seq)  # what these sequences hold is unknown now: forget it
            self.slots.touch(self.slots.slots[seq], [])
        for state in job.states:
            state.close()
        if job in self._jobs:
            self._jobs.remove(job)
        job.stream.fail(error)
