"""The OpenAI-compatible HTTP engine: vLLM, SGLang, llama.cpp's servers, Ollama, OpenAI.

Samples use the server's ``n`` where the profile says it works (one request; the server shares
the prompt), else fan out one request per sample, seeded by the sample's identity, concurrently
up to the profile's concurrency. If a server returns fewer choices than asked, the rest are
fetched by fan-out. A sample whose request fails after retries comes back with
``finish_reason="error"``; if every sample of a call fails, the error is raised instead.

``stream(request)`` sends one streaming request per sample (``n=1``, seeded by the sample's
identity as the fan-out seeds it), all at once up to the concurrency limit, so that
``stop(i)`` closes sample ``i``'s connection alone (vLLM, SGLang and llama.cpp's servers abort a
request whose stream is closed). On a profile that cannot stream, each sample arrives whole:
one delta with all its text, then its completion.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ponder.core.errors import EngineError, InvalidInputError, ModelNotFoundError
from ponder.core.seeding import derive_seed
from ponder.core.usage import Usage
from ponder.engines.base import Arrivals, Completion, EngineCapabilities, EngineInfo, GenerationRequest
from ponder.engines.chat_template import ChatTemplate, template_from_gguf
from ponder.engines.http.payloads import ChunkReader, build_body, parse_response, stream_body
from ponder.engines.http.profiles import PROFILES, EndpointProfile, detect_profile, get_profile
from ponder.engines.http.transport import RetryPolicy, Transport
from ponder.engines.streaming import QueueStream, SampleDelta, SampleDone

API_KEY_VARIABLES = ("PONDER_API_KEY", "OPENAI_API_KEY")


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
            text completions on servers that cannot continue a chat message.
        concurrency: most requests in flight (default 1 for one-at-a-time servers, else 16).
        timeout: seconds to wait for one response; retries: extra tries on 429, 5xx, drops.
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
        timeout: float = 120.0,
        retries: int = 3,
        backoff: float = 0.5,
        seed: int = 0,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise InvalidInputError(f"base URL must start with http:// or https://, got {base_url!r}")
        if profile != "auto":
            get_profile(profile)
        if timeout <= 0 or retries < 0:
            raise InvalidInputError("timeout must be > 0 and retries >= 0")
        root = base_url.rstrip("/").removesuffix("/v1")
        self._model = model
        self._profile_name = profile
        self._template = _load_template(chat_template)
        self._concurrency = concurrency
        self._timeout = timeout
        self._retry = RetryPolicy(attempts=retries + 1, backoff=backoff)
        self._seed = seed
        self._api_key = api_key or next((os.environ[v] for v in API_KEY_VARIABLES if os.environ.get(v)), None)
        self._root = root
        self._transport: Transport | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = asyncio.Lock()
        self._producers: set[asyncio.Task[None]] = set()  # streams being served (kept from the collector)
        self.profile: EndpointProfile = PROFILES["generic" if profile == "auto" else profile]
        self.info = EngineInfo(name="openai", model=model or "?", details={"base_url": root, "profile": profile})

    def __repr__(self) -> str:  # never shows the API key
        return f"OpenAIEngine(base_url={self._root!r}, model={self._model!r}, profile={self.profile.name!r})"

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
            finally:
                await probe.aclose()
            listed = (models.get("data") or []) if isinstance(models, dict) else []
            served = [m["id"] for m in listed if isinstance(m, dict) and isinstance(m.get("id"), str)]
            if self._profile_name == "auto":
                self.profile = detect_profile(models if isinstance(models, dict) else {}, dict(headers))
            if self._model is None:
                if not served:
                    raise ModelNotFoundError(f"{self._root}/v1/models lists no model; pass --model")
                self._model = served[0]
            self.info = EngineInfo(
                name="openai", model=self._model, details={"base_url": self._root, "profile": self.profile.name}
            )
            limit = self._concurrency or (1 if self.profile.serves_one_at_a_time else 16)
            self._transport = self._open_transport(concurrency=limit)
            return self._transport

    def _open_transport(self, concurrency: int) -> Transport:
        return Transport(
            self._root,
            api_key=self._api_key,
            concurrency=concurrency,
            timeout=self._timeout,
            retry=self._retry,
            seed=self._seed,
        )

    async def generate(self, requests: Sequence[GenerationRequest]) -> list[list[Completion]]:
        transport = await self._connect()
        errors: list[EngineError] = []
        rows = await asyncio.gather(*(self._samples(transport, r, errors) for r in requests))
        if errors and all(c.finish_reason == "error" for row in rows for c in row):
            raise errors[0]
        return list(rows)

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
        singles = await asyncio.gather(
            *(
                self._call(
                    transport, request, offset, 1, derive_seed(request.seed, request.first_index + offset), errors
                )
                for offset in range(len(got), request.n)
            )
        )
        return got + [row[0] for row in singles]

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
        request = stream.request
        try:
            transport = await self._connect()
            path, _ = build_body(
                request, model=self._model or "", profile=self.profile, n=1, seed=0, template=self._template
            )  # a request the profile cannot serve fails here, whole
            outcome = _Outcome(stream, workers)
            for index in range(request.n):
                if stream.stopped(index):
                    outcome.done(ChunkReader(path, request, index).cancelled())
                else:
                    workers[index] = asyncio.ensure_future(self._stream_sample(transport, stream, index, outcome))
            results = await asyncio.gather(*workers.values(), return_exceptions=True)
        except asyncio.CancelledError:  # the engine is closing
            for task in workers.values():
                task.cancel()
            stream.fail(EngineError("the engine was closed while it streamed"))
            raise
        except Exception as exc:
            stream.fail(exc)
            return
        if outcome.fatal is None:
            unexpected = next((r for r in results if isinstance(r, BaseException)), None)
            if unexpected is not None:
                outcome.fail(unexpected)
        outcome.close()

    async def _stream_sample(self, transport: Transport, stream: QueueStream, index: int, outcome: _Outcome) -> None:
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
            outcome.fail(exc)
            return
        except EngineError as exc:
            outcome.failed(index, exc)
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


@dataclass
class _Outcome:
    """Where a stream's samples go: deltas and completions are pushed as they come, except that a
    failed sample's end is held back until another sample ends without failing (finished or
    stopped); if none does, the stream raises the first error instead, as
    :meth:`OpenAIEngine.generate` does when every sample fails."""

    stream: QueueStream
    workers: dict[int, asyncio.Task[None]]
    proven: bool = False  # some sample finished or was stopped
    held: list[SampleDone] = field(default_factory=list)
    errors: list[EngineError] = field(default_factory=list)
    fatal: BaseException | None = None

    def _prove(self) -> None:
        if not self.proven:
            self.proven = True
            for event in self.held:
                self.stream.push(event)
            self.held.clear()

    def delta(self, event: SampleDelta) -> None:
        if self.fatal is None:
            self.stream.push(event)

    def done(self, completion: Completion) -> None:
        if self.fatal is None:
            self.stream.push(SampleDone(completion.index, completion))
            self._prove()

    def failed(self, index: int, error: EngineError) -> None:
        """Sample ``index`` failed (after any retries)."""
        if self.fatal is not None:
            return
        self.errors.append(error)
        event = SampleDone(
            index,
            Completion(
                text="", completion_tokens=0, finish_reason="error", usage=Usage(), index=index, error=str(error)
            ),
        )
        if self.proven:
            self.stream.push(event)
        else:
            self.held.append(event)

    def fail(self, error: BaseException) -> None:
        """The whole stream fails with ``error``; the other samples' requests are closed."""
        if self.fatal is not None:
            return
        self.fatal = error
        self.stream.fail(error)
        current = asyncio.current_task()
        for task in self.workers.values():
            if task is not current:
                task.cancel()

    def close(self) -> None:
        """Every sample has ended."""
        if self.fatal is not None:
            return
        if self.held:  # every sample failed
            self.stream.fail(self.errors[0])
        else:
            self.stream.finish()
