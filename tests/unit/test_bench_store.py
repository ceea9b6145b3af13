"""The benchmark store and runner: schema, resume after a crash, nothing lost or repeated."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Sequence

import pytest

from ponder.bench.datasets import Problem
from ponder.bench.runner import run_benchmark
from ponder.bench.store import SCHEMA_VERSION, BenchStore, Config
from ponder.engines import FakeEngine
from ponder.engines.base import Completion, GenerationRequest
from ponder.errors import BackendUnavailableError, InvalidInputError

PROBLEMS = [Problem(id=str(i), question=f"What is {i} + {i}?", gold=str(2 * i), grader="math", data={})
            for i in range(6)]


def doubling(request: GenerationRequest, index: int) -> str:
    question = request.messages[-1].content
    n = int(question.split()[2])
    return f"The answer is {2 * n if index % 2 == 0 else n}."


def config(strategy: str = "self-consistency", budget: int = 3) -> Config:
    return Config(dataset="toy", strategy=strategy, budget=budget, seed=0, temperature=None, max_tokens=32,
                  engine="fake", model="scripted")


class CrashingEngine(FakeEngine):
    """Serves ``limit`` calls, then fails as if the machine went away."""

    def __init__(self, limit: int) -> None:
        super().__init__(doubling)
        self.limit = limit

    async def generate(self, requests: Sequence[GenerationRequest]) -> list[list[Completion]]:
        if self.calls >= self.limit:
            raise BackendUnavailableError("the engine went away")
        return await super().generate(requests)


def open_store(path: Path) -> tuple[BenchStore, int]:
    store = BenchStore(path)
    run = store.start_run(ponder_version="test", dataset="toy", engine="fake", model="scripted", model_sha256=None,
                          settings={})
    return store, run


async def test_results_are_graded_and_stored(tmp_path: Path) -> None:
    store, run = open_store(tmp_path / "b.db")
    [summary] = await run_benchmark(PROBLEMS, [config()], engine=FakeEngine(doubling), store=store, run_id=run,
                                    progress=False)
    assert (summary.solved, summary.correct, summary.new) == (6, 6, 6)
    [row] = store.configs()
    results = list(store.results(row["id"]))
    assert [r["problem_id"] for r in results] == [str(i) for i in range(6)]
    first = results[1]
    assert first["answer"] == "2" and first["correct"] == 1
    assert [c["correct"] for c in first["candidates"]] == [True, False, True]
    assert first["votes"] == {"2": 2.0, "1": 1.0} and first["engine_calls"] == 1 and first["completion_tokens"] > 0
    assert row["label"] == "self-consistency@3 seed=0"


async def test_a_crashed_run_resumes_without_losing_or_repeating(tmp_path: Path) -> None:
    path = tmp_path / "b.db"
    store, run = open_store(path)
    with pytest.raises(BackendUnavailableError):
        await run_benchmark(PROBLEMS, [config()], engine=CrashingEngine(limit=4), store=store, run_id=run,
                            progress=False)
    store.close()
    store, run = open_store(path)
    engine = FakeEngine(doubling)
    [summary] = await run_benchmark(PROBLEMS, [config()], engine=engine, store=store, run_id=run, progress=False)
    assert (summary.solved, summary.new) == (6, 2)
    assert engine.calls == 2  # only the two problems the crash left
    [row] = store.configs()
    assert sorted(r["problem_id"] for r in store.results(row["id"])) == [str(i) for i in range(6)]


async def test_a_bad_problem_is_stored_as_failed_and_not_retried(tmp_path: Path) -> None:
    store, run = open_store(tmp_path / "b.db")
    problems = PROBLEMS[:2] + [Problem(id="linc", question="no premises here", gold="True", grader="label", data={})]
    await run_benchmark(problems, [config("linc", 1)], engine=FakeEngine(["FOL: P(a)"]), store=store, run_id=run,
                        progress=False)
    [row] = store.configs()
    failed = [r for r in store.results(row["id"]) if r["stop_reason"].startswith("error")]
    assert len(failed) == 3 and "Premises" in failed[-1]["stop_reason"]
    [summary] = await run_benchmark(problems, [config("linc", 1)], engine=FakeEngine(["x"]), store=store,
                                    run_id=run, progress=False)
    assert summary.new == 0


async def test_each_configuration_is_stored_once(tmp_path: Path) -> None:
    store, run = open_store(tmp_path / "b.db")
    configs = [config("greedy", 1), config("self-consistency", 2)]
    await run_benchmark(PROBLEMS[:2], configs, engine=FakeEngine(doubling), store=store, run_id=run, progress=False)
    await run_benchmark(PROBLEMS[:2], configs, engine=FakeEngine(doubling), store=store, run_id=run, progress=False)
    assert [r["label"] for r in store.configs()] == ["greedy@1 seed=0", "self-consistency@2 seed=0"]


def test_schema_version_and_bad_files(tmp_path: Path) -> None:
    store, _ = open_store(tmp_path / "b.db")
    assert store.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    store.close()
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database at all" * 100)
    with pytest.raises(InvalidInputError, match="not a ponder benchmark database"):
        BenchStore(junk)
    newer = tmp_path / "newer.db"
    connection = sqlite3.connect(newer)
    connection.execute("PRAGMA user_version = 99")
    connection.close()
    with pytest.raises(InvalidInputError, match="newer ponder"):
        BenchStore(newer)
