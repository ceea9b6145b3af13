"""The in-process vLLM engine: vLLM's async engine behind ponder's engine contract (needs a GPU).

Written against vLLM's documented asynchronous API, the V1 engine's ``AsyncLLM`` (vLLM 0.8 and
later; ``AsyncLLMEngine`` names the same class there): ``generate(prompt, sampling_params,
request_id)`` is an async generator of ``RequestOutput``, ``abort(request_id)`` ends a request,
``get_tokenizer()`` (a coroutine before 0.11, a plain call after: both are accepted) gives the
tokenizer whose chat template renders chats. Checked against vLLM's source, not run here: the
unit tests drive the same calls on a stand-in (``tests/support/vllm_standin.py``), and
``scripts/gpu-check.sh`` runs the real thing on a GPU machine.

- **Samples.** Each sample is one vLLM request (``n=1``) seeded by its identity
  ``(seed, first_index + i)``, so samples drawn in several calls are those one call would draw,
  as with every ponder engine; vLLM's continuous batching runs all callers' samples together.
- **Shared prompt.** Prefix caching is on (``enable_prefix_caching``), and with
  ``share_prefill`` (the default) sample 0 of a request is sent first and the others once it has
  produced its first token, so its prompt's KV blocks are cached and the other samples start from
  them instead of computing the prompt again alongside it (vLLM's own ``n`` sends them together).
  ``usage.prompt_tokens_computed`` is what vLLM says it did not serve from its cache
  (``num_cached_tokens``).
- **Streaming.** ``stream(request)`` yields each sample's deltas (``RequestOutputKind.DELTA``);
  ``stop(i)`` cancels sample ``i``'s request, which vLLM aborts (ponder also calls ``abort``),
  and the sample ends ``cancelled`` with its text so far. ``generate`` is built on it.
- **Results.** Finish reasons map ``stop`` (end of text or a stop string, named in
  ``stop_sequence``) and ``length`` (also ``repetition``: vLLM's repetition detection cut the
  sample short); ``abort`` that ponder did not ask for, ``error`` (vLLM failed on the request)
  and any reason ponder does not know are a failed sample naming it. Logprobs (vLLM V1 reports
  them before temperature, as ponder's contract wants) and top logprobs become
  :class:`~ponder.engines.base.TokenLogprob` s.
- **One event loop.** vLLM's ``AsyncLLM`` runs its output handler as a task of the event loop it
  starts in, so the engine serves in that loop only: a call from another one (a second
  ``asyncio.run``, as two synchronous ``ponder.solve`` calls make) is an :class:`EngineError`
  saying so, where vLLM would wait for outputs that never come.

Errors: a prompt longer than the context is a :class:`ContextOverflowError` before anything is
sent; vLLM refusing a request (``ValueError``, or vLLM's ``VLLMClientError`` family) an
:class:`InvalidInputError`; a dead engine a :class:`BackendUnavailableError`; anything else an
:class:`EngineError` naming it (the cause of vLLM's ``EngineGenerateError``, which has no message).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import itertools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ponder.core.errors import BackendUnavailableError, EngineError, InvalidInputError, PonderError
from ponder.engines.base import Arrivals, Completion, EngineCapabilities, EngineInfo, GenerationRequest
from ponder.engines.streaming import QueueStream, SampleDelta, SampleDone
from ponder.engines.vllm.mapping import SampleState, max_new_tokens, prompt_ids, sampling_arguments


def sync_tokenizer(backend: Any) -> Any | None:
    """The backend's tokenizer when it can be had without awaiting: vLLM 0.11+ ``AsyncLLM.tokenizer``
    is the tokenizer, 0.8-0.10's is a tokenizer group (``get_lora_tokenizer(None)``); else ``None``."""
    tokenizer = getattr(backend, "tokenizer", None)
    group = getattr(tokenizer, "get_lora_tokenizer", None)
    if callable(group):
        tokenizer = group(None)
    return tokenizer if callable(getattr(tokenizer, "encode", None)) else None


def _line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


# vLLM's bad-request errors: ValueErrors up to now, only VLLMClientErrors in the newest versions
CLIENT_ERRORS = frozenset({"VLLMClientError", "VLLMValidationError"})


def engine_error(exc: BaseException) -> PonderError:
    """ponder's error for an exception out of vLLM (see the module docstring). vLLM's ``generate``
    raises a refused request (``ValueError``, or its ``VLLMClientError`` family) and a dead engine
    (``EngineDeadError``) as they are, and wraps anything else in an empty ``EngineGenerateError``
    whose cause says what happened: that cause is named."""
    if isinstance(exc, PonderError):
        return exc
    names = {cls.__name__ for cls in type(exc).__mro__}
    if any("EngineDead" in name for name in names):
        return BackendUnavailableError(f"the vLLM engine is dead: {_line(exc)}")
    if isinstance(exc, ValueError) or names & CLIENT_ERRORS:
        return InvalidInputError(f"vLLM refused the request: {_line(exc)}")
    if "EngineGenerateError" in names and exc.__cause__ is not None:
        exc = exc.__cause__
    return EngineError(f"vLLM failed: {_line(exc)}")


