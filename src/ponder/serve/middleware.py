"""The server's plain-ASGI layers: run slots, the body limit, and the guard around every request.

A Starlette ``BaseHTTPMiddleware`` would hide client disconnects from the endpoints, so these are
plain ASGI. :class:`Guard` authenticates, checks Content-Length, logs one line per request, and
turns an exception nothing else handled into a logged JSON 500 in OpenAI's error shape.
"""

from __future__ import annotations

import hmac
import threading
import time

from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ponder.serve.config import ServeConfig
from ponder.serve.errors import HTTPProblem, internal_error
from ponder.serve.logs import log_event, log_failure

OPEN_PATHS = {"/health"}


class RunSlots:
    """At most ``limit`` runs at once; a request that finds none free is refused, not queued.
    Thread-safe: a run gives its slot back from the run loop's thread when it really ends."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.active = 0
        self._lock = threading.Lock()

    def take(self) -> None:
        with self._lock:
            if self.active >= self.limit:
                raise HTTPProblem(
                    429,
                    f"the server is running {self.limit} requests; retry shortly",
                    "rate_limit_error",
                    "too_many_requests",
                    headers={"Retry-After": "1"},
                )
            self.active += 1

    def give(self) -> None:
        with self._lock:
            self.active -= 1


class BodyTooLarge(StarletteHTTPException):
    """Raised while the body is read (FastAPI re-raises HTTP exceptions met reading a body)."""


class BodyLimit:
    """Counts body bytes as they arrive: a chunked body has no Content-Length to check up front."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise BodyTooLarge(413, f"request body over {self.limit} bytes")
            return message

        await self.app(scope, counted, send)


class Guard:
    """Authentication, the Content-Length limit, one log line per request, and the last resort
    for unexpected exceptions (see the module docstring)."""

    def __init__(self, app: ASGIApp, config: ServeConfig) -> None:
        self.app, self.config = app, config

    def _problem(self, scope: Scope) -> HTTPProblem | None:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        if self.config.api_key and scope["path"] not in OPEN_PATHS:
            given = headers.get("authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {self.config.api_key}".encode()):
                return HTTPProblem(
                    401,
                    "missing or wrong API key (Authorization: Bearer KEY)",
                    "authentication_error",
                    "invalid_api_key",
                )
        length = headers.get("content-length")
        if length is not None and (
            not length.isascii() or not length.isdigit() or int(length) > self.config.max_body_bytes
        ):
            return HTTPProblem(413, f"request body over {self.config.max_body_bytes} bytes", "invalid_request_error")
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), {"code": 500, "sent": False}

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"], status["sent"] = message["status"], True
            await send(message)

        problem = self._problem(scope)
        try:
            if problem is not None:
                await problem.response()(scope, receive, sending)
            else:
                await self.app(scope, receive, sending)
        except ClientDisconnect:  # the client left while its body was read: nobody to answer
            status["code"] = 499
        except Exception as exc:
            log_failure(exc, method=scope.get("method"), path=scope["path"])
            if not status["sent"]:  # else the response is cut short; uvicorn closes the connection
                await internal_error(exc).response()(scope, receive, sending)
        finally:
            log_event(
                "http",
                method=scope.get("method"),
                path=scope["path"],
                status=status["code"],
                seconds=round(time.perf_counter() - started, 4),
            )
