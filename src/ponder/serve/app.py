"""The OpenAI-compatible HTTP server: ``GET /v1/models``, ``POST /v1/chat/completions``, ``GET /health``.

Security model: with an API key set, every endpoint but ``/health`` needs
``Authorization: Bearer KEY`` (compared in constant time) and answers 401 without it. Bodies
over ``max_body_bytes`` get 413; requests over the budget, ``n`` or token limits, or holding
text that is not valid Unicode, get 400; more than ``max_concurrent`` runs at once get 429 with
``Retry-After``. Requests share the engine but nothing else: each has its own plan, run and seeds,
and no request changes the server's settings. Runs execute on a worker thread's event loop
(:mod:`ponder.serve.runs`), never the server's, which keeps answering while they compute and
enforces the request deadline: a run still going past it is cancelled (504). A client that hangs
up stops its run. Unexpected failures are logged and answered in the API's error shape (a 500, or
an ``error`` event ending a stream). Logs are JSON lines without prompts, answers or keys.
Connection-level limits (slow clients, too many connections) are in :mod:`ponder.serve.connections`.
Every completion is a run with an id (the ``X-Ponder-Run-Id`` header), which
``POST /v1/ponder/runs/{id}/interrupt`` and ``/update`` reach while it goes (:mod:`ponder.serve.interrupts`).
With the operator's concept memory (``ServeConfig.memory``), every run reads it first and, under
``memory_write="confident"``, writes to it after; a request cannot name, change or skip it.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from importlib.metadata import version
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ponder.core.errors import PonderError
from ponder.engines.base import Engine
from ponder.memory import Memory
from ponder.memory.memory import Selection, WritePolicy
from ponder.serve.aliases import listed_models
from ponder.serve.completion import build_job, response_body
from ponder.serve.config import ServeConfig
from ponder.serve.errors import HTTPProblem, SafeJSONResponse, from_ponder_error, run_timeout
from ponder.serve.interrupts import RUN_ID_HEADER, LiveRuns, add_run_routes
from ponder.serve.logs import log_event
from ponder.serve.middleware import BodyLimit, BodyTooLarge, Guard, RunSlots
from ponder.serve.runs import ClientGone, RunLoop, RunTimeout, notifier, run_job, wait_for_run
from ponder.serve.schemas import ChatRequest
from ponder.serve.streaming import stream_job


def _validation_message(exc: RequestValidationError) -> str:
    first = exc.errors()[0] if exc.errors() else {}
    where = ".".join(str(part) for part in first.get("loc", ()) if part != "body") or "body"
    return f"{where}: {first.get('msg', 'invalid value')}"


def open_memory(config: ServeConfig) -> Memory | None:
    """The operator's concept memory (``config.memory``) opened with its policy, or ``None``."""
    if config.memory is None:
        return None
    write: WritePolicy = "confident" if config.memory_write == "confident" else "never"
    selection: Selection = "model" if config.memory_selection == "model" else "lexical"
    return Memory(config.memory, write=write, selection=selection)


def create_app(engine: Engine, config: ServeConfig = ServeConfig()) -> FastAPI:
    """An app serving ``engine`` with ``config``'s limits; run it with uvicorn (``ponder serve``,
    with :func:`ponder.serve.connections.uvicorn_config`). ``app.state.runs`` is the
    :class:`~ponder.serve.runs.RunLoop` its runs execute on: close it (with the engine's
    ``aclose()``) when the server stops; it is stopped anyway when the app is collected.
    ``app.state.memory`` is the operator's concept memory (``None`` without one), opened here and
    closed when the app is collected (close it with the engine)."""
    app = FastAPI(
        title="ponder", description="Inference-time scaling behind the OpenAI API.", version=version("ponder")
    )
    slots = RunSlots(config.max_concurrent)
    runs = RunLoop()
    app.state.runs = runs
    live = app.state.live = LiveRuns()  # runs going, by id: for their interrupts and updates
    weakref.finalize(app, runs.stop_soon)
    memory = app.state.memory = open_memory(config)
    if memory is not None:
        weakref.finalize(app, memory.close)
    # Inside `guard` (added later, so it wraps this): FastAPI must see BodyTooLarge itself, not
    # wrapped in the exception group of `guard`'s receive.
    app.add_middleware(BodyLimit, limit=config.max_body_bytes)

    app.add_middleware(Guard, config=config)  # added last, so outermost: BodyLimit runs inside it

    @app.exception_handler(BodyTooLarge)
    async def too_large(request: Request, exc: BodyTooLarge) -> JSONResponse:
        return HTTPProblem(413, str(exc.detail), "invalid_request_error").response()

    @app.exception_handler(RequestValidationError)
    async def invalid_body(request: Request, exc: RequestValidationError) -> JSONResponse:
        return HTTPProblem(400, _validation_message(exc), "invalid_request_error").response()

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind = "not_found_error" if exc.status_code == 404 else "invalid_request_error"
        return HTTPProblem(exc.status_code, str(exc.detail), kind, headers=dict(exc.headers or {})).response()

    @app.exception_handler(HTTPProblem)
    async def problem(request: Request, exc: HTTPProblem) -> JSONResponse:
        return exc.response()

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "engine": engine.info.name, "model": engine.info.model}

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        created = int(time.time())
        return {
            "object": "list",
            "data": [
                {"id": name, "object": "model", "created": created, "owned_by": "ponder"}
                for name in listed_models(config.model_name)
            ],
        }

    @app.post("/v1/chat/completions", response_model=None)
    async def chat_completions(body: ChatRequest, request: Request) -> JSONResponse | StreamingResponse:
        try:
            job = build_job(body, config)  # every check, before a run starts or a stream begins
        except PonderError as exc:
            raise from_ponder_error(exc) from None
        slots.take()
        log_event(
            "run",
            id=job.id,
            model=job.model,
            strategy=job.plans[0].algorithm.name,
            budget=job.plans[0].budget.generations,
            n=len(job.plans),
            stream=body.stream,
        )
        deadline = asyncio.get_running_loop().time() + config.request_timeout + config.timeout_grace
        progress: asyncio.Queue[str] = asyncio.Queue()
        holder = live.open(job.id)
        try:
            future = runs.submit(
                run_job(job, engine, notifier(progress) if body.stream else None, holder, memory), slots.give
            )
        except BaseException:
            holder.end()
            slots.give()
            raise
        if body.stream:
            include_usage = bool(body.stream_options and body.stream_options.include_usage)
            return StreamingResponse(
                stream_job(job, future, progress, include_usage, deadline, config.request_timeout, config.keep_alive),
                media_type="text/event-stream",
                headers={RUN_ID_HEADER: job.id},
            )
        try:
            results = await wait_for_run(future, deadline, request.is_disconnected)
        except PonderError as exc:
            raise from_ponder_error(exc) from None
        except RunTimeout:
            log_event("timeout", id=job.id)
            raise run_timeout(config.request_timeout) from None
        except ClientGone:
            raise HTTPProblem(499, "the client closed the connection", "client_closed_request") from None
        payload = response_body(job, results)
        log_event("done", id=job.id, tokens=payload["usage"]["total_tokens"], stop=[r.stop_reason for r in results])
        return SafeJSONResponse(payload, headers={RUN_ID_HEADER: job.id})

    add_run_routes(app, live)
    return app