class VLLMEngine:
    """ponder's engine over a vLLM async engine (see the module docstring).

    Args:
        backend: an ``AsyncLLM`` (or an object with the same ``generate``/``abort``/``get_tokenizer``).
        sampling_params: vLLM's ``SamplingParams`` class (passed in, so this module imports no vLLM).
        output_kind: ``RequestOutputKind.DELTA``.
        model: the model's name, for results and logs.
        tokenizer: the tokenizer, when the caller has it (else taken from the backend on first use).
        max_context: the model's context in tokens (``max_model_len``; 0: unknown).
        share_prefill: send sample 0 first and the others after its first token (see above).
        details: more for ``info.details``.
        loop: the event loop the backend was created in, if it was (else the first one served in).
    """

    def __init__(
        self,
        backend: Any,
        *,
        sampling_params: Callable[..., Any],
        output_kind: Any,
        model: str,
        tokenizer: Any | None = None,
        max_context: int = 0,
        share_prefill: bool = True,
        details: Mapping[str, object] | None = None,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self._backend: Any | None = backend
        self._loop = loop
        self._params, self._output_kind = sampling_params, output_kind
        self._tokenizer = tokenizer
        self._max_context = max_context
        self._share_prefill = share_prefill
        self._ids = itertools.count()
        self._producers: set[asyncio.Task[None]] = set()
        self._aborts: set[asyncio.Task[None]] = set()
        self.capabilities = EngineCapabilities(
            fork=True,
            prefix_cache=True,
            logprobs=True,
            raw_continuation=True,
            max_context=max_context,
            seeded=True,
            reports_stop=True,
            streams=True,
        )
        self.info = EngineInfo(
            name="vllm",
            model=model,
            details={"max_model_len": max_context, "prefix_caching": True, "share_prefill": share_prefill}
            | dict(details or {}),
        )

    @property
    def backend(self) -> Any:
        if self._backend is None:
            raise EngineError("the engine is closed")
        return self._backend

    # -- the tokenizer ---------------------------------------------------------------------

    async def tokenizer(self) -> Any:
        """The model's tokenizer (asked of the backend once)."""
        if self._tokenizer is None:
            got = self.backend.get_tokenizer()
            self._tokenizer = await got if inspect.isawaitable(got) else got
        return self._tokenizer

    def count_tokens(self, request: GenerationRequest) -> int:
        """How many prompt tokens a request has after its chat template."""
        tokenizer = self._tokenizer or sync_tokenizer(self.backend)
        if tokenizer is None:
            raise EngineError("this vLLM hands out its tokenizer asynchronously: await engine.tokenizer() first")
        self._tokenizer = tokenizer
        return len(prompt_ids(tokenizer, request))

    async def reset_prefix_cache(self) -> None:
        """Empty vLLM's prefix cache (benchmarks measure cold prompts with it)."""
        await self.backend.reset_prefix_cache()

    # -- serving ---------------------------------------------------------------------------

    def stream(self, request: GenerationRequest) -> QueueStream:
        """The request's samples as they grow (:mod:`ponder.engines.streaming`); call it inside a
        running event loop. ``stop(i)`` aborts sample ``i``'s vLLM request."""
        if self._backend is None:
            raise EngineError("the engine is closed")
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = loop
        elif loop is not self._loop:
            raise EngineError(
                "the vLLM engine serves in the one event loop it started in (vLLM's output handler runs"
                " there): make every call in that loop (one asyncio.run, or the async API), not a new one"
            )
        samples: dict[int, asyncio.Task[None]] = {}

        def on_stop(index: int | None) -> None:
            for i, task in list(samples.items()):
                if index is None or i == index:
                    task.cancel()

        stream = QueueStream(request, loop, on_stop=on_stop)
        producer = loop.create_task(self._serve(stream, samples))
        self._producers.add(producer)
        producer.add_done_callback(self._producers.discard)
        return stream

    async def _serve(self, stream: QueueStream, samples: dict[int, asyncio.Task[None]]) -> None:
        """Prepare the prompt, start the samples (sample 0 first with ``share_prefill``), and fail
        the stream if one of them fails."""
        request = stream.request
        try:
            tokenizer = await self.tokenizer()
            prompt = prompt_ids(tokenizer, request)
            cap = max_new_tokens(prompt, request, self._max_context)
            decode = _decoder(tokenizer)
            prefilled = asyncio.Event()
            for index in range(request.n):
                if index == 1 and self._share_prefill:
                    await _first_of(prefilled, samples.get(0))
                if stream.stopped(index):
                    stream.cancelled_sample(index, len(prompt))
                    continue
                state = SampleState(request, index, len(prompt), decode)
                samples[index] = asyncio.ensure_future(self._sample(stream, prompt, cap, state, prefilled))
            if samples:
                done, _ = await asyncio.wait(samples.values(), return_when=asyncio.FIRST_EXCEPTION)
                failed = next((t.exception() for t in done if not t.cancelled() and t.exception()), None)
                if failed is not None:
                    raise failed
                for index, task in samples.items():
                    if task.cancelled():  # stopped before its first step: it never ran to say so
                        stream.cancelled_sample(index, len(prompt))
        except asyncio.CancelledError:  # the engine is closing
            await _cancel(samples.values())
            stream.fail(EngineError("the engine was closed while it streamed"))
            raise
        except Exception as exc:
            await _cancel(samples.values())
            stream.fail(engine_error(exc))

    async def _sample(
        self, stream: QueueStream, prompt: list[int], cap: int, state: SampleState, prefilled: asyncio.Event
    ) -> None:
        """One sample: its vLLM request's deltas into the stream, then its completion."""
        request, index = stream.request, state.index
        request_id = f"ponder-{id(self):x}-{next(self._ids)}"
        params = self._params(**sampling_arguments(request, index, cap), output_kind=self._output_kind)
        try:
            outputs = self.backend.generate({"prompt_token_ids": prompt}, params, request_id)
            async with contextlib.aclosing(outputs):
                async for output in outputs:
                    if index == 0:
                        prefilled.set()
                    new = state.add(output)
                    if new is not None:
                        stream.push(SampleDelta(index, new[0], state.tokens, tuple(new[1])))
        except asyncio.CancelledError:
            if not stream.stopped(index):
                raise
            stream.push(SampleDone(index, state.completion(stopped=True)))
            self._abort(request_id)  # vLLM aborts a cancelled generate itself; say it anyway
            return
        finally:
            if index == 0:
                prefilled.set()
        stream.push(SampleDone(index, state.completion()))

    def _abort(self, request_id: str) -> None:
        """Ask vLLM to abort ``request_id`` (a no-op for a finished one), without waiting for it."""
        if self._backend is None:
            return
        task = asyncio.ensure_future(self._backend.abort(request_id))
        self._aborts.add(task)
        task.add_done_callback(self._aborts.discard)

    async def generate(self, requests: Sequence[GenerationRequest]) -> list[list[Completion]]:
        """Serve a batch: every sample goes to vLLM at once (vLLM batches them with everyone
        else's). If the awaiting task is cancelled, every sample is aborted."""
        streams = [self.stream(request) for request in requests]
        try:
            return list(await asyncio.gather(*(stream.completions() for stream in streams)))
        except BaseException:
            for stream in streams:
                stream.cancel()
            raise

    async def generate_each(self, requests: Sequence[GenerationRequest]) -> Arrivals:
        """Each request's row as soon as all its samples are done (the caller can work on it while
        vLLM serves the rest)."""
        pending = [asyncio.ensure_future(self._one(i, request)) for i, request in enumerate(requests)]
        try:
            for arrival in asyncio.as_completed(pending):
                yield [await arrival]
        finally:
            for task in pending:
                task.cancel()

    async def _one(self, position: int, request: GenerationRequest) -> tuple[int, list[Completion]]:
        [row] = await self.generate([request])
        return position, row

    async def aclose(self) -> None:
        """End the streams still running (they fail), wait for pending aborts, shut vLLM down."""
        if self._backend is None:
            return
        await _cancel(list(self._producers))
        await asyncio.gather(*list(self._aborts), return_exceptions=True)
        backend, self._backend = self._backend, None
        shutdown = getattr(backend, "shutdown", None)
        if callable(shutdown):
            shutdown()


def _decoder(tokenizer: Any) -> Callable[[int], str]:
    def decode(token_id: int) -> str:
        return str(tokenizer.decode([token_id]))

    return decode


async def _first_of(event: asyncio.Event, task: asyncio.Task[None] | None) -> None:
    """Wait until ``event`` is set or ``task`` has ended (sample 0 may end or fail before a token)."""
    if task is None:
        return
    waiter = asyncio.ensure_future(event.wait())
    try:
        await asyncio.wait([waiter, task], return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()


async def _cancel(tasks: Any) -> None:
    """Cancel ``tasks`` and wait until they have ended."""
    tasks = list(tasks)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
