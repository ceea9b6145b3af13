"""Shared pieces of the PRMs served over HTTP: the transport, the API key, usage counting, batching.

Requests go through :class:`ponder.engines.http.transport.Transport`, so a PRM server gets the
same concurrency limit, timeouts and retries (429, 5xx, timeouts, dropped connections; backoff
with seeded jitter) and the same typed errors as the OpenAI-compatible engine.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import httpx

from ponder.core.errors import InvalidInputError
from ponder.core.usage import Usage
from ponder.engines.http.transport import RetryPolicy, Transport

API_KEY_VARIABLE = "PONDER_PRM_API_KEY"


def split_url(url: str) -> tuple[str, str]:
    """(root, path) of an http(s) URL, e.g. ``http://h:8000/v1/prm`` -> (``http://h:8000``, ``/v1/prm``)."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise InvalidInputError(f"not a valid PRM server URL: {url!r} ({exc})") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise InvalidInputError(f"a PRM server URL must start with http:// or https:// and name a host, got {url!r}")
    root = f"{parsed.scheme}://{parsed.netloc.decode()}"
    return root, parsed.raw_path.decode() or "/"


def make_transport(
    root: str, *, api_key: str | None, timeout: float, concurrency: int, retry: RetryPolicy
) -> Transport:
    """A transport to ``root``; the key defaults to ``$PONDER_PRM_API_KEY``."""
    if concurrency < 1:
        raise InvalidInputError(f"concurrency must be >= 1, got {concurrency}")
    if not timeout > 0:
        raise InvalidInputError(f"timeout must be > 0, got {timeout}")
    key = api_key or os.environ.get(API_KEY_VARIABLE) or None
    return Transport(root, api_key=key, timeout=timeout, concurrency=concurrency, retry=retry)


def response_usage(body: Any) -> Usage:
    """One scorer call and the tokens a response's ``usage`` reports (0 when it reports none)."""
    tokens = 0
    usage = body.get("usage") if isinstance(body, dict) else None
    if isinstance(usage, dict):
        value = usage.get("total_tokens", usage.get("prompt_tokens", 0))
        tokens = value if isinstance(value, int) and not isinstance(value, bool) else 0
    return Usage(scorer_calls=1, scorer_tokens=tokens)


BatchPost = Callable[[str, Sequence[Sequence[str]]], Awaitable[list[list[float]]]]
"""(question, partials) -> the step scores of each partial: one request to a PRM server."""


async def score_in_batches(
    post: BatchPost, question: str, steps: Sequence[Sequence[str]], size: int
) -> list[list[float]]:
    """The step scores of every partial, ``size`` partials a request, the requests sent
    concurrently; an empty partial gets ``[]`` without a request."""
    live = [i for i, partial in enumerate(steps) if partial]
    chunks = [live[at : at + size] for at in range(0, len(live), size)]
    answers = await asyncio.gather(*(post(question, [steps[i] for i in chunk]) for chunk in chunks))
    scores: list[list[float]] = [[] for _ in steps]
    for chunk, rows in zip(chunks, answers, strict=True):
        for i, row in zip(chunk, rows, strict=True):
            scores[i] = row
    return scores
