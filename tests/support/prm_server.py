"""A local HTTP server that answers PRM requests by a Python callable, for unit tests.

``PrmServer(respond)`` calls ``respond(path, body)`` for every POST and sends back its
``(status, json_payload)``; ``fail_first=k`` answers the first k POSTs with HTTP 500 first.
Every request is recorded as (path, body, headers). Helpers build vLLM-like pooling answers.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Responder = Callable[[str, dict[str, Any]], tuple[int, Any]]


def pooling_answer(step_probs: list[list[float]], model: str = "Qwen/Qwen2.5-Math-PRM-7B") -> dict[str, Any]:
    """A vLLM ``/pooling`` response: input i gets a [P(neg), P(pos)] pair per step of ``step_probs[i]``."""
    data = [
        {"index": i, "object": "pooling", "data": [[round(1 - p, 6), p] for p in probs]}
        for i, probs in enumerate(step_probs)
    ]
    return {
        "id": "pool-1",
        "object": "list",
        "created": 0,
        "model": model,
        "data": data,
        "usage": {"prompt_tokens": 50, "total_tokens": 50, "completion_tokens": 0},
    }


class PrmServer:
    """Start with ``with PrmServer(respond) as server:``; ``server.url`` is its root."""

    def __init__(self, respond: Responder, *, fail_first: int = 0) -> None:
        self.respond = respond
        self.fail_first = fail_first
        self.requests: list[tuple[str, dict[str, Any], dict[str, str]]] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                return None

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                with server._lock:
                    server.requests.append((self.path, body, dict(self.headers)))
                    failing = server.fail_first > 0
                    server.fail_first -= int(failing)
                if failing:
                    status, payload = 500, {"error": {"message": "scripted failure"}}
                else:
                    status, payload = server.respond(self.path, body)
                raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    def __enter__(self) -> PrmServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
