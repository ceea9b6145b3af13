"""JSON over HTTP with a concurrency limit, a deadline, a size cap, and retries with backoff and jitter.

Retried: 429, 5xx, connect timeouts and dropped connections, up to ``RetryPolicy.attempts`` tries,
waiting ``Retry-After`` when the server sends it, else ``backoff * 2**attempt`` scaled by a seeded
jitter in [0.5, 1.5); one wait is at most ``RetryPolicy.max_wait`` (30 s). Not retried: other 4xx
and malformed or oversized responses. When tries run out the last error is raised, typed:
:class:`EngineTimeoutError`, :class:`BackendUnavailableError` or :class:`UpstreamError`.

Limits against a misbehaving server:

- ``timeout`` is the total wall-clock time of one request, retries and waits included, counted
  from when it first gets a slot under the concurrency limit. It bounds the whole exchange, not
  each read: a body trickled a byte at a time ends with :class:`EngineTimeoutError` all the same.
  A ``Retry-After`` that reaches past the deadline is not waited for: the error is raised at once.
- A response body is read up to ``max_response_bytes`` (default 64 MiB); beyond that the request
  fails with :class:`UpstreamError` naming the limit (a declared ``Content-Length`` over it fails
  before reading). A stream may send that much in all, and at most ``max_event_bytes`` (8 MiB) in
  one line or event. An error reply is read up to 64 KiB (only its start is shown).
- The API key travels in a header and never appears in an error: whatever a server sends back
  (it may echo the ``Authorization`` header) is redacted (:mod:`.redact`), and so is every error
  raised here. User and password in the base URL are not shown either.

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
import math
import random
import re
import time
from collections.abc import AsyncGenerator
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
from ponder.engines.http.reading import (
    DEFAULT_MAX_EVENT_BYTES,
    DEFAULT_MAX_RESPONSE_BYTES,
    ERROR_BODY_BYTES,
    read_capped,
    read_lines,
    read_start,
    sse_data,
)
from ponder.engines.http.redact import Redactor

_sse_data = sse_data  # its old name (tests read events with it)


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4
    backoff: float = 0.5
    max_wait: float = 30.0


def retry_after(response: httpx.Response) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP date), if any."""
    return _retry_after(response.headers)


def _retry_after(headers: httpx.Headers) -> float | None:
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return None if math.isnan(seconds) else max(seconds, 0.0)
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (ValueError, TypeError, IndexError):
        return None  # unreadable: fall back to our own backoff
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.UTC)
    return max(parsed.timestamp() - time.time(), 0.0)


def shown_url(url: str) -> str:
    """``url`` without the user and password it may carry."""
    return re.sub(r"^(https?://)[^/@]*@", r"\1***@", url)


@dataclass
class _Reply:
    """A response read (as far as allowed) and closed."""

    status: int
    headers: httpx.Headers
    reason: str
    body: bytes


