"""The Ray driver of ``ponder bench --ray ADDRESS``: chunks out, rows in, one writer.

:meth:`RayCluster.connect` joins a Ray cluster (``auto``: the running one; ``local``: a new one on
this machine; ``ray://HOST:PORT``: through Ray Client; a session already started with
``ray.init`` is used as it is) and asks one worker to create the engine and describe it, so the
run's configurations carry the engine and model the workers see (the driver loads no model).

:meth:`RayCluster.run` then, for every configuration, splits the problems it has no stored row for
into chunks and sends each chunk out as one Ray task (:func:`~ponder.bench.distributed.jobs.solve_chunk`,
``max_retries`` retries when a worker dies: a chunk's rows come back whole, so a retried chunk
repeats nothing that was stored). The endpoints of a comma-separated ``base_url`` are handed to
the chunks in turn. A ``ray.wait`` loop commits each chunk's rows as the chunk finishes: the
driver is the store's only writer, a row already stored is never written twice, and a progress
bar counts problems over all workers. Configurations with an interrupt run after the others, so
that they find the uninterrupted rows their interrupt points come from.

A chunk whose engine cannot serve brings back the rows it finished and the error: they are
stored, so are the rows of the chunks that have finished meanwhile, the chunks still in flight
are cancelled, and the error is raised. So is a worker that died on every retry, and so is
cancelling the run (Ctrl-C, which stores the finished chunks the same way). A rerun of the same
command resumes: what is stored is skipped, so a driver crash or a lost worker loses at most the
chunks in flight.

Ray is optional (``pip install 'ponder[ray]'``); it is imported when a cluster is joined.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from tqdm import tqdm

from ponder.bench.distributed.jobs import (
    ChunkJob,
    ChunkResult,
    chunked,
    describe_engine,
    run_chunk,
    solve_chunk,
    split_endpoints,
    with_endpoint,
)
from ponder.bench.runner import check_workers, uninterrupted_lengths
from ponder.bench.store import BenchStore
from ponder.bench.types import BenchRow, Config, ConfigTotals, Problem
from ponder.core.errors import BackendUnavailableError, EngineError, InvalidInputError, PonderError
from ponder.core.text import check_text
from ponder.engines.base import Completion, EngineCapabilities, EngineInfo, GenerationRequest
from ponder.engines.http.transport import shown_url
from ponder.engines.registry import engine_plugin

RAY_EXTRA = "pip install 'ponder[ray]'"
DEFAULT_CHUNK = 4  # problems per Ray task: a lost worker costs at most this many problems
DEFAULT_RETRIES = 3  # Ray retries of a task whose worker died
WAIT_SECONDS = 0.5  # the longest one ray.wait blocks before the loop looks again

ChunkTask = Callable[[ChunkJob], ChunkResult]


def import_ray() -> ModuleType:
    """The ``ray`` module, or a one-line error saying what to install."""
    try:
        return importlib.import_module("ray")
    except ImportError:
        raise BackendUnavailableError(f"--ray needs Ray, which is not installed: {RAY_EXTRA}") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


@dataclass
class _Plan:
    """One configuration's state in the driver: its id, what is stored, the tallies."""

    config: Config
    config_id: int
    stored: set[str]
    todo: list[Problem]
    correct: int
    new: int = 0
    solved: int = field(init=False)

    def __post_init__(self) -> None:
        self.solved = len(self.stored) + len(self.todo)


