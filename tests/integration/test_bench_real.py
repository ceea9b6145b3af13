"""`ponder bench` and `ponder report` end to end on the embedded model (three problems)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ponder.bench.store import BenchStore

pytestmark = pytest.mark.model


def ponder_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ponder.cli.main", *args], capture_output=True, text=True, timeout=600)


def test_bench_resumes_and_reports(tmp_path: Path) -> None:
    db = tmp_path / "bench.db"
    args = (
        "bench",
        "mawps-singleop",
        "--limit",
        "2",
        "--strategy",
        "greedy,self-consistency",
        "--budget",
        "2",
        "--max-tokens",
        "32",
        "--db",
        str(db),
        "--quiet",
    )
    first = ponder_cli(*args)
    assert first.returncode == 0, first.stderr
    assert "(2 new)" in first.stdout
    more = ponder_cli(*args[:3], "3", *args[4:])  # one more problem: only it runs
    assert more.returncode == 0, more.stderr
    assert more.stdout.count("(1 new)") == 2
    store = BenchStore(db)
    rows = store.configs()
    assert [r.label for r in rows] == ["greedy@2 seed=0", "self-consistency@2 seed=0"]
    results = list(store.results(rows[1].id))
    assert len(results) == 3 and all(len(r.candidates) == 2 for r in results)
    assert all(r.prompt_tokens_computed < r.prompt_tokens for r in results)
    store.close()
    report = ponder_cli("report", "--db", str(db), "--out", str(tmp_path / "report"), "--baseline", "greedy@2 seed=0")
    assert report.returncode == 0, report.stderr
    assert (tmp_path / "report" / "report.md").read_text().count("seed=0") >= 2
    assert (tmp_path / "report" / "accuracy_vs_tokens.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
