"""The embedded llama.cpp engine: the default backend, no server and no GPU needed."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence

from ponder.core.errors import EngineError, InvalidInputError
from ponder.engines.base import Completion, EngineCapabilities, EngineInfo, GenerationRequest
from ponder.engines.collaboration import CollabRequest, CollabStream
from ponder.engines.llama.generator import Generator
from ponder.engines.llama.models import DEFAULT_MODEL, resolve_model
from ponder.engines.llama.native import NativeContext, NativeModel, init_backend
from ponder.engines.llama.scheduler import DEFAULT_PREFILL_CHUNK, Scheduler
from ponder.engines.streaming import QueueStream


class LlamaEngine:
    """Runs a GGUF model in-process through llama.cpp, every caller's samples in one batch.

    ``n`` samples of one prompt compute the prompt once and fork it into ``n`` sequences; later
    requests that start with cached text compute only the rest. A scheduler on one worker
    thread decodes the live samples of all callers together and admits new requests every step
    (continuous batching; :mod:`ponder.engines.llama.scheduler`). ``stream`` shows samples as
    they grow and stops any one of them; ``generate`` is built on it. ``collaborate`` runs
    Hogwild! workers on one shared cache in the same batch (:mod:`ponder.engines.llama.collab`).

    Reproducibility: a sample's text can depend, in the last float bits, on what shares its
    batch and on the KV cache's layout. One caller at a time after :meth:`reset_cache`
    reproduces exactly; ``deterministic=True`` serves callers one at a time, so each caller's
    texts do not depend on the others.

    Args:
        model: a built-in name (default ``smollm2-135m``), a ``.gguf`` path or ``hf:OWNER/REPO/FILE``.
        n_ctx: KV-cache cells shared by all sequences (one sequence uses at most the model's
            training context).
        n_seq_max: sequences that can be live at once (a request of n samples takes n + 1 while
            its prompt is prefilled, n after).
        n_threads: CPU threads; default all cores.
        n_batch: most tokens per decode call.
        deterministic: serve one caller at a time.
        prefill_chunk: prompt tokens prefilled per step while other samples decode.
    """

    def __init__(
        self,
        model: str | None = None,
        *,
        n_ctx: int = 8192,
        n_seq_max: int = 32,
        n_threads: int | None = None,
        n_batch: int = 512,
        n_gpu_layers: int = 0,
        verbose: bool = False,
        deterministic: bool = False,
        prefill_chunk: int = DEFAULT_PREFILL_CHUNK,
    ) -> None:
        if n_seq_max < 2:
            raise InvalidInputError("n_seq_max must be >= 2 (one prompt plus one sample)")
        if n_batch < n_seq_max:
            raise InvalidInputError("n_batch must be >= n_seq_max")
        if n_ctx < 16:
            raise InvalidInputError(f"n_ctx must be >= 16, got {n_ctx}")
        if prefill_chunk < 1:
            raise InvalidInputError(f"prefill_chunk must be >= 1, got {prefill_chunk}")
        path = resolve_model(model)
        init_backend(verbose)
        threads = n_threads or os.cpu_count() or 1
        self._native_model = NativeModel(path, n_gpu_layers=n_gpu_layers)
        try:
            context = NativeContext(
                self._native_model, n_ctx=n_ctx, n_seq_max=n_seq_max, n_batch=n_batch, n_threads=threads
            )
        except EngineError:
            self._native_model.close()
            raise
        try:
            self._generator = Generator(self._native_model, context, n_slots=n_seq_max)
        except BaseException:
            context.close()
            self._native_model.close()
            raise
        self._scheduler: Scheduler | None = Scheduler(
            self._generator, deterministic=deterministic, prefill_chunk=prefill_chunk
        )
        self.capabilities = EngineCapabilities(
            fork=True,
            prefix_cache=True,
            logprobs=True,
            raw_continuation=True,
            max_context=self._generator.max_context,
            seeded=True,
            reports_stop=True,
            streams=True,
            shared_cache=context.can_shift,
        )
        self.info = EngineInfo(
            name="llama",
            model=model or DEFAULT_MODEL,
            details={
                "path": str(path),
                "n_ctx": context.n_ctx,
                "n_seq_max": n_seq_max,
                "n_threads": threads,
                "deterministic": deterministic,
            },
        )

    @property
    def scheduler(self) -> Scheduler:
        if self._scheduler is None:
            raise EngineError("the engine is closed")
        return self._scheduler

    def stream(self, request: GenerationRequest) -> QueueStream:
        """The request's samples as they grow (:mod:`ponder.engines.streaming`); call from the
        event loop. ``stop(i)`` frees sample ``i``'s sequence at the next decode step."""
        return self._open(request, self.scheduler.new_caller())

    def _open(self, request: GenerationRequest, caller: int) -> QueueStream:
        scheduler = self.scheduler
        stream = QueueStream(request, asyncio.get_running_loop(), on_stop=lambda index: scheduler.poke())
        scheduler.submit(stream, caller)
        return stream

    def collaborate(self, request: CollabRequest) -> CollabStream:
        """Start workers on one shared history (:mod:`ponder.engines.llama.collab`); call from the
        event loop. Its events arrive on the returned stream; ``cancel()`` ends it at the next step."""
        if not self.capabilities.shared_cache:
            raise EngineError("this model's KV cache cannot shift positions: no shared-cache collaboration")
        scheduler = self.scheduler
        stream = CollabStream(request, asyncio.get_running_loop(), on_cancel=scheduler.poke)
        scheduler.submit_collab(stream, scheduler.new_caller())
        return stream

    async def generate(self, requests: Sequence[GenerationRequest]) -> list[list[Completion]]:
        """Serve a batch (one caller): its samples join the running batch. If the awaiting task
        is cancelled (a time budget ran out, a client went away), its samples stop at the next
        decode step."""
        caller = self.scheduler.new_caller()
        streams = [self._open(request, caller) for request in requests]
        try:
            return list(await asyncio.gather(*(stream.completions() for stream in streams)))
        except BaseException:
            for stream in streams:
                stream.cancel()
            raise

    def generate_sync(self, requests: Sequence[GenerationRequest]) -> list[list[Completion]]:
        """The same as :meth:`generate`, for callers without an event loop."""
        return asyncio.run(self.generate(requests))

    def reset_cache(self) -> None:
        """Drop all cached prefixes (once nothing is generating). Results depend, in the last
        float bits, on the KV cache's layout (the order in which attention sums cells), so the
        same calls after a reset reproduce the same texts exactly."""
        self.scheduler.idle_call(self._generator.reset_cache)

    def count_tokens(self, request: GenerationRequest) -> int:
        """How many prompt tokens a request has after its chat template."""
        return len(self.scheduler.call(lambda: self._generator.prompt_tokens(request)))

    def close(self) -> None:
        if self._scheduler is None:
            return
        scheduler, self._scheduler = self._scheduler, None
        scheduler.close()
        self._generator.context.close()
        self._native_model.close()

    async def aclose(self) -> None:
        self.close()

    def __enter__(self) -> LlamaEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
