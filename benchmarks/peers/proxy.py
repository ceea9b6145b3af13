"""A counting reverse proxy: every benchmarked system talks to the model server through it.

It forwards each request to the upstream OpenAI-compatible server unchanged, except for two
documented adjustments that let peers run on servers that lack an OpenAI feature, and sums the
``usage`` of every upstream response. Because ponder, its_hub and optillm all go through the same
proxy, prompt and completion tokens (and upstream requests) are counted the same way for all of
them, including what their judges spend.

Adjustments (both recorded in the benchmark's settings):

- ``max_completion_tokens`` becomes ``max_tokens`` when the server reads only ``max_tokens``
  (llama-cpp-python ignores the former: its_hub would otherwise generate without a cap);
- a request with ``n > 1`` to a server that ignores ``n`` (llama-cpp-python always answers with one
  choice) is sent upstream as ``n`` one-choice requests whose choices and usage are merged (without
  this, optillm's best-of-n would score a single sample). A request's ``seed``, if any, becomes
  ``seed + i`` for the i-th one. They go one after another to a server that serves one request at
  a time, and all at once (``parallel_n``) to one that batches concurrent requests (llama-server:
  its own ``n`` needs ``n`` free slots at once and reports the usage of the first choice only).

Streamed requests (``"stream": true``, as ponder's DeepConf sends) are relayed event by event, so
a client that closes its stream early (DeepConf stopping a trace) closes the upstream one too and
the server stops generating. Their tokens come from the stream's usage chunk where the server
sends one; otherwise completion tokens are counted from the events (one per token logprob, else
one per event carrying text) and prompt tokens are unknown: ``streams_without_usage`` counts such
requests.
"""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

HOP_HEADERS = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "content-length",
    "content-encoding",
    "host",
    "proxy-connection",
    "te",
    "trailer",
    "upgrade",
    "server",
    "date",
}


@dataclass
class Tally:
    """What went through the proxy: client requests, upstream requests, summed usage, failures."""

    requests: int = 0
    upstream_requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    errors: int = 0
    streams: int = 0
    streams_without_usage: int = 0

    def minus(self, earlier: Tally) -> Tally:
        """The counts since ``earlier`` (a snapshot of the same proxy)."""
        return Tally(**{f.name: getattr(self, f.name) - getattr(earlier, f.name) for f in fields(self)})

    def to_dict(self) -> dict[str, int]:
        """The counts as a JSON-ready dict."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class Adjustments:
    """Which request rewrites the proxy applies (see the module docstring)."""

    max_tokens_field: bool = True  # rename max_completion_tokens to max_tokens
    expand_n: bool = True  # split n > 1 into n one-choice requests
    parallel_n: bool = False  # send those n requests at once (a server that batches them)

    def to_dict(self) -> dict[str, bool]:
        """The switches as a JSON-ready dict."""
        return {
            "max_completion_tokens_to_max_tokens": self.max_tokens_field,
            "expand_n": self.expand_n,
            "expand_n_in_parallel": self.parallel_n,
        }


def rewrite_body(body: dict[str, Any], adjust: Adjustments) -> dict[str, Any]:
    """The request body to send upstream (before any ``n`` split)."""
    out = dict(body)
    if adjust.max_tokens_field and "max_completion_tokens" in out:
        value = out.pop("max_completion_tokens")
        if value is not None and out.get("max_tokens") is None:
            out["max_tokens"] = value
    return out


def streamed_body(raw: bytes | None) -> dict[str, Any] | None:
    """The JSON body of a request that asks for a stream, else None."""
    try:
        body = json.loads(raw) if raw else None
    except ValueError:
        return None
    return body if isinstance(body, dict) and body.get("stream") else None


def merge_responses(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """One response from the responses to ``n`` one-choice requests: choices re-indexed, usage summed."""
    merged = dict(parts[0])
    choices: list[dict[str, Any]] = []
    usage = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
    for part in parts:
        for choice in part.get("choices") or []:
            choices.append({**choice, "index": len(choices)})
        got = part.get("usage") or {}
        for key in usage:
            usage[key] += int(got.get(key) or 0)
    merged["choices"] = choices
    merged["usage"] = usage
    return merged


def event_tokens(choice: dict[str, Any]) -> int:
    """Completion tokens one streamed choice carries: its token logprobs, else 1 if it has text."""
    logprobs = choice.get("logprobs")
    if isinstance(logprobs, dict):
        tokens = logprobs.get("content") if "content" in logprobs else logprobs.get("tokens")
        if isinstance(tokens, list):
            return len(tokens)
    delta = choice.get("delta")
    text = delta.get("content") if isinstance(delta, dict) else choice.get("text")
    return 1 if text else 0


@dataclass
class StreamCount:
    """Reads a relayed server-sent event stream, in whatever pieces it arrives, for its usage."""

    pending: bytes = b""
    tokens: int = 0
    usage: dict[str, Any] | None = None

    def feed(self, data: bytes) -> None:
        """Read the complete ``data:`` lines of one more piece of the stream."""
        *lines, self.pending = (self.pending + data).split(b"\n")
        for line in lines:
            line = line.strip()
            if not line.startswith(b"data:") or line[5:].strip() == b"[DONE]":
                continue
            try:
                event = json.loads(line[5:])
            except ValueError:
                continue
            if not isinstance(event, dict):
                continue
            if isinstance(event.get("usage"), dict):
                self.usage = event["usage"]
            self.tokens += sum(event_tokens(c) for c in event.get("choices") or () if isinstance(c, dict))

    def body(self) -> dict[str, Any]:
        """What to count: the server's usage, else the completion tokens read from the events."""
        return {"usage": self.usage or {"prompt_tokens": 0, "completion_tokens": self.tokens}}


