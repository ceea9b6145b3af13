"""Connection-level defences of ``ponder serve``: deadlines for reading a request, a connection cap.

uvicorn closes idle keep-alive connections, but has no deadline for a client that sends its
request slowly (slow-loris: a few header bytes every few seconds holds a connection, and its
memory, for ever). :class:`DeadlineProtocol` is uvicorn's h11 protocol with two deadlines:

- ``header_timeout``: a request's headers must be complete within this many seconds of the
  connection being opened (for the first request) or of its first byte (for a later request on
  a kept-alive connection; the wait for that first byte is uvicorn's ``timeout_keep_alive``);
- ``body_timeout``: its body must be complete within this many seconds of the headers.

A client that misses either gets ``408`` (when no response has begun) and is disconnected.
``max_connections`` caps open connections: a request on a connection past the cap gets ``503``
(OpenAI error JSON, ``Retry-After: 1``) and the connection is closed; the deadlines free the
slots that slow clients hold. :func:`uvicorn_config` puts it together for ``ponder serve``, and
:func:`listening_socket` binds its address first, so a bad host or a port in use is one error line.
"""

from __future__ import annotations

import asyncio
import http
import json
import socket
from typing import Any, ClassVar

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from ponder.core.errors import InvalidInputError
from ponder.serve.config import ServeConfig
from ponder.serve.errors import HTTPProblem
from ponder.serve.logs import log_event

KEEP_ALIVE_SECONDS = 5


def _raw_response(problem: HTTPProblem, extra: str = "") -> bytes:
    body = json.dumps(problem.body()).encode("ascii")
    head = (
        f"HTTP/1.1 {problem.status} {http.HTTPStatus(problem.status).phrase}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\n{extra}connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


REQUEST_TIMEOUT = _raw_response(
    HTTPProblem(408, "the request was not received in time; the connection is closed", "invalid_request_error")
)
REFUSED_GRACE_SECONDS = 1.0  # how long a refused connection may still deliver its request before it is closed


def _over_capacity(cap: int) -> bytes:
    """What a connection past the cap gets at once: 503 in the API's error shape."""
    problem = HTTPProblem(
        503,
        f"the server has too many open connections (at most {cap}); retry shortly",
        "server_error",
        "too_many_connections",
    )
    return _raw_response(problem, "retry-after: 1\r\n")


class DeadlineProtocol(H11Protocol):
    """uvicorn's h11 protocol with header and body deadlines and a connection cap (see the module
    docstring); the limits are class attributes, set by :func:`deadline_protocol`."""

    header_timeout: ClassVar[float] = 10.0
    body_timeout: ClassVar[float] = 30.0
    max_connections: ClassVar[int] = 100

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None
        self._phase: str | None = None
        self._refused = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.max_connections:
            # Refuse at once, so that idle connections past the cap hold no slot: answer 503, stop
            # writing, and close after a short grace (closing with the client's request unread
            # would reset the connection and lose the answer).
            self._refused = True
            log_event("too_many_connections", cap=self.max_connections)
            transport.write(_over_capacity(self.max_connections))
            if transport.can_write_eof():
                transport.write_eof()
            self.loop.call_later(REFUSED_GRACE_SECONDS, transport.close)
            return
        self._arm("headers")

    def connection_lost(self, exc: Exception | None) -> None:
        self._arm(None)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # already answered 503; the request is read and dropped
        super().data_received(data)
        self._follow(data_arrived=True)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._follow(data_arrived=False)

    def _follow(self, data_arrived: bool) -> None:
        """Arm the deadline that the request's progress calls for: headers while a request has
        begun (or bytes wait in the buffer), body while its body is read, none once it is in."""
        if self.transport.is_closing():
            self._arm(None)
            return
        state = self.conn.their_state
        if state is h11.SEND_BODY:
            self._arm("body")
        elif state is h11.IDLE and (data_arrived or self.conn.trailing_data[0]):
            self._arm(self._phase or "headers")  # a request under way keeps its first deadline
        else:
            self._arm(None)

    def _arm(self, phase: str | None) -> None:
        if phase == self._phase:
            return
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        self._phase = phase
        if phase is not None:
            seconds = self.header_timeout if phase == "headers" else self.body_timeout
            self._deadline = self.loop.call_later(seconds, self._expire)

    def _expire(self) -> None:
        phase, self._phase, self._deadline = self._phase, None, None
        if self.transport.is_closing():
            return
        log_event("slow_client", phase=phase)
        if phase == "headers" or self.cycle is None or not self.cycle.response_started:
            self.transport.write(REQUEST_TIMEOUT)
        self.transport.close()


def deadline_protocol(config: ServeConfig) -> type[DeadlineProtocol]:
    """A :class:`DeadlineProtocol` class with ``config``'s deadlines and connection cap."""
    return type(
        "ServeProtocol",
        (DeadlineProtocol,),
        {
            "header_timeout": config.header_timeout,
            "body_timeout": config.body_timeout,
            "max_connections": config.max_connections,
        },
    )


def uvicorn_config(app: Any, config: ServeConfig, **options: Any) -> uvicorn.Config:
    """uvicorn's settings for ``app`` with ``config``'s connection limits (``options`` add to them)."""
    return uvicorn.Config(
        app,
        http=deadline_protocol(config),
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        log_level="warning",
        **options,
    )


def listening_socket(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` (port 0: a free one), for ``uvicorn.Server.run(sockets=...)``;
    a host that does not resolve or an address that cannot be bound raises :class:`InvalidInputError`."""
    if not 0 <= port <= 65535:
        raise InvalidInputError(f"port {port} is not in 0..65535")
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except (socket.gaierror, UnicodeError) as exc:
        raise InvalidInputError(f"cannot listen on host {host!r}: {getattr(exc, 'strerror', None) or exc}") from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise InvalidInputError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.set_inheritable(True)
    return sock
