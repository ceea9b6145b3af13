"""``ponder bench --workers N``: problems solved concurrently on one engine, each row committed as it
finishes, the same rows as one worker, resume after a cancel or a SIGKILL losing and repeating nothing."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from tests.support.stub_server import StubServer

from ponder.bench.runner import run_benchmark, solve_concurrently
from ponder.bench.store import BenchStore
from ponder.bench.types import Config, Problem
from ponder.cli.main import cli
from ponder.core.errors import BackendUnavailableError, ContextOverflowError, InvalidInputError
from ponder.engines import FakeEngine
from ponder.engines.base import Completion, GenerationRequest

PROBLEMS = [
    Problem(id=f"{i:02d}", question=f"What is {i} + {i}?", gold=str(2 * i), grader="math", data={}) for i in range(8)
]
TIMINGS = ("seconds", "created")  # the only columns that may differ between runs


def number(request: GenerationRequest) -> int:
    """The problem a request is about (its question is ``What is N + N?``)."""
    assert request.messages is not None
    return int(request.messages[-1].content.split()[2])


def doubling(request: GenerationRequest, index: int) -> str:
    n = number(request)
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


class SlowEngine(FakeEngine):
    """A fake engine whose calls take ``delay(problem)`` seconds; it counts calls in flight."""

    def __init__(self, delay: Callable[[int], float] = lambda n: 0.01 * (8 - n)) -> None:
        super().__init__(doubling)
        self.delay = delay
        self.in_flight = 0
        self.most_in_flight = 0
        self.problems: list[int] = []  # the problem of each call, in arrival order

    async def generate(self, requests: Sequence[GenerationRequest]) -> list[list[Completion]]:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            self.problems.extend(number(r) for r in requests)
            await asyncio.sleep(max(self.delay(number(r)) for r in requests))
            return await super().generate(requests)
        finally:
            self.in_flight -= 1


def open_store(path: Path) -> tuple[BenchStore, int]:
    store = BenchStore(path)
    run = store.start_run(
        ponder_version="test", dataset="toy", engine="fake", model="scripted", model_sha256=None, settings={}
    )
    return store, run


def stored_rows(path: Path) -> list[dict[str, Any]]:
    """Every results row (with its configuration's key, not its id), timings left out, by key."""
    connection = sqlite3.connect(path)
    connection.row_factory = sqlite3.Row
    try:
        rows = connection.execute(
            "SELECT configs.key AS config_key, results.* FROM results JOIN configs ON configs.id = results.config_id"
        ).fetchall()
    finally:
        connection.close()
    kept = [{k: row[k] for k in row.keys() if k not in (*TIMINGS, "config_id")} for row in rows]  # noqa: SIM118
    return sorted(kept, key=lambda r: (r["config_key"], r["problem_id"]))


def commit_order(path: Path) -> list[str]:
    connection = sqlite3.connect(path)
    try:
        return [r[0] for r in connection.execute("SELECT problem_id FROM results ORDER BY rowid")]
    finally:
        connection.close()


async def bench_into(
    path: Path,
    engine: FakeEngine,
    *,
    workers: int,
    configs: Sequence[Config] = (config(),),
    problems: Sequence[Problem] = PROBLEMS,
) -> None:
    store, run = open_store(path)
    try:
        await run_benchmark(
            problems,
            configs,
            engine=engine,
            store=store,
            run_id=run,
            workers=workers,
            progress=False,
            echo=lambda line: None,
        )
    finally:
        store.close()


async def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        await asyncio.sleep(0.005)


# -- the same rows, committed as they finish ------------------------------------------------------


async def test_four_workers_store_the_same_rows_as_one(tmp_path: Path) -> None:
    configs = [config("greedy", 1), config("self-consistency", 3)]
    one, four = SlowEngine(), SlowEngine()
    await bench_into(tmp_path / "one.db", one, workers=1, configs=configs)
    await bench_into(tmp_path / "four.db", four, workers=4, configs=configs)
    assert (one.most_in_flight, four.most_in_flight) == (1, 4)
    rows = stored_rows(tmp_path / "four.db")
    assert len(rows) == 16 and rows == stored_rows(tmp_path / "one.db")
    # the later problems are faster here: with four workers they are committed out of problem order
    assert commit_order(tmp_path / "one.db") == [p.id for p in PROBLEMS] * 2
    assert commit_order(tmp_path / "four.db")[:8] != [p.id for p in PROBLEMS]


class HangingEngine(SlowEngine):
    """Problem 0 hangs until ``release`` is set; the others answer at once."""

    def __init__(self) -> None:
        super().__init__(delay=lambda n: 0.0)
        self.release = asyncio.Event()

    async def generate(self, requests: Sequence[GenerationRequest]) -> list[list[Completion]]:
        if any(number(r) == 0 for r in requests):
            await self.release.wait()
        return await super().generate(requests)


async def test_results_are_committed_as_they_finish(tmp_path: Path) -> None:
    store, run = open_store(tmp_path / "b.db")
    engine = HangingEngine()
    task = asyncio.create_task(
        run_benchmark(PROBLEMS, [config()], engine=engine, store=store, run_id=run, workers=4, progress=False)
    )
    config_id = store.config_id(run, config())
    await wait_until(lambda: len(store.done(config_id)) == 7)  # every problem but the hanging one
    assert "00" not in store.done(config_id) and not task.done()
    other = sqlite3.connect(tmp_path / "b.db")  # committed: another connection sees them
    assert other.execute("SELECT COUNT(*) FROM results").fetchone()[0] == 7
    other.close()
    engine.release.set()
    [totals] = await task
    assert (totals.solved, totals.correct, totals.new) == (8, 8, 8)
    assert commit_order(tmp_path / "b.db")[-1] == "00"
    store.close()


async def test_the_progress_bar_advances_per_finished_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store, run = open_store(tmp_path / "b.db")
    await run_benchmark(PROBLEMS, [config()], engine=SlowEngine(), store=store, run_id=run, workers=4)
    store.close()
    err = capsys.readouterr().err
    assert "8/8" in err and "accuracy=100.0%" in err


# -- failures and cancellation --------------------------------------------------------------------


class OverflowingEngine(SlowEngine):
    """Problem 2's prompt does not fit: a bad-input error for that problem only."""

    async def generate(self, requests: Sequence[GenerationRequest]) -> list[list[Completion]]:
        if any(number(r) == 2 for r in requests):
            raise ContextOverflowError("the prompt does not fit the context")
        return await super().generate(requests)


async def test_a_failing_problem_is_recorded_and_the_others_go_on(tmp_path: Path) -> None:
    await bench_into(tmp_path / "b.db", OverflowingEngine(), workers=4)
    rows = {r["problem_id"]: r for r in stored_rows(tmp_path / "b.db")}
    assert len(rows) == 8
    assert rows["02"]["stop_reason"].startswith("error:") and rows["02"]["answer"] is None
    assert all(r["correct"] for pid, r in rows.items() if pid != "02")


class DyingEngine(SlowEngine):
    """Problem 3 finds the engine gone; problems 0-2 finish first, the rest would take long."""

    def __init__(self) -> None:
        super().__init__(delay=lambda n: 0.0 if n < 3 else 30.0)

    async def generate(self, requests: Sequence[GenerationRequest]) -> list[list[Completion]]:
        if any(number(r) == 3 for r in requests):
            await asyncio.sleep(0.05)
            raise BackendUnavailableError("the engine went away")
        return await super().generate(requests)


async def test_an_engine_that_cannot_serve_stops_the_run_and_cancels_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "b.db"
    started = time.monotonic()
    with pytest.raises(BackendUnavailableError):
        await bench_into(path, DyingEngine(), workers=4)
    assert time.monotonic() - started < 10  # the slow ones were cancelled, not waited for
    assert [t for t in asyncio.all_tasks() if t is not asyncio.current_task()] == []
    assert sorted(r["problem_id"] for r in stored_rows(path)) == ["00", "01", "02"]
    engine = SlowEngine()
    await bench_into(path, engine, workers=4)
    assert set(engine.problems) == {3, 4, 5, 6, 7}  # only what the failed run did not store
    assert len(stored_rows(path)) == 8


async def test_a_cancelled_run_resumes_without_losing_or_repeating(tmp_path: Path) -> None:
    path = tmp_path / "b.db"
    store, run = open_store(path)
    engine = SlowEngine(delay=lambda n: 0.05)
    task = asyncio.create_task(
        run_benchmark(PROBLEMS, [config()], engine=engine, store=store, run_id=run, workers=3, progress=False)
    )
    config_id = store.config_id(run, config())
    await wait_until(lambda: len(store.done(config_id)) >= 3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    kept = store.done(config_id)
    store.close()
    assert 3 <= len(kept) < 8
    assert engine.in_flight == 0  # the solves in flight were cancelled with the run
    resumed = SlowEngine()
    await bench_into(path, resumed, workers=3)
    assert {f"{n:02d}" for n in resumed.problems} == {p.id for p in PROBLEMS} - kept  # only what was missing
    await bench_into(tmp_path / "whole.db", SlowEngine(), workers=1)
    assert stored_rows(path) == stored_rows(tmp_path / "whole.db")


async def test_workers_must_be_at_least_one(tmp_path: Path) -> None:
    store, run = open_store(tmp_path / "b.db")
    for bad in (0, -2):
        with pytest.raises(InvalidInputError, match="workers must be an integer >= 1"):
            await run_benchmark(PROBLEMS, [config()], engine=SlowEngine(), store=store, run_id=run, workers=bad)
    store.close()
    with pytest.raises(InvalidInputError):
        await solve_concurrently(SlowEngine(), PROBLEMS, config(), workers=0, on_row=lambda row: None)


def test_cli_workers_zero_is_a_one_line_error(tmp_path: Path) -> None:
    data = tmp_path / "toy.jsonl"
    data.write_text('{"question": "What is 2 + 2?", "answer": "4"}\n')
    result = CliRunner().invoke(
        cli,
        [
            "bench",
            str(data),
            "--workers",
            "0",
            "--engine",
            "openai",
            "--base-url",
            "http://127.0.0.1:9",
            "--db",
            str(tmp_path / "b.db"),
        ],
    )
    assert result.exit_code == 1 and result.stdout == "" and "Traceback" not in result.stderr, result.output
    [line] = result.stderr.strip().splitlines()
    assert line == "error: --workers must be >= 1 (problems solved at once), got 0"
    assert not (tmp_path / "b.db").exists()


# -- a real SIGKILL against the stub OpenAI server ------------------------------------------------


def write_toy(path: Path, count: int) -> list[str]:
    """A JSONL data set the stub can answer (it always says 4): even problems are right."""
    questions = [f"[p{i:02d}] What is {i} plus {4 - i}?" for i in range(count)]
    with path.open("w") as handle:
        for i, question in enumerate(questions):
            handle.write(
                json.dumps({"id": f"p{i:02d}", "question": question, "answer": "4" if i % 2 == 0 else "5"}) + "\n"
            )
    return questions


def bench_command(data: Path, db: Path, url: str, workers: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "ponder.cli.main",
        "bench",
        str(data),
        "--engine",
        "openai",
        "--base-url",
        url,
        "--model",
        "stub-model",
        "--strategy",
        "self-consistency",
        "--budget",
        "2",
        "--workers",
        str(workers),
        "--db",
        str(db),
        "--quiet",
    ]


def count_rows(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        connection = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=0.1)
        try:
            return int(connection.execute("SELECT COUNT(*) FROM results").fetchone()[0])
        finally:
            connection.close()
    except sqlite3.Error:  # not created yet, or locked by a commit
        return -1


def posted_problems(server: StubServer, start: int) -> list[str]:
    """The problem ids (``pNN``) of the POSTs the server got from the ``start``-th on."""
    ids = []
    for _, _, body, _ in server.posts()[start:]:
        text = json.dumps(body)
        ids.append(text[text.index("[p") + 1 : text.index("[p") + 4])
    return ids


def takes_ctrl_c() -> None:
    """In the child before it starts: SIGINT back to its default, so that Python turns it into
    KeyboardInterrupt even when the tests run where it is ignored (a background job of a
    non-interactive shell ignores SIGINT, and children inherit that)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize("stop", [signal.SIGKILL, signal.SIGINT], ids=["SIGKILL", "SIGINT"])
def test_a_run_stopped_mid_way_resumes_losing_and_repeating_nothing(tmp_path: Path, stop: signal.Signals) -> None:
    count = 16
    data = tmp_path / "toy.jsonl"
    write_toy(data, count)
    killed, whole = tmp_path / "killed.db", tmp_path / "whole.db"
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", "PYTHONPATH": os.pathsep.join(sys.path)}
    with StubServer(owned_by="vllm") as server:  # a server that takes concurrent requests
        server.delay = 0.4  # each answer takes a while, so the signal lands mid-run
        process = subprocess.Popen(
            bench_command(data, killed, server.url, workers=4),
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=takes_ctrl_c,
        )
        try:
            deadline = time.monotonic() + 60
            while count_rows(killed) < 4 or len(server.posts()) < 8:  # some stored, more in flight
                assert process.poll() is None, process.stderr.read() if process.stderr else ""
                assert time.monotonic() < deadline, "the run stored nothing"
                time.sleep(0.01)
            process.send_signal(stop)
            _, err = process.communicate(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        if stop == signal.SIGINT:  # Ctrl-C: the solves in flight are cancelled, one line says how to resume
            assert process.returncode == 1 and "Traceback" not in err, err
            assert err.strip().splitlines()[-1] == f"error: interrupted; rerun the same command to resume from {killed}"
        else:
            assert process.returncode == -signal.SIGKILL
        time.sleep(0.3)  # let the server record any request that was on its way
        connection = sqlite3.connect(killed)
        stored = {r[0] for r in connection.execute("SELECT problem_id FROM results")}
        connection.close()
        assert 4 <= len(stored) < count, stored

        before = len(server.posts())
        rerun = subprocess.run(
            bench_command(data, killed, server.url, workers=4), env=env, capture_output=True, text=True, timeout=120
        )
        assert rerun.returncode == 0, rerun.stderr
        resumed = posted_problems(server, before)

        server.delay = 0.0
        before = len(server.posts())
        reference = subprocess.run(
            bench_command(data, whole, server.url, workers=1), env=env, capture_output=True, text=True, timeout=120
        )
        assert reference.returncode == 0, reference.stderr
        per_problem = (len(server.posts()) - before) // count

    missing = {f"p{i:02d}" for i in range(count)} - stored
    assert set(resumed) == missing and len(resumed) == per_problem * len(missing)  # nothing repeated
    rows = stored_rows(killed)
    assert len(rows) == count and len({r["problem_id"] for r in rows}) == count  # nothing lost or doubled
    assert rows == stored_rows(whole)
    assert f"{count - len(stored)} new" in rerun.stdout
