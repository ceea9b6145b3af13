"""The scheduler's collaborations (:mod:`ponder.engines.llama.collab`): their queue, their
admission, and the hooks the scheduler calls at each step (:mod:`ponder.engines.llama.scheduler`).

A collaboration of ``W`` workers is admitted, first come first served, when ``W`` sequences and
an estimate of its KV cells are free; one that could never fit fails with a one-line error. A
collaboration whose own step fails (at admission or after a decode) fails alone, its sequences
cleared: the other callers' samples and collaborations go on.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from ponder.core.errors import ContextOverflowError, EngineError, InvalidInputError, PonderError
from ponder.engines.collaboration import CollabEnd, CollabStream
from ponder.engines.llama.collab import CollabJob
from ponder.engines.llama.generator import Generator
from ponder.engines.llama.native import BatchToken


class Collabs:
    """The scheduler's collaborations, waiting and running, and the hooks it calls each step."""

    def __init__(self, generator: Generator) -> None:
        self.generator = generator
        self.waiting: deque[tuple[CollabStream, int]] = deque()
        self.running: list[CollabJob] = []

    @property
    def busy(self) -> bool:
        return bool(self.waiting or self.running)

    def taken(self) -> set[int]:
        return {seq for job in self.running for seq in job.seqs()}

    def promised(self) -> int:
        return sum(job.forks() for job in self.running)

    def cells(self) -> int:
        return sum(job.cells() for job in self.running)

    def callers(self) -> set[int]:
        return {job.caller for job in self.running}

    def admit(self, taken: set[int], free_slots: int, room_cells: int, alone: bool) -> None:
        """Start waiting collaborations, first come first served, while sequences and cells allow;
        one that could never fit fails."""
        slots = self.generator.slots
        while self.waiting:
            stream, caller = self.waiting[0]
            if stream.cancelled:
                self.waiting.popleft()
                stream.push(CollabEnd("cancelled", ("",) * stream.request.workers, (0,) * stream.request.workers))
                continue
            try:
                job = self._job(stream, caller)
            except Exception as exc:  # this request's own failure
                self.waiting.popleft()
                stream.fail(exc)
                continue
            workers = stream.request.workers
            if workers > len(slots.slots) or job.cells() > self.generator.context.n_ctx:
                self.waiting.popleft()
                stream.fail(
                    ContextOverflowError(
                        f"a collaboration of {workers} workers on a {len(job.prompt)}-token prompt does not fit "
                        f"the engine ({len(slots.slots)} sequences, {self.generator.context.n_ctx} KV cells)"
                    )
                )
                continue
            if free_slots < workers or room_cells < job.cells():
                if alone:  # nothing else holds room, yet it does not fit now: it never will
                    self.waiting.popleft()
                    stream.fail(ContextOverflowError("the collaboration does not fit the KV cache"))
                    continue
                return
            self.waiting.popleft()
            base, shared = slots.best_prefix(job.prompt, taken)
            try:
                job.start(base, min(shared, len(job.prompt)), taken)
            except Exception as exc:  # its own failure (e.g. a header with no tokens): it is not running
                job.fail(_engine_error(exc))
                continue
            self.running.append(job)
            taken |= job.seqs()
            free_slots -= workers
            room_cells -= job.cells()
            alone = False

    def _job(self, stream: CollabStream, caller: int) -> CollabJob:
        try:
            prompt = self.generator.prompt_tokens(stream.request.prompt)
        except EngineError:
            raise
        except Exception as exc:  # a prompt the tokenizer refuses
            raise InvalidInputError(f"the prompt cannot be tokenized: {exc}") from None
        if len(prompt) + 2 >= self.generator.max_context:
            raise ContextOverflowError(
                f"the collaboration's prompt has {len(prompt)} tokens; the model's context holds "
                f"{self.generator.max_context}"
            )
        return CollabJob(stream, caller, prompt, self.generator)

    def add_decode(self, batch: list[BatchToken], limit: int) -> None:
        for job in self.running:
            job.add_decode(batch, limit)

    def add_prefill(self, batch: list[BatchToken], budget: int) -> int:
        used = 0
        for job in self.running:
            used += job.add_prefill(batch, budget - used)
        return used

    def after_decode(self, taken: Callable[[], set[int]]) -> None:
        for job in list(self.running):
            try:
                job.after_decode(taken)
            except Exception as exc:  # its own failure: the others' sequences are untouched
                if not job.ended:
                    job.fail(_engine_error(exc))
        self.running = [job for job in self.running if not job.ended]

    def retire_cancelled(self) -> None:
        for job in self.running:
            if job.stream.cancelled:
                job.conclude("cancelled")
        self.running = [job for job in self.running if not job.ended]

    def fail_running(self, error: BaseException) -> None:
        for job in self.running:
            job.fail(error)
        self.running = []

    def fail_waiting(self, error: BaseException) -> None:
        while self.waiting:
            self.waiting.popleft()[0].fail(error)


def _engine_error(exc: Exception) -> PonderError:
    return exc if isinstance(exc, PonderError) else EngineError(f"the collaboration failed: {exc}")
