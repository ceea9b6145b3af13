"""The work a Ray task carries and what it sends back, and the functions that run on the workers.

A :class:`ChunkJob` is one configuration and a chunk of its problems, with the engine to create
(its registered name and options: an endpoint of ``--base-url``, or an embedded model path the
worker can read). :func:`solve_chunk` runs on a worker: it creates the engine, solves the chunk
``workers`` problems at a time with the same code as the in-process runner
(:func:`ponder.bench.runner.solve_concurrently`, so a row is the row ``ponder bench`` would store),
closes the engine and returns the rows. It never writes the store: the driver does.

An engine that cannot serve (or cannot be created on that worker) does not raise out of the task:
the rows finished before it are returned with the error, so the driver stores them and then stops
the run. Nothing here imports Ray; these are plain functions the driver hands to ``ray.remote``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ponder.bench.runner import solve_concurrently
from ponder.bench.types import BenchRow, Config, Problem
from ponder.core.errors import InvalidInputError, PonderError
from ponder.engines.base import EngineCapabilities, EngineInfo
from ponder.engines.registry import create_engine

ENDPOINT_OPTION = "base_url"  # the engine option that --base-url sets; a comma-separated list spreads the chunks


@dataclass(frozen=True)
class ChunkJob:
    """One Ray task's work: ``problems`` under ``config`` on a new ``engine`` created with ``options``.

    ``references``: each problem's uninterrupted reasoning length, for a configuration with an
    interrupt (:func:`ponder.bench.runner.uninterrupted_lengths`); ``workers``: problems solved at
    once on the worker's engine."""

    config: Config
    problems: tuple[Problem, ...]
    engine: str
    options: Mapping[str, Any] = field(default_factory=dict)
    references: Mapping[str, float] | None = None
    workers: int = 1

    @property
    def name(self) -> str:
        """How Ray and error messages name the task: the configuration and its first and last problem."""
        first, last = self.problems[0].id, self.problems[-1].id
        return f"ponder bench {self.config.label} [{first}..{last}]"


@dataclass(frozen=True)
class ChunkResult:
    """What a task sends back: the rows it finished, and the error that stopped it (``None`` when
    every problem of the chunk has its row)."""

    rows: tuple[BenchRow, ...]
    error: PonderError | None = None


def split_endpoints(options: Mapping[str, Any]) -> list[str]:
    """The endpoints a comma-separated ``base_url`` lists (empty when the engine takes none)."""
    value = options.get(ENDPOINT_OPTION)
    if not isinstance(value, str) or not value.strip():
        return []
    endpoints = [part.strip() for part in value.split(",")]
    if not all(endpoints):
        raise InvalidInputError(f"--base-url {value!r} has an empty entry; give URLs separated by commas")
    return endpoints


def check_single_endpoint(options: Mapping[str, Any]) -> None:
    """Refuse a comma-separated ``base_url`` outside a Ray run (only Ray spreads chunks over endpoints)."""
    if len(split_endpoints(options)) > 1:
        raise InvalidInputError(
            "a comma-separated --base-url spreads problems over Ray workers: add --ray ADDRESS, or give one URL"
        )


def with_endpoint(options: Mapping[str, Any], endpoints: Sequence[str], number: int) -> dict[str, Any]:
    """``options`` for the ``number``-th task: the endpoints are taken in turn."""
    if not endpoints:
        return dict(options)
    return {**options, ENDPOINT_OPTION: endpoints[number % len(endpoints)]}


def chunked(problems: Sequence[Problem], size: int) -> list[tuple[Problem, ...]]:
    """``problems`` in order, in chunks of ``size`` (the last one shorter)."""
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise InvalidInputError(f"the Ray chunk size must be an integer >= 1 (problems per task), got {size!r}")
    return [tuple(problems[start : start + size]) for start in range(0, len(problems), size)]


def run_chunk(task: Callable[[ChunkJob], ChunkResult], job: ChunkJob) -> ChunkResult:
    """Run on a worker: ``task(job)`` (the function Ray is given, so that the task may be any
    callable, e.g. a ``functools.partial``; :func:`solve_chunk` unless a caller chose another)."""
    return task(job)


def solve_chunk(job: ChunkJob) -> ChunkResult:
    """Run on a worker: the rows of ``job``'s problems (see the module docstring)."""
    return asyncio.run(_solve_chunk(job))


async def _solve_chunk(job: ChunkJob) -> ChunkResult:
    rows: list[BenchRow] = []
    try:
        engine = create_engine(job.engine, **job.options)
    except PonderError as exc:  # e.g. the model path is not visible on this worker
        return ChunkResult((), exc)
    try:
        await solve_concurrently(
            engine, job.problems, job.config, workers=job.workers, on_row=rows.append, references=job.references
        )
    except PonderError as exc:  # the engine cannot serve: keep what finished, report why the rest did not
        return ChunkResult(tuple(rows), exc)
    finally:
        await engine.aclose()
    return ChunkResult(tuple(rows))


def describe_engine(name: str, options: Mapping[str, Any]) -> tuple[EngineInfo, EngineCapabilities]:
    """Run on a worker: the info and capabilities of the engine the chunks will create (it is
    created and closed; an embedded model is loaded once for this)."""
    return asyncio.run(_describe(name, options))


async def _describe(name: str, options: Mapping[str, Any]) -> tuple[EngineInfo, EngineCapabilities]:
    engine = create_engine(name, **options)
    try:
        return engine.info, engine.capabilities
    finally:
        await engine.aclose()
