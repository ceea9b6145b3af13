"""The OpenAI-compatible HTTP server: ``GET /v1/models``, ``POST /v1/chat/completions``, ``GET /health``.

Security model: with an API key set, every endpoint but ``/health`` needs
``Authorization: Bearer KEY`` (compared in constant time) and answers 401 without it. Bodies
over ``max_body_bytes`` get 413; requests over the budget, ``n`` or token limits get 400;
more than ``max_concurrent`` runs at once get 429 with ``Retry-After``. Requests share the engine
but nothing else: each has its own plan, run and seeds, and no request changes the server's
settings. A client that hangs up stops its run. Logs are JSON lines without prompts, answers or keys.
"""

from __future__ import annotations

import asyncio
import hmac
import time
from collections.abc import Awaitable
from importlib.metadata import version
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ponder.core.errors import PonderError
from ponder.core.result import SolveResult
from ponder.engines.base import Engine
from ponder.serve.aliases import listed_models
from ponder.serve.completion import Job, build_job, response_body
from ponder.serve.config import ServeConfig
from ponder.serve.errors import HTTPProblem, from_ponder_error
from ponder.serve.logs import log_event
from ponder.serve.schemas import ChatRequest
from ponder.serve.streaming import stream_job

OPEN_PATHS = {"/health"}


class RunSlots:
    """At most ``limit`` runs at once; a request that finds none free is refused, not queued."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.active = 0

    def take(self) -> None:
        if self.active >= self.limit:
            raise HTTPProblem(
                429,
                f"the server is running {self.limit} requests; retry shortly",
                "rate_limit_error",
                "too_many_requests",
                headers={"Retry-After": "1"},
            )
        self.active += 1

    def give(self) -> None:
        self.active -= 1


class BodyTooLarge(StarletteHTTPException):
    """Raised while the body is read (FastAPI re-raises HTTP exceptions met reading a body)."""


class BodyLimit:
    """Counts body bytes as they arrive: a chunked body has no Content-Length to check up front."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise BodyTooLarge(413, f"request body over {self.limit} bytes")
            return message

        await self.app(scope, counted, send)


class Guard:
    """Authentication, the Content-Length limit and one log line per request, as plain ASGI (a
    Starlette ``BaseHTTPMiddleware`` would hide client disconnects from the endpoints)."""

    def __init__(self, app: ASGIApp, config: ServeConfig) -> None:
        self.app, self.config = app, config

    def _problem(self, scope: Scope) -> HTTPProblem | None:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        if self.config.api_key and scope["path"] not in OPEN_PATHS:
            given = headers.get("authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {self.config.api_key}".encode()):
                return HTTPProblem(
                    401,
                    "missing or wrong API key (Authorization: Bearer KEY)",
                    "authentication_error",
                    "invalid_api_key",
                )
        length = headers.get("content-length")
        if length is not None and (
            not length.isascii() or not length.isdigit() or int(length) > self.config.max_body_bytes
        ):
            return HTTPProblem(413, f"request body over {self.config.max_body_bytes} bytes", "invalid_request_error")
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), {"code": 500}

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        problem = self._problem(scope)
        try:
            if problem is not None:
                await problem.response()(scope, receive, sending)
            else:
                await self.app(scope, receive, sending)
        finally:
            log_event(
                "http",
                method=scope.get("method"),
                path=scope["path"],
                status=status["code"],
                seconds=round(time.perf_counter() - started, 4),
            )


def _validation_message(exc: RequestValidationError) -> str:
    first = exc.errors()[0] if exc.errors() else {}
    where = ".".join(str(part) for part in first.get("loc", ()) if part != "body") or "body"
    return f"{where}: {first.get('msg', 'invalid value')}"


def create_app(engine: Engine, config: ServeConfig = ServeConfig()) -> FastAPI:
    """An app serving ``engine`` with ``config``'s limits; run it with uvicorn (``ponder serve``)."""
    app = FastAPI(
        title="ponder", description="Inference-time scaling behind the OpenAI API.", version=version("ponder")
    )
    slots = RunSlots(config.max_concurrent)
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
            job = build_job(body, config)
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
        if body.stream:
            include_usage = bool(body.stream_options and body.stream_options.include_usage)
            return StreamingResponse(
                _released(stream_job(job, engine, include_usage), slots), media_type="text/event-stream"
            )
        try:
            results = await _unless_gone(run_all(job, engine), request)
        except PonderError as exc:
            raise from_ponder_error(exc) from None
        finally:
            slots.give()
        payload = response_body(job, list(results))
        log_event("done", id=job.id, tokens=payload["usage"]["total_tokens"], stop=[r.stop_reason for r in results])
        return JSONResponse(payload)

    return app


async def run_all(job: Job, engine: Engine) -> list[SolveResult]:
    """Every run of a job at once; the first failure cancels the others and is raised as it is."""
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(p.start(engine).run()) for p in job.plans]
    except BaseExceptionGroup as failed:
        raise failed.exceptions[0] from None
    return [task.result() for task in tasks]


async def _unless_gone(work: Awaitable[list[SolveResult]], request: Request, poll: float = 0.25) -> list[SolveResult]:
    """Await ``work``, cancelling it (and so its engine calls) if the client hangs up first."""
    task = asyncio.ensure_future(work)
    while not task.done():
        await asyncio.wait({task}, timeout=poll)
        if not task.done() and await request.is_disconnected():
            task.cancel()
            raise HTTPProblem(499, "the client closed the connection", "client_closed_request")
    return task.result()


async def _released(chunks: Any, slots: RunSlots) -> Any:
    """Stream ``chunks`` and free the run slot when the stream ends, however it ends."""
    try:
        async for chunk in chunks:
            yield chunk
    finally:
        slots.give()
