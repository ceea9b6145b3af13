"""`ponder bench --workers N` and `--deterministic` on the embedded model (six problems)."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ponder.bench.store import BenchStore
from ponder.engines.registry import engine_plugin

pytestmark = pytest.mark.model

VARYING = (
    "seconds",
    "created",
    "config_id",
    "prompt_tokens_computed",  # timings, and what the cache held
    "scorer_prompt_tokens_computed",
)


def ponder_bench(db: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    args = [
        "bench",
        "mawps-singleop",
        "--limit",
        "6",
        "--strategy",
        "greedy,self-consistency",
        "--budget",
        "2",
        "--temperature",
        "0.8",
        "--max-tokens",
        "32",
        "--db",
        str(db),
        "--quiet",
        *extra,
    ]
    return subprocess.run([sys.executable, "-m", "ponder.cli.main", *args], capture_output=True, text=True, timeout=900)


def rows(db: Path) -> list[dict[str, Any]]:
    connection = sqlite3.connect(db)
    connection.row_factory = sqlite3.Row
    try:
        found = connection.execute(
            "SELECT configs.key AS config_key, results.* FROM results JOIN configs ON configs.id = results.config_id"
        ).fetchall()
    finally:
        connection.close()
    kept = [{k: row[k] for k in row.keys() if k not in VARYING} for row in found]  # noqa: SIM118 (a Row)
    return sorted(kept, key=lambda r: (r["config_key"], r["problem_id"]))


def test_four_workers_store_every_problem_once(tmp_path: Path) -> None:
    db = tmp_path / "four.db"
    result = ponder_bench(db, "--workers", "4")
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("(6 new)") == 2
    stored = rows(db)
    assert len(stored) == 12 and len({(r["config_key"], r["problem_id"]) for r in stored}) == 12
    store = BenchStore(db)
    [run] = store.runs()
    store.close()
    assert run.workers == 4 and not run.deterministic


def test_deterministic_runs_reproduce_bit_for_bit_for_any_workers(tmp_path: Path) -> None:
    if "deterministic" not in engine_plugin("llama").option_names():
        pytest.skip("the embedded engine has no deterministic option yet")
    one, four, again = tmp_path / "one.db", tmp_path / "four.db", tmp_path / "again.db"
    for db, workers in ((one, "1"), (four, "4"), (again, "4")):
        result = ponder_bench(db, "--deterministic", "--workers", workers)
        assert result.returncode == 0, result.stderr
        assert "warning" not in result.stderr
    assert len(rows(one)) == 12
    assert rows(four) == rows(one)  # texts, answers, votes, traces, token counts: all the same
    assert rows(again) == rows(four)
    store = BenchStore(four)
    [run] = store.runs()
    store.close()
    assert run.deterministic and run.workers == 4
