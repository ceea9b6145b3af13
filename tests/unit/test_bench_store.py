"""The benchmark store and runner: schema, resume after a crash, nothing lost or repeated."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from ponder.bench.runner import run_benchmark
from ponder.bench.store import SCHEMA_VERSION, BenchStore
from ponder.bench.types import BenchRow, CandidateRow, Config, Problem, StoredConfig
from ponder.core.errors import BackendUnavailableError, InvalidInputError
from ponder.engines import FakeEngine
from ponder.engines.base import Completion, GenerationRequest

PROBLEMS = [
    Problem(id=str(i), question=f"What is {i} + {i}?", gold=str(2 * i), grader="math", data={}) for i in range(6)
]


def doubling(request: GenerationRequest, index: int) -> str:
    question = request.messages[-1].content
    n = int(question.split()[2])
    return f"The answer is {2 * n if index % 2 == 0 else n}."


def config(strategy: str = "self-consistency", budget: int = 3) -> Config:
    return Config(
        dataset="toy",
        strategy=strategy,
        budget=budget,
        seed=0,
        temperature=None,
        max_tokens=32,
        engine="fake",
        model="scripted",
    )


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
    run = store.start_run(
        ponder_version="test", dataset="toy", engine="fake", model="scripted", model_sha256=None, settings={}
    )
    return store, run


async def test_results_are_graded_and_stored(tmp_path: Path) -> None:
    store, run = open_store(tmp_path / "b.db")
    [summary] = await run_benchmark(
        PROBLEMS, [config()], engine=FakeEngine(doubling), store=store, run_id=run, progress=False
    )
    assert (summary.solved, summary.correct, summary.new) == (6, 6, 6)
    [row] = store.configs()
    results = list(store.results(row.id))
    assert [r.problem_id for r in results] == [str(i) for i in range(6)]
    first = results[1]
    assert first.answer == "2" and first.correct
    assert [c.correct for c in first.candidates] == [True, False, True]
    assert first.votes == {"2": 2.0, "1": 1.0} and first.engine_calls == 1 and first.completion_tokens > 0
    assert row.label == "self-consistency@3 seed=0" and row.config == config()


async def test_a_crashed_run_resumes_without_losing_or_repeating(tmp_path: Path) -> None:
    path = tmp_path / "b.db"
    store, run = open_store(path)
    with pytest.raises(BackendUnavailableError):
        await run_benchmark(
            PROBLEMS, [config()], engine=CrashingEngine(limit=4), store=store, run_id=run, progress=False
        )
    store.close()
    store, run = open_store(path)
    engine = FakeEngine(doubling)
    [summary] = await run_benchmark(PROBLEMS, [config()], engine=engine, store=store, run_id=run, progress=False)
    assert (summary.solved, summary.new) == (6, 2)
    assert engine.calls == 2  # only the two problems the crash left
    [row] = store.configs()
    assert sorted(r.problem_id for r in store.results(row.id)) == [str(i) for i in range(6)]


async def test_a_bad_problem_is_stored_as_failed_and_not_retried(tmp_path: Path) -> None:
    store, run = open_store(tmp_path / "b.db")
    problems = PROBLEMS[:2] + [Problem(id="linc", question="no premises here", gold="True", grader="label", data={})]
    await run_benchmark(
        problems, [config("linc", 1)], engine=FakeEngine(["FOL: P(a)"]), store=store, run_id=run, progress=False
    )
    [row] = store.configs()
    failed = [r for r in store.results(row.id) if r.stop_reason.startswith("error")]
    assert len(failed) == 3 and "Premises" in failed[-1].stop_reason
    assert all(r.answer is None and not r.correct and r.candidates == () for r in failed)
    [summary] = await run_benchmark(
        problems, [config("linc", 1)], engine=FakeEngine(["x"]), store=store, run_id=run, progress=False
    )
    assert summary.new == 0


async def test_each_configuration_is_stored_once(tmp_path: Path) -> None:
    store, run = open_store(tmp_path / "b.db")
    configs = [config("greedy", 1), config("self-consistency", 2)]
    await run_benchmark(PROBLEMS[:2], configs, engine=FakeEngine(doubling), store=store, run_id=run, progress=False)
    await run_benchmark(PROBLEMS[:2], configs, engine=FakeEngine(doubling), store=store, run_id=run, progress=False)
    assert [r.label for r in store.configs()] == ["greedy@1 seed=0", "self-consistency@2 seed=0"]


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


# A results row exactly as the untyped store wrote it (16 keys; candidates without ``evidence``,
# as rows written before evidence was recorded).
OLD_ROW: dict[str, Any] = {
    "problem_id": "7",
    "question": "What is 7 + 7?",
    "gold": "14",
    "answer": "14",
    "correct": 1,
    "candidates": [
        {
            "text": "The answer is 14.",
            "answer": "14",
            "correct": True,
            "score": 0.75,
            "completion_tokens": 6,
            "finish_reason": "stop",
        },
        {
            "text": "It is 7.",
            "answer": "7",
            "correct": False,
            "score": None,
            "completion_tokens": 4,
            "finish_reason": "length",
        },
    ],
    "votes": {"14": 1.0, "7": 1.0},
    "trace": [{"step": 0, "note": "sampled"}],
    "stop_reason": "done",
    "prompt_tokens": 30,
    "prompt_tokens_computed": 12,
    "completion_tokens": 10,
    "scorer_tokens": 3,
    "engine_calls": 1,
    "scorer_calls": 2,
    "seconds": 0.25,
}


def test_rows_written_by_the_untyped_store_read_back(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    store, run = open_store(path)
    config_id = store.config_id(run, config())
    store.close()
    connection = sqlite3.connect(path)  # plain SQL, as the old store wrote rows
    values = {**OLD_ROW, "config_id": config_id, "created": "2024-01-01T00:00:00Z"}
    for name in ("candidates", "votes", "trace"):
        values[name] = json.dumps(values[name])
    with connection:
        connection.execute(
            f"INSERT INTO results ({', '.join(values)}) VALUES ({', '.join('?' * len(values))})", list(values.values())
        )
    connection.close()
    store = BenchStore(path)
    [stored] = store.configs()
    assert stored == StoredConfig(
        id=config_id,
        run_id=run,
        key=config().key,
        label=config().label,
        dataset="toy",
        strategy="self-consistency",
        options={},
        budget=3,
        seed=0,
        temperature=None,
        max_tokens=32,
        engine="fake",
        model="scripted",
    )
    [row] = store.results(config_id)
    store.close()
    assert row.problem_id == "7" and row.answer == "14" and row.correct is True and row.tokens == 43
    assert row.candidates[0] == CandidateRow("The answer is 14.", "14", True, 0.75, 6, "stop", evidence=None)
    assert row.votes == {"14": 1.0, "7": 1.0} and row.trace == ({"step": 0, "note": "sampled"},)
    expected = {
        **OLD_ROW,
        "candidates": [{**c, "evidence": None} for c in OLD_ROW["candidates"]],
        "scorer_prompt_tokens_computed": 0,
    }
    assert row.to_dict() == expected  # the same shape, evidence and the judges' computed tokens now always present


def test_a_row_is_stored_in_the_shape_the_old_store_wrote(tmp_path: Path) -> None:
    """New rows land in the same columns, with the same JSON, as the untyped store wrote them."""
    path = tmp_path / "new.db"
    store, run = open_store(path)
    config_id = store.config_id(run, config())
    candidates = tuple(CandidateRow.from_dict(c) for c in OLD_ROW["candidates"])
    row = BenchRow(
        problem_id="7",
        question="What is 7 + 7?",
        gold="14",
        answer="14",
        correct=True,
        stop_reason="done",
        candidates=candidates,
        votes={"14": 1.0, "7": 1.0},
        trace=({"step": 0, "note": "sampled"},),
        prompt_tokens=30,
        prompt_tokens_computed=12,
        completion_tokens=10,
        scorer_tokens=3,
        engine_calls=1,
        scorer_calls=2,
        seconds=0.25,
    )
    assert BenchRow.from_dict(row.to_dict()) == row
    store.add_result(config_id, row)
    store.close()
    connection = sqlite3.connect(path)
    connection.row_factory = sqlite3.Row
    [raw] = connection.execute("SELECT * FROM results")
    connection.close()
    stored = {k: raw[k] for k in raw.keys() if k not in ("config_id", "created")}  # noqa: SIM118 (a Row)
    assert set(stored) == set(OLD_ROW) | {"scorer_prompt_tokens_computed"} and len(stored) == 17
    for name in ("candidates", "votes", "trace"):
        stored[name] = json.loads(stored[name])
    assert stored == {
        **OLD_ROW,
        "candidates": [{**c, "evidence": None} for c in OLD_ROW["candidates"]],
        "scorer_prompt_tokens_computed": 0,
    }
    assert isinstance(raw["correct"], int) and raw["correct"] == 1
