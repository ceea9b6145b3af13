"""Interrupting a server's runs: run ids, ``POST /v1/ponder/runs/{id}/interrupt`` and ``/update``.

Every chat completion is a run with an id: the completion's own ``id`` (``chatcmpl-...``, 24
random hex digits), sent in the :data:`RUN_ID_HEADER` response header and, for a stream, in its
first chunk (sent at once). While the run goes:

- ``POST /v1/ponder/runs/{id}/interrupt`` with ``{"mode": "hard"}`` makes every live sample of
  each of its choices answer now from its partial reasoning, ``{"mode": "soft"}`` tells them to
  conclude soon (:mod:`ponder.strategies.runner`);
- ``POST /v1/ponder/runs/{id}/update`` with ``{"text": "..."}`` gives them new information.

Both need the API key like every other endpoint (the server's guard checks it), answer 404 for an
unknown or finished run and 400 for a bad body or text that is not valid Unicode; an interrupted
run's answer then goes out as usual (the stream's answer chunks, or the response). A signal
sent before the run's first step waits for it. Signals reach only the run named: other runs on
the server go on untouched.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any, Literal

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict

from ponder.core.errors import InvalidInputError
from ponder.core.text import check_text
from ponder.serve.errors import HTTPProblem
from ponder.strategies import StrategyRun

RUN_ID_HEADER = "X-Ponder-Run-Id"
Action = Callable[[StrategyRun], None]


class InterruptBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    mode: Literal["hard", "soft"]


class UpdateBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str


class JobRuns:
    """The runs of one request, once they exist: signals sent before wait for them; every signal
    is applied on the runs' event loop."""

    def __init__(self, registry: LiveRuns, run_id: str) -> None:
        self.registry, self.run_id = registry, run_id
        self._lock = threading.Lock()
        self._runs: list[StrategyRun] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiting: list[Action] = []

    def attach(self, runs: list[StrategyRun]) -> None:
        """The request's runs have started (call on their event loop): apply what waited."""
        with self._lock:
            self._runs, self._loop = list(runs), asyncio.get_running_loop()
            waiting, self._waiting = self._waiting, []
        for action in waiting:
            self._apply(action)

    def send(self, action: Action) -> None:
        """Apply ``action`` to every run of the request, on their loop (or when they start)."""
        with self._lock:
            loop = self._loop
            if loop is None:
                self._waiting.append(action)
                return
        loop.call_soon_threadsafe(self._apply, action)

    def _apply(self, action: Action) -> None:
        for run in self._runs or ():
            action(run)

    def end(self) -> None:
        """The request's runs have ended: the id is unknown from now on."""
        self.registry.close(self.run_id)


class LiveRuns:
    """The requests whose runs are going, by run id (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[str, JobRuns] = {}

    def open(self, run_id: str) -> JobRuns:
        with self._lock:
            job = self._jobs[run_id] = JobRuns(self, run_id)
            return job

    def close(self, run_id: str) -> None:
        with self._lock:
            self._jobs.pop(run_id, None)

    def get(self, run_id: str) -> JobRuns:
        with self._lock:
            found = self._jobs.get(run_id)
        if found is None:
            raise HTTPProblem(404, f"no running run {run_id!r} (unknown, or already finished)", "not_found_error")
        return found

    def __len__(self) -> int:
        with self._lock:
            return len(self._jobs)


def add_run_routes(app: FastAPI, live: LiveRuns) -> None:
    """The interrupt and update endpoints (see the module docstring) on ``app``."""

    @app.post("/v1/ponder/runs/{run_id}/interrupt")
    async def interrupt(run_id: str, body: InterruptBody) -> dict[str, Any]:
        job = live.get(run_id)
        mode = body.mode
        job.send(lambda run: run.interrupt(mode))
        return {"id": run_id, "object": "ponder.run.interrupt", "mode": mode}

    @app.post("/v1/ponder/runs/{run_id}/update")
    async def update(run_id: str, body: UpdateBody) -> dict[str, Any]:
        try:
            check_text(body.text, "text")
            if not body.text.strip():
                raise InvalidInputError("text: the update is empty")
        except InvalidInputError as exc:
            raise HTTPProblem(400, str(exc), "invalid_request_error") from None
        job = live.get(run_id)
        text = body.text
        job.send(lambda run: run.update(text))
        return {"id": run_id, "object": "ponder.run.update"}