class RayCluster:
    """The engine the Ray workers create, seen from the driver: its ``info`` and ``capabilities``
    are theirs (read by one task at :meth:`connect`); :meth:`run` solves whole problems on the
    workers. It serves no generation requests itself (:meth:`generate` refuses), so that a run
    passes it where an engine goes (``ponder.bench.abench(..., engine=cluster)``)."""

    def __init__(
        self,
        ray: ModuleType,
        *,
        address: str,
        owns: bool,
        engine: str,
        options: Mapping[str, Any],
        info: EngineInfo,
        capabilities: EngineCapabilities,
        chunk: int = DEFAULT_CHUNK,
        max_retries: int = DEFAULT_RETRIES,
        task: ChunkTask = solve_chunk,
    ) -> None:
        self._ray, self.address, self._owns = ray, address, owns
        self.engine, self.options = engine, dict(options)
        self.endpoints = split_endpoints(options)
        self.chunk, self.max_retries, self.task = chunk, max_retries, task
        self.capabilities = capabilities
        self.info = EngineInfo(
            info.name,
            info.model,
            {
                **info.details,
                "ray": address,
                "ray_chunk": chunk,
                **({"endpoints": [shown_url(url) for url in self.endpoints]} if len(self.endpoints) > 1 else {}),
            },
        )

    @classmethod
    async def connect(
        cls,
        address: str,
        *,
        engine: str,
        options: Mapping[str, Any],
        chunk: int = DEFAULT_CHUNK,
        max_retries: int = DEFAULT_RETRIES,
        task: ChunkTask = solve_chunk,
    ) -> RayCluster:
        """Join the cluster at ``address`` (see the module docstring) and describe ``engine`` as a
        worker creates it with ``options`` (the first endpoint of a comma-separated ``base_url``)."""
        check_text(address, "the Ray address")
        if not address.strip():
            raise InvalidInputError("--ray needs an address: auto, local or ray://HOST:PORT")
        chunked([], chunk)  # a bad chunk size, or option, fails before Ray starts
        engine_plugin(engine).options(with_endpoint(options, split_endpoints(options), 0))
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise InvalidInputError(f"max_retries must be an integer >= 0, got {max_retries!r}")
        ray = import_ray()
        owns = not ray.is_initialized()
        if owns:
            _init(ray, address.strip())
        try:
            probe = ray.remote(max_retries=max_retries)(describe_engine)
            endpoints = split_endpoints(options)
            ref = probe.remote(engine, with_endpoint(options, endpoints, 0))
            try:
                info, capabilities = await _result(ray, ref, address.strip())
            except ray.exceptions.RayError as exc:
                raise _unwrap(ray, exc, f"describing engine {engine!r} on a Ray worker") from None
            return cls(
                ray,
                address=address.strip(),
                owns=owns,
                engine=engine,
                options=options,
                info=info,
                capabilities=capabilities,
                chunk=chunk,
                max_retries=max_retries,
                task=task,
            )
        except BaseException:
            if owns:
                ray.shutdown()
            raise

    async def generate(self, requests: Sequence[GenerationRequest]) -> list[list[Completion]]:
        raise EngineError("a Ray cluster solves whole problems on its workers (RayCluster.run); it takes no requests")

    async def run(
        self,
        problems: Sequence[Problem],
        configs: Sequence[Config],
        *,
        store: BenchStore,
        run_id: int,
        workers: int = 1,
        progress: bool = True,
        echo: Callable[[str], None] = print,
    ) -> list[ConfigTotals]:
        """Solve every (configuration, problem) pair not yet stored on the workers, ``workers``
        problems at a time in each task, committing each chunk's rows as it finishes; the
        per-configuration totals (as :func:`~ponder.bench.runner.run_benchmark` returns them)."""
        check_workers(workers)
        wanted = {p.id for p in problems}
        plans: dict[str, _Plan] = {}
        for config in configs:
            config_id = store.config_id(run_id, config)
            stored = store.done(config_id)
            correct = sum(r.correct for r in store.results(config_id) if r.problem_id in wanted)
            todo = [p for p in problems if p.id not in stored]
            plans[config.key] = _Plan(config, config_id, stored & wanted, todo, correct)
        total = sum(len(plan.todo) for plan in plans.values())
        bar = tqdm(total=total, desc=f"ray {self.address}", unit="problem", disable=not progress or not total)
        tally = _Tally(store, plans, bar)
        try:
            number = 0
            for interrupted in (False, True):  # interrupted configurations read the others' stored rows
                jobs: list[ChunkJob] = []
                for plan in plans.values():
                    if bool(plan.config.interrupt) != interrupted:
                        continue
                    lengths = uninterrupted_lengths(store, plan.config) if interrupted else None
                    for problems_chunk in chunked(plan.todo, self.chunk):
                        options = with_endpoint(self.options, self.endpoints, number)
                        references = None  # a task carries its own problems' lengths, not the whole table
                        if lengths is not None:
                            references = {p.id: lengths[p.id] for p in problems_chunk if p.id in lengths}
                        jobs.append(ChunkJob(plan.config, problems_chunk, self.engine, options, references, workers))
                        number += 1
                await self._dispatch(jobs, tally)
        finally:
            bar.close()
        summaries = [ConfigTotals(p.config.label, p.solved, p.correct, p.new) for p in plans.values()]
        if not progress:
            for totals in summaries:
                echo(f"{totals.label}: {totals.correct}/{totals.solved} correct ({totals.new} new)")
        return summaries

    async def _dispatch(self, jobs: Sequence[ChunkJob], tally: _Tally) -> None:
        """Send ``jobs`` out as Ray tasks and commit their rows as they finish (see the module docstring)."""
        ray = self._ray
        remote = ray.remote(max_retries=self.max_retries)(run_chunk)
        pending: dict[Any, ChunkJob] = {remote.options(name=job.name).remote(self.task, job): job for job in jobs}
        failure: PonderError | None = None
        try:
            while pending and failure is None:
                for ref in await _ready(ray, list(pending), self.address):
                    job = pending.pop(ref)
                    try:
                        result: ChunkResult = ray.get(ref)
                    except ray.exceptions.RayError as exc:
                        failure = failure or _unwrap(ray, exc, job.name, retries=self.max_retries)
                        continue
                    for row in result.rows:
                        tally.commit(job.config, row)
                    failure = failure or result.error
        finally:
            if pending:  # stopped (an error, or cancelled): the chunks that have finished meanwhile are stored...
                self._commit_finished(pending, tally)
            for ref in pending:  # ...and the chunks still in flight go
                with contextlib.suppress(Exception):  # a task that already ended cannot be cancelled
                    ray.cancel(ref, force=True)
        if failure is not None:
            raise failure

    def _commit_finished(self, pending: dict[Any, ChunkJob], tally: _Tally) -> None:
        """Commit the rows of the chunks of ``pending`` that have already finished (taking them out
        of it), without waiting for the others; a chunk that failed brings nothing."""
        ray = self._ray
        try:
            ready, _ = ray.wait(list(pending), num_returns=len(pending), timeout=0)
        except Exception:  # Ray is going away (e.g. its session ended): nothing more to collect
            return
        for ref in ready:
            job = pending.pop(ref)
            try:
                result: ChunkResult = ray.get(ref)
            except ray.exceptions.RayError:
                continue
            for row in result.rows:
                tally.commit(job.config, row)

    async def aclose(self) -> None:
        """Leave the cluster (a Ray session this object started is shut down; one it found stays)."""
        if self._owns and self._ray.is_initialized():
            self._ray.shutdown()
        self._owns = False


