"""``ponder bench --ray``: a local Ray instance (2 CPUs) against the scripted OpenAI-compatible stub
server (no model): the same stored rows as the in-process runner, a worker killed mid-task and a
driver killed mid-run losing and repeating nothing, endpoints spread over tasks, resume, failures."""

from __future__ import annotations

import functools
import json
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from tests.support.ray_faults import dying_once
from tests.support.stub_server import StubServer

from ponder.bench.api import abench
from ponder.bench.distributed import RayCluster
from ponder.bench.store import BenchStore
from ponder.cli.main import cli
from ponder.core.errors import BackendUnavailableError, InvalidInputError

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'ponder[ray]'); the --ray tests need it")

TIMINGS = ("seconds", "created")  # the only columns that may differ between runs
COUNT = 30


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """One local Ray instance for the module; its GCS address (a subprocess can join it)."""
    context = ray.init(
        num_cpus=2, include_dashboard=False, logging_level=logging.WARNING, object_store_memory=100 * 2**20
    )
    try:
        yield str(context.address_info["gcs_address"])
    finally:
        ray.shutdown()


@pytest.fixture
def data(tmp_path: Path) -> Path:
    """30 problems the stub can answer (it always says 4): even problems are right."""
    path = tmp_path / "toy.jsonl"
    with path.open("w") as handle:
        for i in range(COUNT):
            row = {
                "id": f"p{i:02d}",
                "question": f"[p{i:02d}] What is {i} plus {4 - i}?",
                "answer": "4" if i % 2 == 0 else "5",
            }
            handle.write(json.dumps(row) + "\n")
    return path


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


def posted_problems(server: StubServer) -> Counter[str]:
    """How many POSTs the server got about each problem (``pNN``)."""
    counts: Counter[str] = Counter()
    for _, _, body, _ in server.posts():
        text = json.dumps(body)
        counts[text[text.index("[p") + 1 : text.index("[p") + 4]] += 1
    return counts


def options(url: str) -> dict[str, Any]:
    return {"base_url": url, "model": "stub-model", "retries": "0"}


async def bench_into(db: Path, data: Path, url: str, **extra: Any) -> list[Any]:
    settings: dict[str, Any] = {
        "strategies": ["self-consistency"],
        "budgets": [2],
        "seeds": [0, 1],
        "engine": "openai",
        "engine_options": options(url),
        "db": db,
        "progress": False,
        **extra,
    }
    return await abench(str(data), **settings)


# -- the same rows as the in-process runner --------------------------------------------------------


