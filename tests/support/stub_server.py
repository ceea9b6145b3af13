"""A scripted OpenAI-compatible server on 127.0.0.1 for fault tests (no model behind it).

Each POST takes the next scripted action; when the script runs out it answers normally with a
completion whose text names the request's seed. Every request is recorded with its arrival time.

A request with ``"stream": true`` is answered with server-sent events (chunked): a role chunk,
one chunk per word of the same text (``chunk_delay`` seconds apart, with logprobs when asked),
a finish chunk, the usage chunk when ``stream_options.include_usage`` asks, ``data: [DONE]``.
Each stream is recorded in ``streams`` with how it ended: ``completed``, ``closed`` (the client
closed it early: a write failed) or ``dropped`` (a scripted fault).

Hostile actions, for the limits of the HTTP engine: ``trickle`` sends the reply (JSON, or the
events of a stream) one byte every ``seconds``; ``endless`` sends a JSON body that never ends,
``endless-events`` an event stream that never ends, ``endless-line`` one line that never ends;
``echo-auth`` answers ``status`` with an error message that repeats the request's
``Authorization`` header. ``models`` replaces the ``/v1/models`` reply; ``props``, when set, is
the ``GET /props`` reply (llama-server's), else that path is a 404 (each such GET is counted in
``props_requests``, not in ``requests``); any other GET gets the models reply. An endless reply stops
when the client goes away (or after ``ENDLESS_LIMIT`` seconds, so that no thread outlives a test).
"""

from __future__ import annotations

import itertools
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ENDLESS_LIMIT = 30.0


@dataclass
class Action:
    kind: str  # "status", "hang", "drop", "partial", "garbage", "ok"; streams: "stream-drop", "stream-error";
    # hostile: "trickle", "endless", "endless-events", "endless-line", "echo-auth" (see the module docstring)
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    body: Any = None  # "ok": the reply (a stream: the list of chunk objects to send as they are)
    after: int = 0  # "stream-drop" / "stream-error": word chunks sent before the fault


@dataclass
class StreamRecord:
    """One streamed reply: its request body, the events written, and how it ended."""

    body: dict[str, Any]
    sent: int = 0
    outcome: str = "running"  # then "completed", "closed" (by the client) or "dropped" (scripted)
    ended: threading.Event = field(default_factory=threading.Event)
    ended_at: float = 0.0  # time.monotonic() at its end

    @property
    def seed(self) -> Any:
        return self.body.get("seed")


