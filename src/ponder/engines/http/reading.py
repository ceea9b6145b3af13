"""Reading a response body within limits, before a deadline: the whole body up to a size cap
(:func:`read_capped`), the start of an error reply (:func:`read_start`), or the lines of a
stream (:func:`read_lines`: each at most ``max_line`` bytes, ``max_total`` in all) and the JSON
data of its server-sent events (:func:`sse_data`). A reply over a cap is an
:class:`~ponder.core.errors.UpstreamError` naming the cap; a read past the deadline raises
``TimeoutError`` (the caller turns it into its typed error).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx

from ponder.core.errors import UpstreamError
from ponder.engines.http.redact import Redactor

MiB = 2**20
DEFAULT_MAX_RESPONSE_BYTES = 64 * MiB  # one response, or one stream in all
DEFAULT_MAX_EVENT_BYTES = 8 * MiB  # one line or event of a stream
ERROR_BODY_BYTES = 64 * 1024  # how much of an error reply is read (only its start is shown)
_NEWLINE = re.compile(rb"\r\n|\r|\n")


def size_text(size: int) -> str:
    """``67108864`` -> ``64 MiB``; ``1500`` -> ``1500 bytes``."""
    for unit, scale in (("MiB", MiB), ("KiB", 1024)):
        if size >= scale and size % scale == 0:
            return f"{size // scale} {unit}"
    return f"{size} bytes"


def too_large(where: str, limit: int, declared: int | None = None) -> UpstreamError:
    sent = "sent more" if declared is None else f"declares {declared} bytes, more"
    return UpstreamError(f"{where} {sent} than the {size_text(limit)} a response may have")


async def read_capped(response: httpx.Response, limit: int, where: str) -> bytes:
    """The whole body, or an :class:`UpstreamError` once it passes ``limit`` bytes (at once if
    its ``Content-Length`` says it will)."""
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large(where, limit, int(declared))
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) > limit:
            raise too_large(where, limit)
    return bytes(body)


async def read_start(response: httpx.Response, limit: int) -> bytes:
    """The first ``limit`` bytes of the body (the rest is left unread)."""
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) >= limit:
            break
    return bytes(body[:limit])


async def read_lines(
    response: httpx.Response, deadline: float, max_total: int, max_line: int, where: str
) -> AsyncIterator[str]:
    """The body's lines (UTF-8; CRLF, CR or LF end one), each read before ``deadline`` (a
    ``time.monotonic()`` value; else ``TimeoutError``), at most ``max_line`` bytes long and
    ``max_total`` in all (else :class:`UpstreamError`)."""
    chunks = response.aiter_bytes()
    pending = bytearray()
    total = 0
    while True:
        async with asyncio.timeout(max(deadline - time.monotonic(), 0.0)):
            chunk = await anext(chunks, None)
        if chunk is None:
            break
        total += len(chunk)
        if total > max_total:
            raise too_large(where, max_total)
        pending += chunk
        start = 0
        for match in _NEWLINE.finditer(pending):
            if match.group() == b"\r" and match.end() == len(pending):
                break  # a CR at the end may be the start of a CRLF: wait for the next byte
            yield pending[start : match.start()].decode("utf-8", errors="replace")
            start = match.end()
        del pending[:start]
        if len(pending) > max_line:
            raise UpstreamError(f"{where} sent a line longer than the {size_text(max_line)} an event may have")
    if pending:
        yield pending.rstrip(b"\r").decode("utf-8", errors="replace")


async def sse_data(
    lines: AsyncIterator[str],
    where: str,
    max_event: int = DEFAULT_MAX_EVENT_BYTES,
    redactor: Redactor | None = None,
) -> AsyncIterator[Any]:
    """The JSON data of each server-sent event, until ``data: [DONE]`` or the end of ``lines``.
    An event whose data is an ``{"error": ...}`` object, or an ``error:`` field (llama-server),
    raises :class:`UpstreamError`; comments (``: ping``) and other fields are skipped. An event
    of more than ``max_event`` characters is an :class:`UpstreamError`."""
    shown = redactor or Redactor(None)
    pending: list[str] = []
    size = 0

    def decode(data: str) -> Any:
        try:
            value = json.loads(data)
        except json.JSONDecodeError:
            raise UpstreamError(f"{where} sent an event that is not JSON: {shown.text(data)[:120]!r}") from None
        if isinstance(value, dict) and "error" in value and not value.get("choices"):
            detail = value["error"]
            if isinstance(detail, dict):
                detail = detail.get("message", detail)
            raise UpstreamError(f"{where} sent an error mid-stream: {shown.text(str(detail))[:300]}")
        return value

    async for line in lines:
        line = line.rstrip("\r\n")
        if not line:  # an event ends at a blank line
            if pending:
                data, pending, size = "\n".join(pending), [], 0
                if data.strip() == "[DONE]":
                    return
                yield decode(data)
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "data":
            pending.append(value)
            size += len(value) + 1
            if size > max_event:
                raise UpstreamError(f"{where} sent an event longer than the {size_text(max_event)} an event may have")
        elif name == "error":
            raise UpstreamError(f"{where} sent an error mid-stream: {shown.text(value)[:300]}")
    if pending:
        data = "\n".join(pending)
        if data.strip() != "[DONE]":
            yield decode(data)