async def test_ray_stores_the_same_rows_as_two_local_workers(cluster: str, data: Path, tmp_path: Path) -> None:
    with StubServer(owned_by="vllm") as server:
        await bench_into(tmp_path / "local.db", data, server.url, workers=2)
        local_posts = posted_problems(server)
        server.requests.clear()
        totals = await bench_into(tmp_path / "ray.db", data, server.url, ray="auto", ray_chunk=4)
        ray_posts = posted_problems(server)
    rows = stored_rows(tmp_path / "ray.db")
    assert len(rows) == 2 * COUNT and rows == stored_rows(tmp_path / "local.db")
    assert ray_posts == local_posts  # each problem asked for exactly as often: nothing repeated
    assert [(t.solved, t.correct, t.new) for t in totals] == [(COUNT, COUNT // 2, COUNT)] * 2
    store = BenchStore(tmp_path / "ray.db", writable=False)
    [run] = store.runs()
    store.close()
    assert run.engine == "openai" and run.settings["engine_details"]["ray"] == "auto"
    assert run.settings["engine_details"]["ray_chunk"] == 4


async def test_a_worker_killed_mid_task_loses_and_repeats_no_row(cluster: str, data: Path, tmp_path: Path) -> None:
    markers = tmp_path / "markers"
    markers.mkdir()
    with StubServer(owned_by="vllm") as server:
        await bench_into(tmp_path / "local.db", data, server.url, workers=2, seeds=[0])
        server.requests.clear()
        task = functools.partial(dying_once, marker_dir=str(markers), victim="p05")
        ray_cluster = await RayCluster.connect("auto", engine="openai", options=options(server.url), chunk=4, task=task)
        try:
            await bench_into(tmp_path / "ray.db", data, server.url, seeds=[0], engine=ray_cluster)
        finally:
            await ray_cluster.aclose()
        posts = posted_problems(server)
    assert [m.name for m in markers.iterdir()] != []  # the worker did die once
    killed = {"p04", "p05", "p06", "p07"}  # the victim's chunk: solved twice, stored once
    once = posts["p00"]
    assert {p for p, n in posts.items() if n == 2 * once} == killed
    assert all(n == once for p, n in posts.items() if p not in killed) and len(posts) == COUNT
    rows = stored_rows(tmp_path / "ray.db")
    assert len(rows) == COUNT and rows == stored_rows(tmp_path / "local.db")


async def test_endpoints_are_spread_over_the_tasks(cluster: str, data: Path, tmp_path: Path) -> None:
    with StubServer(owned_by="vllm") as one, StubServer(owned_by="vllm") as two:
        await bench_into(tmp_path / "ray.db", data, f"{one.url},{two.url}", seeds=[0], ray="auto", ray_chunk=5)
        first, second = posted_problems(one), posted_problems(two)
        await bench_into(tmp_path / "local.db", data, one.url, seeds=[0])
    assert first and second and not set(first) & set(second)  # each chunk went to one server
    assert len(first) == len(second) == COUNT // 2
    assert stored_rows(tmp_path / "ray.db") == stored_rows(tmp_path / "local.db")
    store = BenchStore(tmp_path / "ray.db", writable=False)
    [run] = store.runs()
    store.close()
    assert run.settings["engine_details"]["endpoints"] == [one.url, two.url]


async def test_a_rerun_solves_only_what_is_not_stored(cluster: str, data: Path, tmp_path: Path) -> None:
    with StubServer(owned_by="vllm") as server:
        await bench_into(tmp_path / "b.db", data, server.url, seeds=[0], limit=10)  # in-process, first 10
        server.requests.clear()
        [totals] = await bench_into(tmp_path / "b.db", data, server.url, seeds=[0], ray="auto")
        assert set(posted_problems(server)) == {f"p{i:02d}" for i in range(10, COUNT)}
        server.requests.clear()
        [again] = await bench_into(tmp_path / "b.db", data, server.url, seeds=[0], ray="auto")
        assert server.posts() == []
    assert (totals.solved, totals.new, again.solved, again.new) == (COUNT, COUNT - 10, COUNT, 0)


async def test_an_engine_that_cannot_serve_stops_the_run(cluster: str, data: Path, tmp_path: Path) -> None:
    started = time.monotonic()
    with pytest.raises(BackendUnavailableError):
        await bench_into(tmp_path / "b.db", data, "http://127.0.0.1:9", seeds=[0], ray="auto")
    assert time.monotonic() - started < 30
    assert stored_rows(tmp_path / "b.db") == []


async def test_an_engine_the_workers_cannot_create_is_one_clear_error(cluster: str, data: Path, tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="engine 'openai' has no option 'bogus'"):  # checked here, first
        await bench_into(
            tmp_path / "a.db",
            data,
            "http://127.0.0.1:9",
            ray="auto",
            engine_options={**options("http://127.0.0.1:9"), "bogus": "1"},
        )
    with pytest.raises(InvalidInputError, match="base URL must start with http:// or https://"):  # on a worker
        await bench_into(tmp_path / "b.db", data, "ftp://nowhere", ray="auto")


# -- the command line --------------------------------------------------------------------------


def bench_args(data: Path, db: Path, url: str, address: str | None, *extra: str) -> list[str]:
    return [
        "bench",
        str(data),
        "--engine",
        "openai",
        "--base-url",
        url,
        "--model",
        "stub-model",
        "--budget",
        "2",
        *(["--ray", address] if address else []),
        "--db",
        str(db),
        "--quiet",
        *extra,
    ]


def test_cli_ray_runs_and_refuses_a_bad_chunk_in_one_line(cluster: str, data: Path, tmp_path: Path) -> None:
    with StubServer(owned_by="vllm") as server:
        result = CliRunner().invoke(cli, bench_args(data, tmp_path / "b.db", server.url, "auto", "--limit", "8"))
        assert result.exit_code == 0, result.output
        assert "self-consistency@2 seed=0" in result.stdout and "(4/8, 8 new)" in result.stdout
        bad = CliRunner().invoke(cli, bench_args(data, tmp_path / "c.db", server.url, "auto", "--ray-chunk", "0"))
    assert bad.exit_code == 1 and "Traceback" not in bad.stderr
    assert bad.stderr.strip().splitlines() == [
        "error: the Ray chunk size must be an integer >= 1 (problems per task), got 0"
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


def test_a_driver_killed_mid_run_resumes_losing_and_repeating_nothing(cluster: str, data: Path, tmp_path: Path) -> None:
    killed, whole = tmp_path / "killed.db", tmp_path / "whole.db"
    limit = ("--limit", "16")
    command = [sys.executable, "-m", "ponder.cli.main"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    with StubServer(owned_by="vllm") as server:
        server.delay = 0.2  # each answer takes a while, so the kill lands mid-run
        process = subprocess.Popen(
            [*command, *bench_args(data, killed, server.url, cluster, "--ray-chunk", "2", *limit)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            deadline = time.monotonic() + 60
            while count_rows(killed) < 4:
                assert process.poll() is None, process.stderr.read() if process.stderr else ""
                assert time.monotonic() < deadline, "the run stored nothing"
                time.sleep(0.02)
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        connection = sqlite3.connect(killed)  # writable: a commit cut short by the kill is rolled back
        kept = int(connection.execute("SELECT COUNT(*) FROM results").fetchone()[0])
        connection.close()
        assert 4 <= kept < 16
        server.delay = 0.0
        time.sleep(0.5)  # the killed driver's tasks die with it
        server.requests.clear()
        resumed = CliRunner().invoke(cli, bench_args(data, killed, server.url, "auto", *limit))
        assert resumed.exit_code == 0, resumed.output
        assert len(posted_problems(server)) == 16 - kept  # only what the killed run did not store
        assert CliRunner().invoke(cli, bench_args(data, whole, server.url, None, *limit)).exit_code == 0
    assert stored_rows(killed) == stored_rows(whole)