def stream_chunks(body: dict[str, Any], text: str | None = None) -> list[dict[str, Any]]:
    """The chunks of a streamed reply to ``body`` (``n=1``): role, one per word, finish, usage."""
    chat = "messages" in body
    text = text or f"sample seed={body.get('seed')} i=0. The answer is 4."
    pieces = [("" if i == 0 else " ") + word for i, word in enumerate(text.split(" "))]
    wants_logprobs = bool(body.get("logprobs"))

    def choice(piece: str | None, finish: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"index": 0, "finish_reason": finish}
        if chat:
            out["delta"] = {} if piece is None else {"content": piece}
        else:
            out["text"] = piece or ""
        if wants_logprobs and piece:
            if chat:
                out["logprobs"] = {
                    "content": [{"token": piece, "logprob": -0.5, "top_logprobs": [{"token": piece, "logprob": -0.5}]}]
                }
            else:
                out["logprobs"] = {"tokens": [piece], "token_logprobs": [-0.5], "top_logprobs": [{piece: -0.5}]}
        return out

    chunks: list[dict[str, Any]] = []
    if chat:
        chunks.append({"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]})
    chunks += [{"choices": [choice(piece)]} for piece in pieces]
    chunks.append({"choices": [choice(None, "stop")]})
    if (body.get("stream_options") or {}).get("include_usage"):
        chunks.append(
            {
                "choices": [],
                "usage": {
                    "prompt_tokens": 10,
                    "completion_tokens": len(pieces),
                    "total_tokens": 10 + len(pieces),
                    "prompt_tokens_details": {"cached_tokens": 4},
                },
            }
        )
    return [{"id": "x", "object": "chat.completion.chunk" if chat else "text_completion", **c} for c in chunks]


def completion_body(body: dict[str, Any], text: str | None = None) -> dict[str, Any]:
    n = int(body.get("n", 1))
    seed = body.get("seed")

    def make(i: int) -> str:
        return text or f"sample seed={seed} i={i}. The answer is 4."

    if "messages" in body:
        choices = [
            {"index": i, "message": {"role": "assistant", "content": make(i)}, "finish_reason": "stop"}
            for i in range(n)
        ]
    else:
        choices = [{"index": i, "text": make(i), "finish_reason": "stop"} for i in range(n)]
    return {
        "id": "x",
        "object": "chat.completion",
        "choices": choices,
        "usage": {
            "prompt_tokens": 10,
            "completion_tokens": 7 * n,
            "total_tokens": 10 + 7 * n,
            "prompt_tokens_details": {"cached_tokens": 4},
        },
    }


class StubServer:
    """Start with ``with StubServer(owned_by="vllm") as server:``; ``server.url`` is its root."""

    def __init__(self, owned_by: str = "me", model: str = "stub-model") -> None:
        self.script: list[Action] = []
        self.requests: list[tuple[float, str, dict[str, Any], dict[str, str]]] = []
        self.owned_by, self.model = owned_by, model
        self.fail_when: Callable[[dict[str, Any]], bool] | None = None  # such requests always get 500
        self.delay = 0.0  # seconds every POST waits before its action (a slow model)
        self.chunk_delay = 0.0  # seconds between two events of a stream
        self.stream_text: Callable[[dict[str, Any]], str] | None = None  # a streamed reply's text, per request
        self.streams: list[StreamRecord] = []
        self.models: Any = None  # the /v1/models reply, if not the usual one
        self.props: Any = None  # the GET /props reply; None: a 404
        self.props_requests = 0
        self.unfinished: list[str] = []  # the hostile replies that ended because the client went away
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

            def _event(self, record: StreamRecord, data: str) -> None:
                payload = f"data: {data}\n\n".encode()
                self.wfile.write(f"{len(payload):x}\r\n".encode() + payload + b"\r\n")
                self.wfile.flush()
                record.sent += 1

            def _stream(self, body: dict[str, Any], action: Action) -> None:
                record = StreamRecord(body)
                stub.streams.append(record)
                chunks = (
                    action.body
                    if action.kind == "ok" and action.body
                    else stream_chunks(body, stub.stream_text(body) if stub.stream_text else None)
                )
                fault_at = action.after + (1 if "messages" in body else 0)  # the role chunk comes first
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "text/event-stream")
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    for i, chunk in enumerate(chunks):
                        if action.kind in ("stream-drop", "stream-error") and i == fault_at:
                            if action.kind == "stream-error":
                                self._event(record, json.dumps({"error": {"message": "scripted failure mid-stream"}}))
                                break
                            record.outcome = "dropped"
                            self.connection.shutdown(socket.SHUT_RDWR)
                            return
                        if i and stub.chunk_delay:
                            time.sleep(stub.chunk_delay)
                        self._event(record, json.dumps(chunk))
                    else:
                        self._event(record, "[DONE]")
                    self.wfile.write(b"0\r\n\r\n")
                    self.wfile.flush()
                    record.outcome = "completed"
                except OSError:  # BrokenPipeError, ConnectionResetError: the client went away
                    record.outcome = "closed"
                    self.close_connection = True
                finally:
                    record.ended_at = time.monotonic()
                    record.ended.set()

            def _hostile(self, body: dict[str, Any], action: Action) -> None:
                """The hostile actions: replies that trickle or never end (see the module docstring)."""
                self.send_response(200)
                self.send_header(
                    "Content-Type", "application/json" if action.kind == "endless" else "text/event-stream"
                )
                pieces: Iterator[bytes]
                if action.kind == "trickle":  # a byte at a time, with a Content-Length
                    if body.get("stream"):
                        frames = [f"data: {json.dumps(c)}\n\n" for c in stream_chunks(body)] + ["data: [DONE]\n\n"]
                        payload = "".join(frames).encode()
                    else:
                        payload = json.dumps(action.body or completion_body(body)).encode()
                    self.send_header("Content-Length", str(len(payload)))
                    pieces = (payload[i : i + 1] for i in range(len(payload)))
                else:  # chunked, without end
                    self.send_header("Transfer-Encoding", "chunked")
                    event = f"data: {json.dumps(stream_chunks(body, 'word ' * 100)[1])}\n\n".encode()
                    first, block = {
                        "endless": (b'{"choices": ', b" " * 65536),
                        "endless-events": (b"", event * 64),
                        "endless-line": (b"data: ", b"x" * 65536),
                    }[action.kind]
                    frames = itertools.chain([first], itertools.repeat(block))
                    pieces = (f"{len(f):x}\r\n".encode() + f + b"\r\n" for f in frames if f)
                self.end_headers()
                began = time.monotonic()
                try:
                    for piece in pieces:
                        self.wfile.write(piece)
                        self.wfile.flush()
                        if action.kind == "trickle":
                            time.sleep(action.seconds)
                        if time.monotonic() - began > ENDLESS_LIMIT:
                            break
                except OSError:  # the client went away
                    stub.unfinished.append(action.kind)
                self.close_connection = True

            def do_GET(self) -> None:
                if self.path == "/props":
                    stub.props_requests += 1
                    if stub.props is None:
                        self._send(404, json.dumps({"error": {"message": "File Not Found"}}).encode())
                    else:
                        self._send(200, json.dumps(stub.props).encode())
                    return
                stub.requests.append((time.monotonic(), self.path, {}, dict(self.headers)))
                models = stub.models
                if models is None:
                    models = {
                        "object": "list",
                        "data": [{"id": stub.model, "object": "model", "owned_by": stub.owned_by}],
                    }
                self._send(200, json.dumps(models).encode())

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                stub.requests.append((time.monotonic(), self.path, body, dict(self.headers)))
                if stub.delay:
                    time.sleep(stub.delay)
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
                if action.kind in ("trickle", "endless", "endless-events", "endless-line"):
                    self._hostile(body, action)
                    return
                if action.kind == "echo-auth":
                    echoed = f"invalid request with Authorization: {self.headers.get('Authorization')}"
                    self._send(action.status, json.dumps({"error": {"message": echoed}}).encode())
                    return
                if action.kind == "garbage":
                    self._send(200, b"<html>not json</html>")
                    return
                if action.kind == "status":
                    payload = json.dumps(action.body or {"error": {"message": f"scripted {action.status}"}}).encode()
                    self._send(action.status, payload, action.headers)
                    return
                if body.get("stream") and not isinstance(action.body, dict):  # a dict: a server that ignores stream
                    self._stream(body, action)
                    return
                self._send(200, json.dumps(action.body or completion_body(body)).encode())

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._server.block_on_close = False  # a hung handler must not hold up the test
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> StubServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def posts(self) -> list[tuple[float, str, dict[str, Any], dict[str, str]]]:
        return [r for r in self.requests if r[1] != "/v1/models"]

    def stream_of(self, seed: int, timeout: float = 5.0) -> StreamRecord:
        """The (last) stream whose request had ``seed``, once it has ended."""
        record = [r for r in self.streams if r.seed == seed][-1]
        assert record.ended.wait(timeout), f"the stream of seed {seed} is still running"
        return record