class _Tally:
    """Commits rows as chunks bring them and keeps the progress bar's figures."""

    def __init__(self, store: BenchStore, plans: Mapping[str, _Plan], bar: tqdm) -> None:
        self.store, self.plans, self.bar = store, plans, bar
        self.done = self.correct = self.tokens = 0
        self.started = time.perf_counter()

    def commit(self, config: Config, row: BenchRow) -> None:
        plan = self.plans[config.key]
        if row.problem_id in plan.stored:  # never twice, whatever a worker sends
            return
        self.store.add_result(plan.config_id, row)
        plan.stored.add(row.problem_id)
        plan.new += 1
        plan.correct += row.correct
        self.done += 1
        self.correct += row.correct
        self.tokens += row.completion_tokens
        self.bar.update(1)
        self.bar.set_postfix(
            accuracy=f"{self.correct / self.done:.1%}",
            tokens_per_s=f"{self.tokens / max(time.perf_counter() - self.started, 1e-9):.0f}",
        )


async def _ready(ray: ModuleType, refs: list[Any], address: str) -> list[Any]:
    """The first of ``refs`` to finish, waiting at most ``WAIT_SECONDS`` in a thread (empty when none
    has); a cluster that stops answering (Ray Client's connection lost, a dead raylet) is one error."""
    try:
        ready, _ = await asyncio.to_thread(ray.wait, refs, num_returns=1, timeout=WAIT_SECONDS)
    except Exception as exc:
        raise BackendUnavailableError(
            f"lost the Ray cluster at {address}: {_first_line(exc)}; rerun the same command to resume"
        ) from None
    return list(ready)


async def _result(ray: ModuleType, ref: Any, address: str) -> Any:
    """``ray.get(ref)``, waiting at most ``WAIT_SECONDS`` at a time in a thread, so that a cancelled
    caller (Ctrl-C) cancels the task at once instead of leaving a thread blocked until it ends."""
    try:
        while not await _ready(ray, [ref], address):
            pass
        return ray.get(ref)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            ray.cancel(ref, force=True)
        raise


def _init(ray: ModuleType, address: str) -> None:
    """``ray.init`` for ``address``, its failures as one line naming the address."""
    extra: dict[str, Any] = {"include_dashboard": False} if address == "local" else {}
    try:
        ray.init(address=address, logging_level=logging.WARNING, **extra)
    except Exception as exc:  # Ray raises ConnectionError, RuntimeError, ValueError, ...
        hint = " (start one with `ray start --head`, or use --ray local)" if address == "auto" else ""
        raise BackendUnavailableError(f"cannot join the Ray cluster at {address}{hint}: {_first_line(exc)}") from None


def _unwrap(ray: ModuleType, exc: BaseException, what: str, *, retries: int | None = None) -> PonderError:
    """The error to raise for a failed Ray task: ponder's own error when the task raised one, else
    one line saying which task failed and how."""
    cause = getattr(exc, "cause", None)
    if isinstance(cause, PonderError):
        return cause
    if isinstance(exc, ray.exceptions.TaskCancelledError):
        return BackendUnavailableError(f"{what} was cancelled on the Ray cluster; rerun the same command to resume")
    died = "WorkerCrashed" in type(exc).__name__ or "ActorDied" in type(exc).__name__
    if died and retries is not None:
        return BackendUnavailableError(
            f"a Ray worker died running {what} ({retries} retries spent); rerun the same command to resume"
        )
    return BackendUnavailableError(f"{what} failed on the Ray cluster: {_first_line(cause or exc)}")
