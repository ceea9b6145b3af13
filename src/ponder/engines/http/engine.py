"""The OpenAI-compatible HTTP engine: vLLM, SGLang, llama.cpp's servers, Ollama, OpenAI.

Samples use the server's ``n`` where the profile says it works (one request; the server shares
the prompt), else fan out one request per sample, seeded by the sample's identity, concurrently
up to the profile's concurrency. If a server returns fewer choices than asked, the rest are
fetched by fan-out. A sample whose request fails after retries comes back with
``finish_reason="error"``; if every sample of a call fails, the error is raised instead.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Sequence

from ponder.engines.base import Arrivals, Completion, EngineCapabilities, EngineInfo, GenerationRequest
from ponder.engines.chat_template import ChatTemplate, template_from_gguf
from ponder.engines.http.payloads import build_body, parse_response
from ponder.engines.http.profiles import PROFILES, EndpointProfile, detect_profile, get_profile
from ponder.engines.http.transport import RetryPolicy, Transport
from ponder.core.errors import EngineError, InvalidInputError, ModelNotFoundError
from ponder.core.seeding import derive_seed
from ponder.core.usage import Usage

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
        self, model: str | None = None, *, base_url: str, api_key: str | None = None, profile: str = "auto",
        chat_template: str | None = None, concurrency: int | None = None, timeout: float = 120.0,
        retries: int = 3, backoff: float = 0.5, seed: int = 0,
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
        self.profile: EndpointProfile = PROFILES["generic" if profile == "auto" else profile]
        self.info = EngineInfo(name="openai", model=model or "?", details={"base_url": root, "profile": profile})

    def __repr__(self) -> str:  # never shows the API key
        return f"OpenAIEngine(base_url={self._root!r}, model={self._model!r}, profile={self.profile.name!r})"

    @property
    def capabilities(self) -> EngineCapabilities:
        profile = self.profile
        can_continue = profile.continuation == "continue_final_message" or (
            profile.completions_endpoint and self._template is not None)
        return EngineCapabilities(fork=profile.supports_n, prefix_cache=profile.name in {"vllm", "sglang", "llama.cpp"},
                                  logprobs=profile.supports_logprobs, raw_continuation=can_continue,
                                  max_context=0, seeded=profile.supports_seed,
                                  reports_stop=profile.name in {"vllm", "sglang"}, remote=True)

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
            self.info = EngineInfo(name="openai", model=self._model,
                                   details={"base_url": self._root, "profile": self.profile.name})
            limit = self._concurrency or (1 if self.profile.serves_one_at_a_time else 16)
            self._transport = self._open_transport(concurrency=limit)
            return self._transport

    def _open_transport(self, concurrency: int) -> Transport:
        return Transport(self._root, api_key=self._api_key, concurrency=concurrency, timeout=self._timeout,
                         retry=self._retry, seed=self._seed)

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

    async def _samples(self, transport: Transport, request: GenerationRequest, errors: list[EngineError]) -> list[Completion]:
        got: list[Completion] = []
        if self.profile.supports_n and request.n > 1:
            seed = derive_seed(request.seed, request.first_index)
            got = (await self._call(transport, request, 0, request.n, seed, errors))[: request.n]
            got = [c for c in got if c.finish_reason != "error"]
        singles = await asyncio.gather(*(
            self._call(transport, request, offset, 1, derive_seed(request.seed, request.first_index + offset), errors)
            for offset in range(len(got), request.n)))
        return got + [row[0] for row in singles]

    async def _call(
        self, transport: Transport, request: GenerationRequest, offset: int, n: int, seed: int,
        errors: list[EngineError],
    ) -> list[Completion]:
        """``n`` samples from one HTTP request, indexed from ``offset`` within ``request`` (as the
        contract counts them); on failure, ``n`` failed samples, the error kept in ``errors``."""
        path, body = build_body(request, model=self._model or "", profile=self.profile, n=n, seed=seed,
                                template=self._template)
        try:
            return parse_response(await transport.post(path, body), path=path, request=request, first_index=offset)
        except (InvalidInputError, ModelNotFoundError):
            raise
        except EngineError as exc:
            errors.append(exc)
            return [Completion(text="", completion_tokens=0, finish_reason="error", usage=Usage(), index=offset + i,
                               error=str(exc)) for i in range(n)]

    async def aclose(self) -> None:
        if self._transport is not None and self._loop is asyncio.get_running_loop():
            await self._transport.aclose()
        self._transport = None  # a client of a finished loop is dropped: its connections died with it
