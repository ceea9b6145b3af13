"""JSON over HTTP with a concurrency limit, timeouts, and retries with backoff and jitter.

Retried: 429, 5xx, timeouts and dropped connections, up to ``RetryPolicy.attempts`` tries, waiting
``Retry-After`` when the server sends it, else ``backoff * 2**attempt`` scaled by a seeded jitter
in [0.5, 1.5). Not retried: other 4xx and malformed responses. When tries run out the last error
is raised, typed: :class:`EngineTimeoutError`, :class:`BackendUnavailableError` or
:class:`UpstreamError`. The API key travels in a header and never appears in an error or a log.
"""

from __future__ import annotations

import asyncio
import datetime
import email.utils
import json
import random
import time
from dataclasses import dataclass
from typing import Any

import httpx

from ponder.core.errors import BackendUnavailableError, EngineError, EngineTimeoutError, ModelNotFoundError, UpstreamError


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
        parsed = parsed.replace(tzinfo=datetime.timezone.utc)
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

    def __init__(self, base_url: str, *, api_key: str | None, timeout: float, concurrency: int,
                 retry: RetryPolicy = RetryPolicy(), seed: int = 0) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.retry = retry
        self._client = httpx.AsyncClient(base_url=self.base_url, headers=headers,
                                         timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)))
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
                    error = UpstreamError(f"{where} answered {response.status_code}: {_error_message(response)}",
                                          response.status_code)
                    wait = retry_after(response)
                elif response.status_code >= 400:
                    raise self._client_error(where, response)
                else:
                    try:
                        return response.json(), response.headers
                    except (json.JSONDecodeError, UnicodeDecodeError):
                        raise UpstreamError(f"{where} sent a response that is not JSON: {response.text[:120]!r}") from None
            if attempt + 1 < self.retry.attempts:
                if wait is None:
                    wait = self.retry.backoff * 2**attempt * (0.5 + self._jitter.random())
                await asyncio.sleep(min(wait, self.retry.max_wait))
        raise error

    @staticmethod
    def _client_error(where: str, response: httpx.Response) -> EngineError:
        message = _error_message(response)
        if response.status_code in (401, 403):
            return UpstreamError(f"{where} refused the credentials ({response.status_code}): check the API key",
                                 response.status_code)
        if response.status_code == 404 and "model" in message.lower():
            return ModelNotFoundError(f"{where}: {message}")
        return UpstreamError(f"{where} answered {response.status_code}: {message}", response.status_code)

    async def aclose(self) -> None:
        await self._client.aclose()
