"""Probe: a benchmark database that cannot be opened or written is one `error:` line, not a traceback."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from ponder.bench.store import BenchStore, BenchStoreError
from ponder.cli.main import cli

BENCH = ["bench", "mawps-singleop", "--limit", "1", "--engine", "openai", "--base-url", "http://127.0.0.1:9"]


def test_a_database_in_a_missing_folder_is_one_error_line(tmp_path: Path) -> None:
    db = tmp_path / "missing" / "x.db"
    result = CliRunner().invoke(cli, [*BENCH, "--db", str(db)])
    assert result.exit_code != 0
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert f"cannot open the benchmark database {db}: the folder {db.parent} does not exist" in result.output
    assert "Traceback" not in result.output


def test_the_store_is_checked_before_the_engine_is_made(tmp_path: Path) -> None:
    """The probe's engine (nothing listens on port 9) would fail too: the store's error comes first."""
    result = CliRunner().invoke(cli, [*BENCH, "--db", str(tmp_path / "nope" / "x.db")])
    assert "benchmark database" in result.output
    assert "cannot reach" not in result.output


def test_a_folder_given_as_the_database_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BenchStoreError, match="is not a file"):
        BenchStore(tmp_path)


def test_a_report_on_a_missing_database_names_it(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["report", "--db", str(tmp_path / "none.db"), "--out", str(tmp_path / "r")])
    assert result.exit_code != 0
    assert "no benchmark database at" in result.output


READ_ONLY_PROBE = """
set -e
mount --bind "$DIR" "$DIR"
mount -o remount,bind,ro "$DIR"
"$PY" -c 'from ponder.cli.main import cli; cli()' bench mawps-singleop --limit 1 --engine openai \
    --base-url http://127.0.0.1:9 --db "$DIR/old.db" > "$OUT/existing.txt" 2>&1 || true
"$PY" -c 'from ponder.cli.main import cli; cli()' bench mawps-singleop --limit 1 --engine openai \
    --base-url http://127.0.0.1:9 --db "$DIR/new.db" > "$OUT/new.txt" 2>&1 || true
"$PY" -c 'from ponder.bench.store import BenchStore; print(len(BenchStore("'"$DIR"'/old.db", writable=None).runs()))' \
    > "$OUT/read.txt" 2>&1 || true
"""


def test_read_only_mounts_give_one_error_line_and_reports_still_read(tmp_path: Path) -> None:
    """A database on a read-only mount, and a new one in a read-only folder (run in a private
    mount namespace, so the read-only mount is real even for root)."""
    if shutil.which("unshare") is None:
        pytest.skip("needs unshare(1)")
    data, out = tmp_path / "data", tmp_path / "out"
    data.mkdir()
    out.mkdir()
    BenchStore(data / "old.db").close()
    probe = subprocess.run(
        ["unshare", "--mount", "--map-root-user", "sh", "-c", READ_ONLY_PROBE],
        env={
            "DIR": str(data),
            "OUT": str(out),
            "PY": sys.executable,
            "PATH": "/usr/bin:/bin",
            **{key: os.environ[key] for key in ("PYTHONPATH",) if key in os.environ},  # the ponder under test
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    if probe.returncode != 0:
        pytest.skip(f"cannot make a private read-only mount here: {probe.stderr.strip()[:200]}")
    existing = (out / "existing.txt").read_text()
    new = (out / "new.txt").read_text()
    assert f"error: cannot write the benchmark database {data / 'old.db'}: it is read-only" in existing, existing
    assert f"error: cannot open the benchmark database {data / 'new.db'}" in new, new
    assert "Traceback" not in existing + new
    assert (out / "read.txt").read_text().strip() == "0"  # a report can still read it