class ProxyServer(ThreadingHTTPServer):
    """A thread per connection, and room for many connections at once: with the standard backlog
    of 5, a burst of new connections (4 problems x 8 samples) loses some SYNs, and each of those
    waits a second for its retry."""

    daemon_threads = True
    request_queue_size = 256


class CountingProxy:
    """Start with ``with CountingProxy(upstream) as proxy:``; clients use ``proxy.url``.

    ``upstream`` is the server root (``http://host:port``, a trailing ``/v1`` is fine).
    ``snapshot()`` returns the counts so far; subtract two snapshots to cost one run.
    """

    def __init__(self, upstream: str, adjust: Adjustments | None = None, timeout: float = 900.0) -> None:
        self.upstream = upstream.rstrip("/").removesuffix("/v1")
        self.adjust = adjust or Adjustments()
        self._tally = Tally()
        self._lock = threading.Lock()
        self._client = httpx.Client(timeout=timeout)
        self.upstream_server_header = ""
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stall

            def log_message(self, *args: Any) -> None:
                return None

            def version_string(self) -> str:  # report the upstream's Server header (profile detection)
                return proxy.upstream_server_header or super().version_string()

            def do_GET(self) -> None:
                self._relay(None)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                self._relay(self.rfile.read(length))

            def _relay(self, raw: bytes | None) -> None:
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_HEADERS}
                body = streamed_body(raw)
                if body is not None:
                    proxy.relay_stream(self, body, headers)
                    return
                self.send_whole(*proxy.forward(self.command, self.path, raw, headers))

            def send_whole(self, status: int, payload: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def send_piece(self, piece: bytes) -> None:
                """One piece of a chunked reply (an empty one ends it)."""
                self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                self.wfile.flush()

        self._server = ProxyServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> CountingProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop serving and drop the upstream connections."""
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()
        self._client.close()

    def snapshot(self) -> Tally:
        """A copy of the counts so far."""
        with self._lock:
            return Tally(**self._tally.to_dict())

    def _count(self, requests: int = 0, upstream: int = 0, body: Any = None, error: bool = False) -> None:
        usage = body.get("usage") if isinstance(body, dict) else None
        with self._lock:
            self._tally.requests += requests
            self._tally.upstream_requests += upstream
            self._tally.errors += int(error)
            if isinstance(usage, dict):
                self._tally.prompt_tokens += int(usage.get("prompt_tokens") or 0)
                self._tally.completion_tokens += int(usage.get("completion_tokens") or 0)

    def _send(self, method: str, path: str, content: bytes | None, headers: dict[str, str]) -> httpx.Response:
        response = self._client.request(method, self.upstream + path, content=content, headers=headers)
        self.upstream_server_header = response.headers.get("server", self.upstream_server_header)
        return response

    def forward(self, method: str, path: str, raw: bytes | None, headers: dict[str, str]) -> tuple[int, bytes, str]:
        """Send one client request upstream; (status, body, content type) for the client."""
        self._count(requests=1)
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        try:
            if not isinstance(body, dict):
                response = self._send(method, path, raw, headers)
                self._count(upstream=1, error=response.status_code >= 400)
                return response.status_code, response.content, response.headers.get("content-type", "application/json")
            body = rewrite_body(body, self.adjust)
            n = int(body.get("n") or 1)
            if not self.adjust.expand_n or n <= 1 or body.get("stream"):
                return self._post_json(method, path, body, headers)
            return self._post_split(method, path, body, headers, n)
        except httpx.HTTPError as exc:
            self._count(error=True)
            message = {"error": {"message": f"counting proxy: upstream unreachable: {exc}"}}
            return 502, json.dumps(message).encode(), "application/json"

    def relay_stream(self, handler: Any, body: dict[str, Any], headers: dict[str, str]) -> None:
        """Relay one streamed POST event by event to ``handler`` (the client's request handler);
        when the client goes away, close the upstream stream so the server stops generating."""
        self._count(requests=1)
        content = json.dumps(rewrite_body(body, self.adjust)).encode()
        count = StreamCount()
        relayed = False
        try:
            with self._client.stream(
                "POST", self.upstream + handler.path, content=content, headers=headers
            ) as response:
                self.upstream_server_header = response.headers.get("server", self.upstream_server_header)
                content_type = response.headers.get("content-type", "text/event-stream")
                if response.status_code >= 400 or "json" in content_type:  # an error, or a server ignoring stream
                    payload = response.read()
                    try:
                        parsed = json.loads(payload)
                    except ValueError:
                        parsed = None
                    self._count(upstream=1, body=parsed, error=response.status_code >= 400)
                    self._answer(handler, response.status_code, payload, content_type)
                    return
                relayed = True
                client_gone = False
                try:
                    handler.send_response(response.status_code)
                    handler.send_header("Content-Type", content_type)
                    handler.send_header("Transfer-Encoding", "chunked")
                    handler.end_headers()
                    for piece in response.iter_bytes():
                        count.feed(piece)
                        handler.send_piece(piece)
                except OSError:  # the client closed its stream: leaving `with` closes the upstream one
                    client_gone = handler.close_connection = True
                self._count_stream(count)  # before the upstream stream closes and before the client sees the end
                relayed = False
                if not client_gone:
                    self._answer(handler, None, b"", "")
        except httpx.HTTPError as exc:
            if relayed:  # the upstream stream broke off mid-way: so does the client's
                self._count_stream(count, error=True)
                handler.close_connection = True
            else:
                self._count(error=True)
                message = {"error": {"message": f"counting proxy: upstream unreachable: {exc}"}}
                self._answer(handler, 502, json.dumps(message).encode(), "application/json")

    @staticmethod
    def _answer(handler: Any, status: int | None, payload: bytes, content_type: str) -> None:
        """Send a whole reply (``status``) or end a chunked one (``status`` None); a client that
        has gone away gets nothing."""
        try:
            if status is None:
                handler.send_piece(b"")
            else:
                handler.send_whole(status, payload, content_type)
        except OSError:
            handler.close_connection = True

    def _count_stream(self, count: StreamCount, error: bool = False) -> None:
        self._count(upstream=1, body=count.body(), error=error)
        with self._lock:
            self._tally.streams += 1
            self._tally.streams_without_usage += int(count.usage is None)

    def _post_json(
        self, method: str, path: str, body: dict[str, Any], headers: dict[str, str]
    ) -> tuple[int, bytes, str]:
        response = self._send(method, path, json.dumps(body).encode(), headers)
        try:
            parsed = response.json()
        except ValueError:
            parsed = None
        self._count(upstream=1, body=parsed, error=response.status_code >= 400)
        return response.status_code, response.content, response.headers.get("content-type", "application/json")

    def _post_split(
        self, method: str, path: str, body: dict[str, Any], headers: dict[str, str], n: int
    ) -> tuple[int, bytes, str]:
        ones = []
        for i in range(n):
            one = {**body, "n": 1}
            if body.get("seed") is not None:
                one["seed"] = int(body["seed"]) + i
            ones.append(one)
        if self.adjust.parallel_n:
            with ThreadPoolExecutor(max_workers=n) as pool:
                answers = list(pool.map(lambda one: self._post_json(method, path, one, headers), ones))
        else:
            answers = []
            for one in ones:
                answers.append(self._post_json(method, path, one, headers))
                if answers[-1][0] >= 400:
                    break
        parts: list[dict[str, Any]] = []
        for status, payload, content_type in answers:
            if status >= 400:
                return status, payload, content_type
            parts.append(json.loads(payload))
        return 200, json.dumps(merge_responses(parts)).encode(), "application/json"
