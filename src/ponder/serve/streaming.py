"""Server-sent events in OpenAI's chunk format.

While the runs step (on the run loop, :mod:`ponder.serve.runs`), progress goes out as SSE comment
lines (``: ponder {...}``), which every SSE client, the official OpenAI ones included, skips;
then each choice's answer text, its finish reason, the usage chunk when
``stream_options.include_usage`` asks for it, and ``data: [DONE]``. A failure after the stream
began (a ponder error, the request deadline, or an unexpected exception, which is logged) is sent
as an ``error`` event followed by ``data: [DONE]``: a stream never just stops.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from typing import Any

from ponder.core.errors import PonderError
from ponder.core.result import SolveResult
from ponder.serve.completion import Job, chosen, usage_body
from ponder.serve.errors import HTTPProblem, from_ponder_error, internal_error, run_timeout
from ponder.serve.logs import log_event, log_failure
from ponder.serve.runs import RunTimeout

DONE = "data: [DONE]\n\n"


def _data(payload: dict[str, Any]) -> str:
    return f"data: {json.dumps(payload)}\n\n"  # ASCII-only JSON: any text can be sent


def _chunk(job: Job, choices: list[dict[str, Any]], **extra: Any) -> str:
    return _data(
        {
            "id": job.id,
            "object": "chat.completion.chunk",
            "created": job.created,
            "model": job.model,
            "choices": choices,
            **extra,
        }
    )


def _answer_chunks(job: Job, results: list[SolveResult], include_usage: bool) -> list[str]:
    chunks = []
    for index, result in enumerate(results):
        pick = chosen(result)
        chunks.append(
            _chunk(job, [{"index": index, "delta": {"content": pick.text if pick else ""}, "finish_reason": None}])
        )
        chunks.append(
            _chunk(job, [{"index": index, "delta": {}, "finish_reason": pick.finish_reason if pick else "stop"}])
        )
    if include_usage:
        chunks.append(_chunk(job, [], usage=usage_body(results)))
    return chunks


async def _progress(
    future: concurrent.futures.Future[list[SolveResult]], progress: asyncio.Queue[str], deadline: float
) -> AsyncGenerator[str, None]:
    """The progress lines until the runs end (``future`` is then done); past ``deadline`` the
    runs are cancelled and :class:`RunTimeout` raised. A client that leaves closes this
    generator, which cancels the runs."""
    waiting = asyncio.wrap_future(future)
    loop = asyncio.get_running_loop()
    getter: asyncio.Future[str] | None = None
    try:
        while not waiting.done():
            left = deadline - loop.time()
            if left <= 0:
                raise RunTimeout
            getter = asyncio.ensure_future(progress.get())
            either: set[asyncio.Future[Any]] = {getter, waiting}
            await asyncio.wait(either, timeout=left, return_when=asyncio.FIRST_COMPLETED)
            if getter.done():
                yield getter.result()
            else:
                getter.cancel()
    finally:
        if not future.done():  # timed out, or the client left (the stream was closed or cancelled)
            future.cancel()
        if getter is not None:
            getter.cancel()
    if not waiting.cancelled():
        waiting.exception()  # retrieved: stream_job reads the outcome from `future`
    while not progress.empty():
        yield progress.get_nowait()


async def stream_job(
    job: Job,
    future: concurrent.futures.Future[list[SolveResult]],
    progress: asyncio.Queue[str],
    include_usage: bool,
    deadline: float,
    timeout: float,
) -> AsyncIterator[str]:
    """The SSE lines of ``job``, whose runs ``future`` holds (their progress arrives on ``progress``)."""
    yield _chunk(
        job,
        [
            {"index": i, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}
            for i in range(len(job.plans))
        ],
    )
    problem: HTTPProblem
    try:
        async with aclosing(_progress(future, progress, deadline)) as lines:
            async for line in lines:
                yield line
        chunks = _answer_chunks(job, future.result(), include_usage)
    except PonderError as exc:
        problem = from_ponder_error(exc)
    except RunTimeout:
        log_event("timeout", id=job.id, stream=True)
        problem = run_timeout(timeout)
    except Exception as exc:  # never a silent cut: the client hears of it, the log has the details
        log_failure(exc, id=job.id, stream=True)
        problem = internal_error(exc)
    else:
        for chunk in chunks:
            yield chunk
        yield DONE
        return
    finally:
        future.cancel()  # no-op once the runs ended; else the client left: stop them
    yield _data({"error": {"message": problem.message, "type": problem.kind, "param": None, "code": problem.code}})
    yield DONE
