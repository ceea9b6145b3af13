"""The Ray driver's bookkeeping against a scripted stand-in for the ``ray`` module (no Ray, no
cluster, no timing): which finished chunks are stored when a run stops, what each task carries,
cancelling while a worker describes the engine, and a memory refused on a joined cluster."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from ponder.bench.api import abench
from ponder.bench.distributed import ChunkJob, ChunkResult, RayCluster, driver
from ponder.bench.store import BenchStore
from ponder.bench.types import BenchRow, CandidateRow
from ponder.core.errors import BackendUnavailableError, InvalidInputError
from ponder.engines.base import EngineCapabilities, EngineInfo


class FakeRayError(Exception):
    def __init__(self, cause: BaseException | None = None) -> None:
        super().__init__(str(cause))
        self.cause = cause


@dataclass(eq=False)
class Ref:
    value: Any = None
    ready: bool = True
    released: threading.Event = field(default_factory=threading.Event)


class FakeRay:
    """``ray.remote(...)(fn).options(...).remote(*args)`` runs ``fn`` at once (its value, or the
    exception it raised, is the task's result); ``hold(fn)`` makes its tasks never finish.
    ``wait`` returns the ready references in the order given, as Ray's does."""

    def __init__(self) -> None:
        self.exceptions = SimpleNamespace(
            RayError=FakeRayError, TaskCancelledError=type("TaskCancelledError", (FakeRayError,), {})
        )
        self.jobs: list[ChunkJob] = []
        self.cancelled: list[Ref] = []
        self.held: set[str] = set()

    def is_initialized(self) -> bool:
        return True

    def remote(self, **options: Any) -> Callable[[Callable[..., Any]], Any]:
        def wrap(function: Callable[..., Any]) -> Any:
            def submit(*args: Any) -> Ref:
                if function.__name__ in self.held:
                    return Ref(ready=False)
                self.jobs += [a for a in args if isinstance(a, ChunkJob)]
                try:
                    return Ref(function(*args))
                except Exception as exc:
                    return Ref(FakeRayError(exc))

            task = SimpleNamespace(remote=submit)
            task.options = lambda **_: task
            return task

        return wrap

    def hold(self, function: Callable[..., Any]) -> None:
        self.held.add(function.__name__)

    def wait(self, refs: list[Ref], num_returns: int = 1, timeout: float | None = None) -> tuple[list[Ref], list[Ref]]:
        ready = [ref for ref in refs if ref.ready][:num_returns]
        return ready, [ref for ref in refs if ref not in ready]

    def get(self, ref: Ref) -> Any:
        if not ref.ready:  # as ray.get blocks on an unfinished task (here for at most 3 s)
            ref.released.wait(3)
            raise FakeRayError(RuntimeError("still running"))
        if isinstance(ref.value, FakeRayError):
            raise ref.value
        return ref.value

    def cancel(self, ref: Ref, force: bool = False) -> None:
        self.cancelled.append(ref)
        ref.released.set()


def row(problem_id: str, tokens: int = 10) -> BenchRow:
    candidate = CandidateRow("4", "4", True, None, tokens, "stop")
    return BenchRow(problem_id, "q", "4", "4", True, "done", candidates=(candidate,), completion_tokens=tokens)


def solved(job: ChunkJob) -> ChunkResult:
    return ChunkResult(tuple(row(p.id, tokens=int(p.id[1:]) + 1) for p in job.problems))


def cluster_on(fake: FakeRay, task: Callable[[ChunkJob], ChunkResult], chunk: int = 4) -> RayCluster:
    return RayCluster(
        fake,  # type: ignore[arg-type]
        address="auto",
        owns=False,
        engine="openai",
        options={"base_url": "http://127.0.0.1:9", "model": "m"},
        info=EngineInfo("openai", "m"),
        capabilities=EngineCapabilities(streams=True, remote=True),
        chunk=chunk,
        task=task,
    )


@pytest.fixture
def data(tmp_path: Path) -> Path:
    path = tmp_path / "toy.jsonl"
    lines = [json.dumps({"id": f"p{i}", "question": f"What is {i}?", "answer": "4"}) for i in range(8)]
    path.write_text("\n".join(lines) + "\n")
    return path


def stored(db: Path) -> set[str]:
    store = BenchStore(db, writable=False)
    try:
        [config] = store.configs()
        return store.done(config.id)
    finally:
        store.close()


@pytest.fixture
def ray_stand_in(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeRay]:
    fake = FakeRay()
    monkeypatch.setattr(driver, "import_ray", lambda: fake)
    yield fake


async def test_a_failed_chunk_keeps_the_rows_of_chunks_that_finished_meanwhile(data: Path, tmp_path: Path) -> None:
    def first_chunk_fails(job: ChunkJob) -> ChunkResult:
        if job.problems[0].id == "p0":
            return ChunkResult((row("p0"),), BackendUnavailableError("the server went away"))
        return solved(job)

    fake = FakeRay()
    with pytest.raises(BackendUnavailableError, match="the server went away"):
        await abench(str(data), engine=cluster_on(fake, first_chunk_fails), db=tmp_path / "b.db", progress=False)
    # the failing chunk's finished row, and the other chunk, finished when the failure was read
    assert stored(tmp_path / "b.db") == {"p0", "p4", "p5", "p6", "p7"}


async def test_an_interrupted_configuration_sends_each_task_its_own_problems_lengths(
    data: Path, tmp_path: Path
) -> None:
    fake = FakeRay()
    cluster = cluster_on(fake, solved)
    await abench(str(data), engine=cluster, db=tmp_path / "b.db", progress=False, interrupts=["none", "hard@0.5"])
    interrupted = [job for job in fake.jobs if job.config.interrupt]
    assert [sorted(job.references or {}) for job in interrupted] == [["p0", "p1", "p2", "p3"], ["p4", "p5", "p6", "p7"]]
    assert interrupted[1].references == {"p4": 5.0, "p5": 6.0, "p6": 7.0, "p7": 8.0}


async def test_cancelling_while_a_worker_describes_the_engine_cancels_its_task(ray_stand_in: FakeRay) -> None:
    ray_stand_in.hold(driver.describe_engine)
    joining = asyncio.ensure_future(
        RayCluster.connect("auto", engine="openai", options={"base_url": "http://127.0.0.1:9", "model": "m"})
    )
    await asyncio.sleep(0.05)
    joining.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(joining, 2 * driver.WAIT_SECONDS + 1)
    assert len(ray_stand_in.cancelled) == 1  # the describing task is cancelled, not left running


async def test_a_memory_is_refused_on_a_joined_cluster(data: Path, tmp_path: Path) -> None:
    fake = FakeRay()
    with pytest.raises(InvalidInputError, match="cannot run on --ray"):
        await abench(
            str(data), engine=cluster_on(fake, solved), db=tmp_path / "b.db", progress=False, memory=tmp_path / "m.db"
        )
    assert fake.jobs == [] and not (tmp_path / "m.db").exists()


async def test_a_cluster_that_stops_answering_is_one_error_and_keeps_what_was_stored(
    data: Path, tmp_path: Path
) -> None:
    fake = FakeRay()
    answered = 0
    wait = fake.wait

    def wait_then_lose(refs: list[Ref], num_returns: int = 1, timeout: float | None = None) -> Any:
        nonlocal answered
        answered += 1
        if answered > 1:
            raise ConnectionError("Ray client connection lost\n(grpc details)")
        return wait(refs, num_returns, timeout)

    fake.wait = wait_then_lose  # type: ignore[method-assign]
    with pytest.raises(BackendUnavailableError, match=r"lost the Ray cluster at auto: ConnectionError: Ray client"):
        await abench(str(data), engine=cluster_on(fake, solved), db=tmp_path / "b.db", progress=False)
    assert stored(tmp_path / "b.db") == {"p0", "p1", "p2", "p3"}  # the chunk read before the loss


async def test_a_chunk_size_without_ray_is_refused(data: Path, tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match=r"--ray-chunk \(ray_chunk=\) applies with --ray ADDRESS"):
        await abench(str(data), engine="openai", ray_chunk=2, db=tmp_path / "b.db", progress=False)
    assert not (tmp_path / "b.db").exists()
