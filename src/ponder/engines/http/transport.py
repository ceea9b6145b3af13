"""JSON over HTTP with a concurrency limit, timeouts, and retries with backoff and jitter.

Retried: 429, 5xx, timeouts and dropped connections, up to ``RetryPolicy.attempts`` tries, waiting
``Retry-After`` when the server sends it, else ``backoff * 2**attempt`` scaled by a seeded jitter
in [0.5, 1.5). Not retried: other 4xx and malformed responses. When tries run out the last error
is raised, typed: :class:`EngineTimeoutError`, :class:`BackendUnavailableError` or
:class:`UpstreamError`. The API key travels in a header and never appears in an error or a log.

:meth:`Transport.events` posts a streaming request and yields its server-sent events as JSON
objects. It is retried like any request until its first event arrives; after that a timeout, a
dropped connection or an error event ends it with the typed error (what arrived is not sent
twice). The concurrency limit holds for the whole stream, and closing the generator (or
cancelling its reader) closes the connection, which is how a server learns to stop generating.
"""

from __future__ import annotations

import asyncio
import datetime
import email.utils
import json
import random
import time
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx

from ponder.core.errors import (
    BackendUnavailableError,
    EngineError,
    EngineTimeoutError,
    ModelNotFoundError,
    UpstreamError,
)


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4
    backoff: float = 0.5
    max_wait: float = 30.0


def retry_after(response: httpx.Response) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP date), if any."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (ValueError, TypeError, IndexError):
        return None  # unreadable: fall back to our own backoff
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.UTC)
    return max(parsed.timestamp() - time.time(), 0.0)


def _error_message(response: httpx.Response) -> str:
    try:
        body = response.json()
        detail = body.get("error", body) if isinstance(body, dict) else body
        if isinstance(detail, dict):
            detail = detail.get("message", detail)
        return str(detail)[:300]
    except ValueError:
        return response.text[:300] or response.reason_phrase


