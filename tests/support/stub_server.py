"""A scripted OpenAI-compatible server on 127.0.0.1 for fault tests (no model behind it).

Each POST takes the next scripted action; when the script runs out it answers normally with a
completion whose text names the request's seed. Every request is recorded with its arrival time.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable


@dataclass
class Action:
    kind: str  # "status", "hang", "drop", "partial", "garbage", "ok"
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    body: Any = None


def completion_body(body: dict[str, Any], text: str | None = None) -> dict[str, Any]:
    n = int(body.get("n", 1))
    seed = body.get("seed")
    make = (lambda i: text or f"sample seed={seed} i={i}. The answer is 4.")
    if "messages" in body:
        choices = [{"index": i, "message": {"role": "assistant", "content": make(i)}, "finish_reason": "stop"}
                   for i in range(n)]
    else:
        choices = [{"index": i, "text": make(i), "finish_reason": "stop"} for i in range(n)]
    return {"id": "x", "object": "chat.completion", "choices": choices,
            "usage": {"prompt_tokens": 10, "completion_tokens": 7 * n, "total_tokens": 10 + 7 * n,
                      "prompt_tokens_details": {"cached_tokens": 4}}}


class StubServer:
    """Start with ``with StubServer(owned_by="vllm") as server:``; ``server.url`` is its root."""

    def __init__(self, owned_by: str = "me", model: str = "stub-model") -> None:
        self.script: list[Action] = []
        self.requests: list[tuple[float, str, dict[str, Any], dict[str, str]]] = []
        self.owned_by, self.model = owned_by, model
        self.fail_when: Callable[[dict[str, Any]], bool] | None = None  # such requests always get 500
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                return None

            def _send(self, status: int, payload: bytes, headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(payload)

            def do_GET(self) -> None:
                stub.requests.append((time.monotonic(), self.path, {}, dict(self.headers)))
                models = {"object": "list", "data": [{"id": stub.model, "object": "model", "owned_by": stub.owned_by}]}
                self._send(200, json.dumps(models).encode())

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                stub.requests.append((time.monotonic(), self.path, body, dict(self.headers)))
                action = stub.script.pop(0) if stub.script else Action("ok")
                if stub.fail_when is not None and stub.fail_when(body):
                    action = Action("status", status=500)
                if action.kind == "hang":
                    time.sleep(action.seconds)
                    return
                if action.kind == "drop":
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if action.kind == "partial":
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", "500")
                    self.end_headers()
                    self.wfile.write(b'{"choices": [')
                    self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if action.kind == "garbage":
                    self._send(200, b"<html>not json</html>")
                    return
                if action.kind == "status":
                    payload = json.dumps(action.body or {"error": {"message": f"scripted {action.status}"}}).encode()
                    self._send(action.status, payload, action.headers)
                    return
                self._send(200, json.dumps(action.body or completion_body(body)).encode())

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._server.block_on_close = False  # a hung handler must not hold up the test
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> "StubServer":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def posts(self) -> list[tuple[float, str, dict[str, Any], dict[str, str]]]:
        return [r for r in self.requests if r[1] != "/v1/models"]
