"""Serve an ASGI app (ponder's FastAPI server) with uvicorn on 127.0.0.1 in a background thread.

    with AppServer(create_app(FakeEngine([...]), ServeConfig())) as server:
        client = openai.OpenAI(base_url=server.url + "/v1", api_key="x")

The server has its own event loop in its own thread, so synchronous clients (and async clients
on the test's loop) talk to it over real HTTP. It binds a free port, waits until it answers,
and stops on exit.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import uvicorn


def _bound_socket() -> socket.socket:
    """A socket bound to a free port on 127.0.0.1 (handed to uvicorn, so no other process can take the port)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


class AppServer:
    """``with AppServer(app) as server:``; ``server.url`` is ``http://127.0.0.1:PORT``."""

    def __init__(self, app: Any, *, start_timeout: float = 10.0) -> None:
        self._socket = _bound_socket()
        self.port = int(self._socket.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, args=([self._socket],), name=f"uvicorn-{self.port}", daemon=True
        )
        self._start_timeout = start_timeout

    def __enter__(self) -> AppServer:
        self._thread.start()
        deadline = time.monotonic() + self._start_timeout
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError(f"uvicorn exited before serving on {self.url}")
            if time.monotonic() > deadline:
                self.close()
                raise RuntimeError(f"uvicorn did not start on {self.url} within {self._start_timeout} s")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        if self._thread.is_alive():  # a stream that never ends: stop waiting for it
            self._server.force_exit = True
            self._thread.join(timeout=5)
        self._socket.close()
