"""Server-sent events in OpenAI's chunk format.

While the runs step, progress goes out as SSE comment lines (``: ponder {...}``), which every
SSE client, the official OpenAI ones included, skips; then each choice's answer text, its
finish reason, the usage chunk when ``stream_options.include_usage`` asks for it, and
``data: [DONE]``. A failure after the stream began is sent as an ``error`` event.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from ponder.core.errors import PonderError
from ponder.core.result import SolveResult
from ponder.engines.base import Engine
from ponder.serve.completion import Job, chosen, usage_body
from ponder.serve.errors import from_ponder_error
from ponder.strategies import StrategyRun


def _data(payload: dict[str, Any]) -> str:
    return f"data: {json.dumps(payload)}\n\n"


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


async def _drive(index: int, run: StrategyRun, progress: asyncio.Queue[str]) -> SolveResult:
    try:
        while await run.step():
            step = run.trace[-1]
            note = {"choice": index, "step": step["step"], "action": step.get("action"), "votes": step.get("votes")}
            await progress.put(f": ponder {json.dumps(note)}\n\n")
        return run.result()
    finally:
        await run.close()


async def stream_job(job: Job, engine: Engine, include_usage: bool) -> AsyncIterator[str]:
    yield _chunk(
        job,
        [
            {"index": i, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}
            for i in range(len(job.plans))
        ],
    )
    progress: asyncio.Queue[str] = asyncio.Queue()
    tasks = [asyncio.ensure_future(_drive(i, p.start(engine), progress)) for i, p in enumerate(job.plans)]
    runs = asyncio.gather(*tasks)
    getter: asyncio.Future[str] | None = None
    try:
        while not runs.done():
            getter = asyncio.ensure_future(progress.get())
            either: set[asyncio.Future[Any]] = {getter, runs}
            await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
            if getter.done():
                yield getter.result()
            else:
                getter.cancel()
    finally:
        if not runs.done():  # the client left (the stream was closed or cancelled): stop the runs
            runs.cancel()
            runs.add_done_callback(lambda done: done.cancelled() or done.exception())  # nobody awaits it now
            if getter is not None:
                getter.cancel()
    while not progress.empty():
        yield progress.get_nowait()
    try:
        results: list[SolveResult] = runs.result()
    except PonderError as exc:
        for task in tasks:  # gather does not stop the other runs when one fails
            task.cancel()
        problem = from_ponder_error(exc)
        yield _data({"error": {"message": problem.message, "type": problem.kind, "code": problem.code}})
        yield "data: [DONE]\n\n"
        return
    for index, result in enumerate(results):
        pick = chosen(result)
        yield _chunk(job, [{"index": index, "delta": {"content": pick.text if pick else ""}, "finish_reason": None}])
        yield _chunk(job, [{"index": index, "delta": {}, "finish_reason": pick.finish_reason if pick else "stop"}])
    if include_usage:
        yield _chunk(job, [], usage=usage_body(results))
    yield "data: [DONE]\n\n"