class Transport:
    """An async JSON client for one server (see the module docstring for its limits)."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None,
        timeout: float,
        concurrency: int,
        retry: RetryPolicy = RetryPolicy(),
        seed: int = 0,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
    ) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.retry = retry
        self.max_response_bytes = max_response_bytes
        self.max_event_bytes = max_event_bytes
        self.redactor = Redactor(api_key)
        self._shown = shown_url(self.base_url)
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

    # -- one request, retried ----------------------------------------------------------------

    async def _request(self, method: str, path: str, body: dict[str, Any] | None) -> tuple[Any, httpx.Headers]:
        where = f"{self._shown}{path}"
        try:
            error: EngineError = BackendUnavailableError(f"no attempt made to reach {where}")
            deadline = math.inf  # set when the request first gets a slot
            for attempt in range(self.retry.attempts):
                wait: float | None = None
                async with self._limit:
                    if deadline == math.inf:  # counted from the first slot: waiting in the queue is free
                        deadline = time.monotonic() + self.timeout
                    try:
                        async with asyncio.timeout(max(deadline - time.monotonic(), 0.0)):
                            reply = await self._exchange(method, path, body, where)
                    except TimeoutError:  # the deadline: no time is left for another try
                        raise EngineTimeoutError(f"{where} did not answer within {self.timeout:g} s") from None
                    except httpx.TimeoutException:
                        error = EngineTimeoutError(f"{where} did not answer within {self.timeout:g} s")
                    except httpx.TransportError as exc:
                        error = BackendUnavailableError(f"cannot reach {where}: {self._reason(exc)}")
                    except httpx.HTTPError as exc:  # a body that cannot be decoded (a bad Content-Encoding), ...
                        raise UpstreamError(f"{where} sent a reply that cannot be read: {self._reason(exc)}") from None
                    else:
                        if reply.status == 429 or reply.status >= 500:
                            error = self._status_error(where, reply)
                            wait = _retry_after(reply.headers)
                        elif reply.status >= 400:
                            raise self._client_error(where, reply)
                        else:
                            return self._json(reply.body, where), reply.headers
                if attempt + 1 < self.retry.attempts:
                    await self._pause(attempt, wait, deadline, error)
            raise error
        except EngineError as exc:
            raise self.redactor.error(exc) from None

    async def _exchange(self, method: str, path: str, body: dict[str, Any] | None, where: str) -> _Reply:
        request = self._client.build_request(method, path, json=body)
        response = await self._client.send(request, stream=True)
        try:
            if response.status_code >= 400:
                raw = await read_start(response, ERROR_BODY_BYTES)
            else:
                raw = await read_capped(response, self.max_response_bytes, where)
        finally:
            await response.aclose()
        return _Reply(response.status_code, response.headers, response.reason_phrase, raw)

    async def _pause(self, attempt: int, asked: float | None, deadline: float, error: EngineError) -> None:
        """Sleep before the next try: the server's ``Retry-After`` (``asked``) or our backoff, at
        most ``max_wait``; raise ``error`` at once if that would reach past the deadline."""
        wait = asked if asked is not None else self.retry.backoff * 2**attempt * (0.5 + self._jitter.random())
        wait = min(wait, self.retry.max_wait)
        if wait >= deadline - time.monotonic():
            reason = f"the server asked to wait {asked:g} s" if asked is not None else "no time left for a retry"
            error.args = (f"{error.args[0]} ({reason}; the timeout is {self.timeout:g} s)", *error.args[1:])
            raise error
        await asyncio.sleep(wait)

    # -- streams -----------------------------------------------------------------------------

    async def events(self, path: str, body: dict[str, Any]) -> AsyncGenerator[Any, None]:
        """POST ``body`` (a streaming request) and yield each server-sent event's JSON data until
        ``[DONE]`` or the end of the stream. A server that answers with plain JSON instead (it
        ignored ``"stream": true``) yields that one object. See the module docstring for retries."""
        where = f"{self._shown}{path}"
        try:
            error: EngineError = BackendUnavailableError(f"no attempt made to reach {where}")
            deadline = math.inf  # set when the request first gets a slot
            for attempt in range(self.retry.attempts):
                wait: float | None = None
                started = False
                async with self._limit:
                    if deadline == math.inf:  # counted from the first slot: waiting in the queue is free
                        deadline = time.monotonic() + self.timeout
                    response: httpx.Response | None = None
                    raw = b""
                    try:
                        async with asyncio.timeout(max(deadline - time.monotonic(), 0.0)):
                            request = self._client.build_request("POST", path, json=body)
                            response = await self._client.send(request, stream=True)
                            status = response.status_code
                            whole = status >= 400 or "json" in response.headers.get("content-type", "")
                            if status >= 400:
                                raw = await read_start(response, ERROR_BODY_BYTES)
                            elif whole:
                                raw = await read_capped(response, self.max_response_bytes, where)
                        if status == 429 or status >= 500:
                            reply = _Reply(status, response.headers, response.reason_phrase, raw)
                            error, wait = self._status_error(where, reply), _retry_after(response.headers)
                        elif status >= 400:
                            raise self._client_error(
                                where, _Reply(status, response.headers, response.reason_phrase, raw)
                            )
                        elif whole:
                            data = self._json(raw, where)
                            started = True
                            yield data
                            return
                        else:
                            lines = read_lines(response, deadline, self.max_response_bytes, self.max_event_bytes, where)
                            async for data in sse_data(lines, where, self.max_event_bytes, self.redactor):
                                started = True
                                yield data
                            return
                    except TimeoutError:
                        if started:
                            raise EngineTimeoutError(
                                f"the stream from {where} did not end within {self.timeout:g} s"
                            ) from None
                        raise EngineTimeoutError(f"{where} did not answer within {self.timeout:g} s") from None
                    except httpx.TimeoutException:
                        if started:
                            raise EngineTimeoutError(
                                f"{where} sent nothing more for {self.timeout:g} s mid-stream"
                            ) from None
                        error = EngineTimeoutError(f"{where} did not answer within {self.timeout:g} s")
                    except httpx.TransportError as exc:
                        if started:
                            raise BackendUnavailableError(
                                f"the stream from {where} broke off: {self._reason(exc)}"
                            ) from None
                        error = BackendUnavailableError(f"cannot reach {where}: {self._reason(exc)}")
                    except httpx.HTTPError as exc:  # a body that cannot be decoded (a bad Content-Encoding), ...
                        raise UpstreamError(f"{where} sent a stream that cannot be read: {self._reason(exc)}") from None
                    finally:
                        if response is not None:
                            await response.aclose()
                if attempt + 1 < self.retry.attempts:
                    await self._pause(attempt, wait, deadline, error)
            raise error
        except EngineError as exc:
            raise self.redactor.error(exc) from None

    # -- errors ------------------------------------------------------------------------------

    def _json(self, raw: bytes, where: str) -> Any:
        try:
            value = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            text = raw[:4096].decode("utf-8", errors="replace")
            raise UpstreamError(f"{where} sent a response that is not JSON: {self._cut(text, 120)!r}") from None
        if isinstance(value, dict) and "error" in value and not value.get("choices") and not value.get("data"):
            raise UpstreamError(f"{where} answered with an error: {self._detail(value)}")
        return value

    def _cut(self, text: str, limit: int) -> str:
        """``text`` redacted, then cut to ``limit`` characters (in that order: no key prefix survives)."""
        return self.redactor.text(text)[:limit]

    def _detail(self, body: Any) -> str:
        detail = body.get("error", body) if isinstance(body, dict) else body
        if isinstance(detail, dict):
            detail = detail.get("message", detail)
        return self._cut(str(detail), 300)

    def _message(self, reply: _Reply) -> str:
        try:
            return self._detail(json.loads(reply.body))
        except (ValueError, UnicodeDecodeError):
            return self._cut(reply.body.decode("utf-8", errors="replace"), 300) or reply.reason

    def _reason(self, exc: Exception) -> str:
        return self._cut(f"{type(exc).__name__}: {exc}".rstrip(": "), 300)

    def _status_error(self, where: str, reply: _Reply) -> UpstreamError:
        return UpstreamError(f"{where} answered {reply.status}: {self._message(reply)}", reply.status)

    def _client_error(self, where: str, reply: _Reply) -> EngineError:
        message = self._message(reply)
        if reply.status in (401, 403):
            return UpstreamError(f"{where} refused the credentials ({reply.status}): check the API key", reply.status)
        if reply.status == 404 and "model" in message.lower():
            return ModelNotFoundError(f"{where}: {message}")
        return UpstreamError(f"{where} answered {reply.status}: {message}", reply.status)

    async def aclose(self) -> None:
        await self._client.aclose()
