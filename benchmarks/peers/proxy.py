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
  ``seed + i`` for the i-th one.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, fields
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding", "host",
               "proxy-connection", "te", "trailer", "upgrade", "server", "date"}


@dataclass
class Tally:
    """What went through the proxy: client requests, upstream requests, summed usage, failures."""

    requests: int = 0
    upstream_requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    errors: int = 0

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

    def to_dict(self) -> dict[str, bool]:
        """The switches as a JSON-ready dict."""
        return {"max_completion_tokens_to_max_tokens": self.max_tokens_field, "expand_n": self.expand_n}


def rewrite_body(body: dict[str, Any], adjust: Adjustments) -> dict[str, Any]:
    """The request body to send upstream (before any ``n`` split)."""
    out = dict(body)
    if adjust.max_tokens_field and "max_completion_tokens" in out:
        value = out.pop("max_completion_tokens")
        if value is not None and out.get("max_tokens") is None:
            out["max_tokens"] = value
    return out


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
                status, payload, content_type = proxy.forward(self.command, self.path, raw, headers)
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
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

    def _post_json(self, method: str, path: str, body: dict[str, Any],
                   headers: dict[str, str]) -> tuple[int, bytes, str]:
        response = self._send(method, path, json.dumps(body).encode(), headers)
        try:
            parsed = response.json()
        except ValueError:
            parsed = None
        self._count(upstream=1, body=parsed, error=response.status_code >= 400)
        return response.status_code, response.content, response.headers.get("content-type", "application/json")

    def _post_split(self, method: str, path: str, body: dict[str, Any], headers: dict[str, str],
                    n: int) -> tuple[int, bytes, str]:
        parts: list[dict[str, Any]] = []
        for i in range(n):
            one = {**body, "n": 1}
            if body.get("seed") is not None:
                one["seed"] = int(body["seed"]) + i
            status, payload, content_type = self._post_json(method, path, one, headers)
            if status >= 400:
                return status, payload, content_type
            parts.append(json.loads(payload))
        return 200, json.dumps(merge_responses(parts)).encode(), "application/json"
