"""Server-sent events in OpenAI's chunk format.

While the runs step (on the run loop, :mod:`ponder.serve.runs`), each choice's leading sample goes
out as it is generated in ``delta.reasoning_content`` chunks (the field reasoning-model clients
show as the model's thinking; :mod:`ponder.serve.reasoning`), and progress as SSE comment lines
(``: ponder {...}`` after each step), which every SSE client, the official OpenAI ones included,
skips. When nothing was sent for ``keep_alive`` seconds (a long step: a slow prefill, a judge), a
``: keep-alive`` comment keeps proxies and clients from timing the connection out. Then each
choice's answer text in ``delta.content``, its finish reason, the usage chunk when
``stream_options.include_usage`` asks for it, and ``data: [DONE]``. A failure after the stream
began (a ponder error, the request deadline, or an unexpected exception, which is logged) is sent
as an ``error`` event followed by ``data: [DONE]``: a stream never just stops.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from typing import Any

from ponder.core.errors import PonderError
from ponder.core.result import SolveResult
from ponder.serve.chunks import DONE, KEEP_ALIVE, chunk_line, data_line, delta_line
from ponder.serve.completion import Job, chosen, usage_body
from ponder.serve.errors import HTTPProblem, from_ponder_error, internal_error, run_timeout
from ponder.serve.logs import log_event, log_failure
from ponder.serve.runs import RunTimeout


def _answer_chunks(job: Job, results: list[SolveResult], include_usage: bool) -> list[str]:
    chunks = []
    for index, result in enumerate(results):
        pick = chosen(result)
        chunks.append(delta_line(job, index, content=pick.text if pick else ""))
        chunks.append(
            chunk_line(job, [{"index": index, "delta": {}, "finish_reason": pick.finish_reason if pick else "stop"}])
        )
    if include_usage:
        chunks.append(chunk_line(job, [], usage=usage_body(results)))
    return chunks


async def _progress(
    future: concurrent.futures.Future[list[SolveResult]],
    progress: asyncio.Queue[str],
    deadline: float,
    keep_alive: float,
) -> AsyncGenerator[str, None]:
    """The progress lines until the runs end (``future`` is then done), with a keep-alive comment
    after each ``keep_alive`` seconds without one; past ``deadline`` the runs are cancelled and
    :class:`RunTimeout` raised. A client that leaves closes this generator, which cancels the runs."""
    waiting = asyncio.wrap_future(future)
    loop = asyncio.get_running_loop()
    getter: asyncio.Future[str] | None = None
    last = loop.time()  # when a line was last sent
    try:
        while not waiting.done():
            now = loop.time()
            left = deadline - now
            if left <= 0:
                raise RunTimeout
            if now - last >= keep_alive:
                last = now
                yield KEEP_ALIVE
                continue
            getter = asyncio.ensure_future(progress.get())
            either: set[asyncio.Future[Any]] = {getter, waiting}
            await asyncio.wait(either, timeout=min(left, last + keep_alive - now), return_when=asyncio.FIRST_COMPLETED)
            if getter.done():
                last = loop.time()
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
    keep_alive: float = 15.0,
) -> AsyncIterator[str]:
    """The SSE lines of ``job``, whose runs ``future`` holds (their progress arrives on ``progress``)."""
    yield chunk_line(
        job,
        [
            {"index": i, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}
            for i in range(len(job.plans))
        ],
    )
    problem: HTTPProblem
    try:
        async with aclosing(_progress(future, progress, deadline, keep_alive)) as lines:
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
    yield data_line({"error": {"message": problem.message, "type": problem.kind, "param": None, "code": problem.code}})
    yield DONE
