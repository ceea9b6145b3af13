"""The embedded llama.cpp engine: the default backend, no server and no GPU needed."""

from __future__ import annotations

import asyncio
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Sequence, TypeVar

from ponder.engines.base import Completion, EngineCapabilities, EngineInfo, GenerationRequest
from ponder.engines.llama.generator import Generator
from ponder.engines.llama.models import DEFAULT_MODEL, resolve_model
from ponder.engines.llama.native import NativeContext, NativeModel, init_backend
from ponder.core.errors import EngineError, InvalidInputError

T = TypeVar("T")


class LlamaEngine:
    """Runs a GGUF model in-process through llama.cpp.

    ``n`` samples of one prompt compute the prompt once and fork it into ``n`` sequences that
    decode together; later requests that start with cached text compute only the rest.
    All llama.cpp work runs on one worker thread, one batch at a time.

    Args:
        model: a built-in name (default ``smollm2-135m``), a ``.gguf`` path or ``hf:OWNER/REPO/FILE``.
        n_ctx: KV-cache cells shared by all sequences (one sequence uses at most the model's
            training context).
        n_seq_max: sequences that can be live at once (a request of n samples takes n + 1).
        n_threads: CPU threads; default all cores.
        n_batch: most tokens per decode call.
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
    ) -> None:
        if n_seq_max < 2:
            raise InvalidInputError("n_seq_max must be >= 2 (one prompt plus one sample)")
        if n_batch < n_seq_max:
            raise InvalidInputError("n_batch must be >= n_seq_max")
        if n_ctx < 16:
            raise InvalidInputError(f"n_ctx must be >= 16, got {n_ctx}")
        path = resolve_model(model)
        init_backend(verbose)
        threads = n_threads or os.cpu_count() or 1
        self._native_model = NativeModel(path, n_gpu_layers=n_gpu_layers)
        try:
            context = NativeContext(self._native_model, n_ctx=n_ctx, n_seq_max=n_seq_max,
                                    n_batch=n_batch, n_threads=threads)
        except EngineError:
            self._native_model.close()
            raise
        try:
            self._generator = Generator(self._native_model, context, n_slots=n_seq_max)
        except BaseException:
            context.close()
            self._native_model.close()
            raise
        self._executor: ThreadPoolExecutor | None = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ponder-llama")
        self.capabilities = EngineCapabilities(
            fork=True, prefix_cache=True, logprobs=True, raw_continuation=True,
            max_context=self._generator.max_context, seeded=True, reports_stop=True,
        )
        self.info = EngineInfo(
            name="llama", model=model or DEFAULT_MODEL,
            details={"path": str(path), "n_ctx": context.n_ctx, "n_seq_max": n_seq_max, "n_threads": threads},
        )

    def _live_executor(self) -> ThreadPoolExecutor:
        if self._executor is None:
            raise EngineError("the engine is closed")
        return self._executor

    def _submit(self, fn: Callable[..., T], *args: object) -> T:
        return self._live_executor().submit(fn, *args).result()

    async def generate(self, requests: Sequence[GenerationRequest]) -> list[list[Completion]]:
        """Generate on the worker thread; if the awaiting task is cancelled (a time budget ran
        out, a client went away), the generation stops at its next decode step."""
        cancel = threading.Event()
        future = asyncio.get_running_loop().run_in_executor(
            self._live_executor(), self._generator.generate, list(requests), cancel)
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            cancel.set()
            future.add_done_callback(lambda done: done.cancelled() or done.exception())  # nobody awaits it now
            raise

    def generate_sync(self, requests: Sequence[GenerationRequest]) -> list[list[Completion]]:
        """The same as :meth:`generate`, for callers without an event loop."""
        return self._submit(self._generator.generate, list(requests))

    def reset_cache(self) -> None:
        """Drop all cached prefixes. Results depend, in the last float bits, on the KV cache's
        layout (the order in which attention sums cells), so the same calls after a reset
        reproduce the same texts exactly."""
        self._submit(self._generator.reset_cache)

    def count_tokens(self, request: GenerationRequest) -> int:
        """How many prompt tokens a request has after its chat template."""
        return len(self._submit(self._generator.prompt_tokens, request))

    def close(self) -> None:
        if self._executor is None:
            return
        self._executor.submit(self._release).result()
        self._executor.shutdown()
        self._executor = None

    def _release(self) -> None:
        self._generator.context.close()
        self._native_model.close()

    async def aclose(self) -> None:
        self.close()

    def __enter__(self) -> "LlamaEngine":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
