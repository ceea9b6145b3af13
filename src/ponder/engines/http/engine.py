"""The OpenAI-compatible HTTP engine: vLLM, SGLang, llama.cpp's servers, Ollama, OpenAI.

Samples use the server's ``n`` where the profile says it works (one request; the server shares
the prompt), else fan out one request per sample, seeded by the sample's identity, concurrently
up to the profile's concurrency. If a server returns fewer choices than asked, the rest are
fetched by fan-out. A sample whose request fails after retries comes back with
``finish_reason="error"``; if every sample of a call fails, the error is raised instead.

Fan-out is lazy: as many workers as the concurrency limit take the next sample's index, build
its request and send it, so a request of a huge ``n`` holds only that many requests in memory
(plus the completions so far), and stops when its caller is cancelled (a time budget).

``stream(request)`` sends one streaming request per sample (``n=1``, seeded by the sample's
identity as the fan-out seeds it), up to the concurrency limit at once (each started when a
slot frees), so that ``stop(i)`` closes sample ``i``'s connection alone (vLLM, SGLang and
llama.cpp's servers abort a request whose stream is closed). On a profile that cannot stream,
each sample arrives whole: one delta with all its text, then its completion.

Against a misbehaving server (see :mod:`.transport`): ``timeout`` bounds each HTTP request's
total time, retries included; a response is capped at ``max_response_bytes``; every reply is
checked against the OpenAI schema (:mod:`.wire`) and a wrong one is an :class:`UpstreamError`
naming the field; the API key is redacted from every error (:mod:`.redact`). Text that is not
valid Unicode is refused before anything is sent (:class:`InvalidInputError`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import math
import os
import re
from collections.abc import Sequence
from pathlib import Path

from ponder.core.errors import EngineError, InvalidInputError, ModelNotFoundError
from ponder.core.seeding import derive_seed
from ponder.core.text import check_text
from ponder.core.usage import Usage
from ponder.engines.base import Arrivals, Completion, EngineCapabilities, EngineInfo, GenerationRequest
from ponder.engines.chat_template import ChatTemplate, template_from_gguf
from ponder.engines.http.outcome import Outcome
from ponder.engines.http.payloads import ChunkReader, build_body, parse_response, stream_body
from ponder.engines.http.profiles import PROFILES, EndpointProfile, detect_profile, get_profile, template_from_props
from ponder.engines.http.redact import Redactor
from ponder.engines.http.transport import DEFAULT_MAX_RESPONSE_BYTES, RetryPolicy, Transport, shown_url
from ponder.engines.http.wire import ModelList, read
from ponder.engines.streaming import QueueStream, SampleDelta

API_KEY_VARIABLES = ("PONDER_API_KEY", "OPENAI_API_KEY")
DEFAULT_TIMEOUT = 300.0  # seconds per HTTP request, retries included: a long generation fits in one
_TOKEN = re.compile(r"[\x21-\x7e]+")  # what a bearer token may hold (printable ASCII, no spaces)


def _load_template(source: str | None) -> ChatTemplate | None:
    if source is None:
        return None
    if source.endswith(".gguf") and Path(source).is_file():
        return template_from_gguf(source)
    return ChatTemplate(source)


class OpenAIEngine:
    """Talks to one OpenAI-compatible server.

    Args:
        model: the served model name; default the first one ``/v1/models`` lists.
        base_url: the server root, e.g. ``http://127.0.0.1:8000`` (a trailing ``/v1`` is fine).
        api_key: sent as a bearer token; default ``$PONDER_API_KEY`` or ``$OPENAI_API_KEY``.
        profile: a name from :data:`PROFILES`, or ``auto`` to detect it from ``/v1/models``.
        chat_template: Jinja text or a ``.gguf`` path, used to continue partial answers through
            text completions on servers that cannot continue a chat message (default: the one
            the server gives, where its profile says where: llama-server's ``GET /props``).
        concurrency: most requests in flight (default 1 for one-at-a-time servers, else 16).
        timeout: total seconds one HTTP request may take, retries and their waits included
            (a stream: until its last event); retries: extra tries on 429, 5xx, drops.
        max_response_bytes: the most one response (or one stream, in all) may send.
    """

    def __init__(
        self,
        model: str | None = None,
        *,
        base_url: str,
        api_key: str | None = None,
        profile: str = "auto",
        chat_template: str | None = None,
        concurrency: int | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        retries: int = 3,
        backoff: float = 0.5,
        seed: int = 0,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> None:
        check_text(base_url, "the base URL")
        if not base_url.startswith(("http://", "https://")):
            raise InvalidInputError(f"base URL must start with http:// or https://, got {shown_url(base_url)!r}")
        if model is not None:
            check_text(model, "the model name")
        if profile != "auto":
            get_profile(profile)
        if not (timeout > 0 and math.isfinite(timeout)) or retries < 0 or backoff < 0:
            raise InvalidInputError("timeout must be a finite number > 0, retries >= 0 and backoff >= 0")
        if max_response_bytes < 1 or (concurrency is not None and concurrency < 1):
            raise InvalidInputError("max_response_bytes and concurrency must be >= 1")
        api_key = api_key or next((os.environ[v] for v in API_KEY_VARIABLES if os.environ.get(v)), None)
        if api_key is not None and not _TOKEN.fullmatch(api_key):
            raise InvalidInputError("the API key must be printable ASCII without spaces (it is sent in a header)")
        root = base_url.rstrip("/").removesuffix("/v1")
        self._model = model
        self._profile_name = profile
        self._template = _load_template(chat_template)
        self._concurrency = concurrency
        self._timeout = timeout
        self._retry = RetryPolicy(attempts=retries + 1, backoff=backoff)
        self._seed = seed
        self._api_key = api_key
        self._redactor = Redactor(api_key)
        self._max_response_bytes = max_response_bytes
        self._root = root
        self._width = 1  # requests in flight at most, once connected
        self._transport: Transport | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = asyncio.Lock()
        self._producers: set[asyncio.Task[None]] = set()  # streams being served (kept from the collector)
        self.profile: EndpointProfile = PROFILES["generic" if profile == "auto" else profile]
        self.info = EngineInfo(
            name="openai", model=model or "?", details={"base_url": shown_url(root), "profile": profile}
        )

    def __repr__(self) -> str:  # never shows the API key (nor a password in the URL)
        return f"OpenAIEngine(base_url={shown_url(self._root)!r}, model={self._model!r}, profile={self.profile.name!r})"

    @property
    def capabilities(self) -> EngineCapabilities:
        profile = self.profile
        can_continue = profile.continuation == "continue_final_message" or (
            profile.completions_endpoint and self._template is not None
        )
        return EngineCapabilities(
            fork=profile.supports_n,
            prefix_cache=profile.name in {"vllm", "sglang", "llama.cpp"},
            logprobs=profile.supports_logprobs,
            raw_continuation=can_continue,
            max_context=0,
            seeded=profile.supports_seed,
            reports_stop=profile.name in {"vllm", "sglang"},
            streams=profile.streams,
            remote=True,
        )

    async def _connect(self) -> Transport:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # a client and its locks belong to one event loop: start afresh on a new one
            self._loop, self._ready, self._transport = loop, asyncio.Lock(), None
        async with self._ready:
            if self._transport is not None:
                return self._transport
            probe = self._open_transport(concurrency=1)
            try:
                models, headers = await probe.get("/v1/models")
                where = f"{shown_url(self._root)}/v1/models"
                listed = read(ModelList, models, f"the reply of {where}")
                served = [m.id for m in listed.data or () if m.id is not None]
                if self._profile_name == "auto":
                    self.profile = detect_profile(models, dict(headers))
                if self._template is None and self.profile.template_path is not None:
                    self._template = await self._served_template(probe, self.profile.template_path)
            finally:
                await probe.aclose()
            if self._model is None:
                if not served:
                    raise ModelNotFoundError(f"{where} lists no model; pass --model")
                self._model = served[0]
            self.info = EngineInfo(
                name="openai",
                model=self._model,
                details={"base_url": shown_url(self._root), "profile": self.profile.name},
            )
            self._width = self._concurrency or (1 if self.profile.serves_one_at_a_time else 16)
            self._transport = self._open_transport(concurrency=self._width)
            return self._transport

    async def _served_template(self, probe: Transport, path: str) -> ChatTemplate | None:
        """The chat template the server gives at ``path`` (llama-server's ``/props``), if any."""
        try:
            props, _ = await probe.get(path)
        except EngineError:  # a server without it: continuation stays unavailable
            return None
        return template_from_props(props)

    def _open_transport(self, concurrency: int) -> Transport:
        return Transport(
            self._root,
            api_key=self._api_key,
            concurrency=concurrency,
            timeout=self._timeout,
            retry=self._retry,
            seed=self._seed,
            max_response_bytes=self._max_response_bytes,
        )

    async def generate(self, requests: Sequence[GenerationRequest]) -> list[list[Completion]]:
        try:
            transport = await self._connect()
            errors: list[EngineError] = []
            rows = await asyncio.gather(*(self._samples(transport, r, errors) for r in requests))
            if errors and all(c.finish_reason == "error" for row in rows for c in row):
                raise errors[0]
            return list(rows)
        except EngineError as exc:
            raise self._redactor.error(exc) from None

    async def generate_each(self, requests: Sequence[GenerationRequest]) -> Arrivals:
        """Each request as its own call, all in flight at once; each row as soon as it arrives
        (so a caller can score it while the server works on the rest)."""
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

    async def _samples(
        self,
        transport: Transport,
        request: GenerationRequest,
        errors: list[EngineError],
    ) -> list[Completion]:
        got: list[Completion] = []
        if self.profile.supports_n and request.n > 1:
            seed = derive_seed(request.seed, request.first_index)
            got = (await self._call(transport, request, 0, request.n, seed, errors))[: request.n]
            got = [c for c in got if c.finish_reason != "error"]
        offsets = iter(range(len(got), request.n))  # shared by the workers: each takes the next one
        singles: dict[int, Completion] = {}

        async def worker() -> None:
            for offset in offsets:
                seed = derive_seed(request.seed, request.first_index + offset)
                singles[offset] = (await self._call(transport, request, offset, 1, seed, errors))[0]

        workers = [asyncio.ensure_future(worker()) for _ in range(min(self._width, request.n - len(got)))]
        try:
            await asyncio.gather(*workers)
        finally:
            for task in workers:  # one failed (or the caller gave up): the others take no more
                task.cancel()
        return got + [singles[offset] for offset in range(len(got), request.n)]

    async def _call(
        self,
        transport: Transport,
        request: GenerationRequest,
        offset: int,
        n: int,
        seed: int,
        errors: list[EngineError],
    ) -> list[Completion]:
        """``n`` samples from one HTTP request, indexed from ``offset`` within ``request`` (as the
        contract counts them); on failure, ``n`` failed samples, the error kept in ``errors``."""
        path, body = build_body(
            request, model=self._model or "", profile=self.profile, n=n, seed=seed, template=self._template
        )
        try:
            return parse_response(await transport.post(path, body), path=path, request=request, first_index=offset)
        except (InvalidInputError, ModelNotFoundError):
            raise
        except EngineError as exc:
            self._redactor.error(exc)
            errors.append(exc)
            return [
                Completion(
                    text="", completion_tokens=0, finish_reason="error", usage=Usage(), index=offset + i, error=str(exc)
                )
                for i in range(n)
            ]

    def stream(self, request: GenerationRequest) -> QueueStream:
        """Serve ``request`` as a :class:`~ponder.engines.streaming.SampleStream` (see the module
        docstring); call it inside a running event loop. Errors arrive as :meth:`generate` raises
        or reports them: a failed sample ends with ``finish_reason="error"``, and only when every
        sample fails does iterating the stream raise the error."""
        loop = asyncio.get_running_loop()
        workers: dict[int, asyncio.Task[None]] = {}

        def on_stop(index: int | None) -> None:
            for i, task in list(workers.items()):
                if index is None or i == index:
                    task.cancel()  # closes that sample's HTTP stream

        stream = QueueStream(request, loop, on_stop=on_stop)
        producer = loop.create_task(self._serve_stream(stream, workers))
        self._producers.add(producer)
        producer.add_done_callback(self._producers.discard)
        return stream

    async def _serve_stream(self, stream: QueueStream, workers: dict[int, asyncio.Task[None]]) -> None:
        """Start each sample's stream when a slot frees (at most the concurrency limit at once,
        so a huge ``n`` costs no more), then wait for the last one."""
        request = stream.request
        unexpected: list[BaseException] = []
        try:
            transport = await self._connect()
            path, _ = build_body(
                request, model=self._model or "", profile=self.profile, n=1, seed=0, template=self._template
            )  # a request the profile cannot serve fails here, whole
            outcome = Outcome(stream, workers)
            slots = asyncio.Semaphore(self._width)

            def ended(index: int, task: asyncio.Task[None]) -> None:
                slots.release()
                workers.pop(index, None)
                error = None if task.cancelled() else task.exception()
                if error is not None:
                    unexpected.append(error)

            for index in range(request.n):
                if outcome.fatal is None and not stream.stopped(index):
                    await slots.acquire()
                    if outcome.fatal is not None or stream.stopped(index):  # while it waited
                        slots.release()
                if outcome.fatal is not None:
                    break
                if stream.stopped(index):
                    outcome.done(ChunkReader(path, request, index).cancelled())
                    if index % 1024 == 0:
                        await asyncio.sleep(0)  # a cancelled huge n: let the loop breathe between them
                    continue
                task = asyncio.ensure_future(self._stream_sample(transport, stream, index, outcome))
                workers[index] = task
                task.add_done_callback(functools.partial(ended, index))
            await asyncio.gather(*list(workers.values()), return_exceptions=True)
        except asyncio.CancelledError:  # the engine is closing
            for task in list(workers.values()):
                task.cancel()
            stream.fail(EngineError("the engine was closed while it streamed"))
            raise
        except Exception as exc:
            stream.fail(self._redactor.error(exc) if isinstance(exc, EngineError) else exc)
            return
        if outcome.fatal is None and unexpected:
            outcome.fail(unexpected[0])
        outcome.close()

    async def _stream_sample(self, transport: Transport, stream: QueueStream, index: int, outcome: Outcome) -> None:
        """Sample ``index`` of the stream's request: its deltas, then its completion, into ``outcome``."""
        request = stream.request
        seed = derive_seed(request.seed, request.first_index + index)
        path, body = build_body(
            request, model=self._model or "", profile=self.profile, n=1, seed=seed, template=self._template
        )
        reader = ChunkReader(path, request, index)
        try:
            if self.profile.streams:
                async with contextlib.aclosing(transport.events(path, stream_body(body, self.profile))) as chunks:
                    async for chunk in chunks:
                        if stream.stopped(index):  # stopped while chunks were at hand: send no more
                            break
                        text, logprobs = reader.add(chunk)
                        if text or logprobs:
                            outcome.delta(SampleDelta(index, text, reader.tokens, logprobs))
                completion = reader.cancelled() if stream.stopped(index) else reader.completion()
            else:  # whole samples: one delta with all the text
                [completion] = parse_response(
                    await transport.post(path, body), path=path, request=request, first_index=index
                )
                if completion.text or completion.logprobs:
                    outcome.delta(
                        SampleDelta(index, completion.text, completion.completion_tokens, completion.logprobs or ())
                    )
        except asyncio.CancelledError:
            if not stream.stopped(index):
                raise
            completion = reader.cancelled()  # the caller stopped it: the text so far
        except (InvalidInputError, ModelNotFoundError) as exc:  # no sample can succeed: the stream fails
            outcome.fail(self._redactor.error(exc))
            return
        except EngineError as exc:
            outcome.failed(index, self._redactor.error(exc))
            return
        outcome.done(completion)

    async def aclose(self) -> None:
        producers = [task for task in self._producers if task.get_loop() is asyncio.get_running_loop()]
        for task in producers:  # streams still running end with an error
            task.cancel()
        await asyncio.gather(*producers, return_exceptions=True)
        if self._transport is not None and self._loop is asyncio.get_running_loop():
            await self._transport.aclose()
        self._transport = None  # a client of a finished loop is dropped: its connections died with it