class Transport:
    """An async JSON client for one server."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None,
        timeout: float,
        concurrency: int,
        retry: RetryPolicy = RetryPolicy(),
        seed: int = 0,
    ) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.retry = retry
        self._client = httpx.AsyncClient(
            base_url=self.base_url, headers=headers, timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0))
        )
        self._limit = asyncio.Semaphore(concurrency)
        self._jitter = random.Random(seed)

    async def get(self, path: str) -> tuple[Any, httpx.Headers]:
        return await self._request("GET", path, None)

    async def post(self, path: str, body: dict[str, Any]) -> Any:
        data, _ = await self._request("POST", path, body)
        return data

    async def _request(self, method: str, path: str, body: dict[str, Any] | None) -> tuple[Any, httpx.Headers]:
        where = f"{self.base_url}{path}"
        error: EngineError = BackendUnavailableError(f"no attempt made to reach {where}")
        for attempt in range(self.retry.attempts):
            wait: float | None = None
            try:
                async with self._limit:
                    response = await self._client.request(method, path, json=body)
            except httpx.TimeoutException:
                error = EngineTimeoutError(f"{where} did not answer within {self.timeout:g} s")
            except httpx.TransportError as exc:
                error = BackendUnavailableError(f"cannot reach {where}: {type(exc).__name__}: {exc}".rstrip(": "))
            else:
                if response.status_code == 429 or response.status_code >= 500:
                    error = UpstreamError(
                        f"{where} answered {response.status_code}: {_error_message(response)}", response.status_code
                    )
                    wait = retry_after(response)
                elif response.status_code >= 400:
                    raise self._client_error(where, response)
                else:
                    try:
                        return response.json(), response.headers
                    except (json.JSONDecodeError, UnicodeDecodeError):
                        raise UpstreamError(
                            f"{where} sent a response that is not JSON: {response.text[:120]!r}"
                        ) from None
            if attempt + 1 < self.retry.attempts:
                if wait is None:
                    wait = self.retry.backoff * 2**attempt * (0.5 + self._jitter.random())
                await asyncio.sleep(min(wait, self.retry.max_wait))
        raise error

    async def events(self, path: str, body: dict[str, Any]) -> AsyncGenerator[Any, None]:
        """POST ``body`` (a streaming request) and yield each server-sent event's JSON data until
        ``[DONE]`` or the end of the stream. A server that answers with plain JSON instead (it
        ignored ``"stream": true``) yields that one object. See the module docstring for retries."""
        where = f"{self.base_url}{path}"
        error: EngineError = BackendUnavailableError(f"no attempt made to reach {where}")
        for attempt in range(self.retry.attempts):
            wait: float | None = None
            started = False
            try:
                async with self._limit, self._client.stream("POST", path, json=body) as response:
                    if response.status_code == 429 or response.status_code >= 500:
                        await response.aread()
                        error = UpstreamError(
                            f"{where} answered {response.status_code}: {_error_message(response)}", response.status_code
                        )
                        wait = retry_after(response)
                    elif response.status_code >= 400:
                        await response.aread()
                        raise self._client_error(where, response)
                    elif "json" in response.headers.get("content-type", ""):
                        raw = await response.aread()
                        try:
                            data = json.loads(raw)
                        except (json.JSONDecodeError, UnicodeDecodeError):
                            raise UpstreamError(f"{where} sent a response that is not JSON: {raw[:120]!r}") from None
                        started = True
                        yield data
                        return
                    else:
                        async for data in _sse_data(response.aiter_lines(), where):
                            started = True
                            yield data
                        return
            except httpx.TimeoutException:
                if started:
                    raise EngineTimeoutError(f"{where} sent nothing more for {self.timeout:g} s mid-stream") from None
                error = EngineTimeoutError(f"{where} did not answer within {self.timeout:g} s")
            except httpx.TransportError as exc:
                reason = f"{type(exc).__name__}: {exc}".rstrip(": ")
                if started:
                    raise BackendUnavailableError(f"the stream from {where} broke off: {reason}") from None
                error = BackendUnavailableError(f"cannot reach {where}: {reason}")
            if attempt + 1 < self.retry.attempts:
                if wait is None:
                    wait = self.retry.backoff * 2**attempt * (0.5 + self._jitter.random())
                await asyncio.sleep(min(wait, self.retry.max_wait))
        raise error

    @staticmethod
    def _client_error(where: str, response: httpx.Response) -> EngineError:
        message = _error_message(response)
        if response.status_code in (401, 403):
            return UpstreamError(
                f"{where} refused the credentials ({response.status_code}): check the API key", response.status_code
            )
        if response.status_code == 404 and "model" in message.lower():
            return ModelNotFoundError(f"{where}: {message}")
        return UpstreamError(f"{where} answered {response.status_code}: {message}", response.status_code)

    async def aclose(self) -> None:
        await self._client.aclose()


async def _sse_data(lines: AsyncIterator[str], where: str) -> AsyncIterator[Any]:
    """The JSON data of each server-sent event, until ``data: [DONE]`` or the end of ``lines``.
    An event whose data is an ``{"error": ...}`` object, or an ``error:`` field (llama-server),
    raises :class:`UpstreamError`; comments (``: ping``) and other fields are skipped."""
    pending: list[str] = []

    def decode(data: str) -> Any:
        try:
            value = json.loads(data)
        except json.JSONDecodeError:
            raise UpstreamError(f"{where} sent an event that is not JSON: {data[:120]!r}") from None
        if isinstance(value, dict) and "error" in value and not value.get("choices"):
            detail = value["error"]
            if isinstance(detail, dict):
                detail = detail.get("message", detail)
            raise UpstreamError(f"{where} sent an error mid-stream: {str(detail)[:300]}")
        return value

    async for line in lines:
        line = line.rstrip("\r\n")
        if not line:  # an event ends at a blank line
            if pending:
                data, pending = "\n".join(pending), []
                if data.strip() == "[DONE]":
                    return
                yield decode(data)
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "data":
            pending.append(value)
        elif name == "error":
            raise UpstreamError(f"{where} sent an error mid-stream: {value[:300]}")
    if pending:
        data = "\n".join(pending)
        if data.strip() != "[DONE]":
            yield decode(data)
