"""``benchmarks/interrupts.py`` end to end on its scripted dry-run engine (``--engine fake``): the
bench runs, the table, the JSON and the picture are written, and a rerun resumes."""

from __future__ import annotations

import asyncio
import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def load_benchmark():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("interrupts_benchmark", ROOT / "benchmarks" / "interrupts.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_benchmark_dry_run_writes_its_table_json_and_picture(tmp_path: Path) -> None:
    benchmark = load_benchmark()
    argv = ["--engine", "fake", "--problems", "3", "--max-tokens", "64", "--workers", "2", "--quiet"]
    args = benchmark.parser().parse_args([*argv, "--db", str(tmp_path / "i.db"), "--out", str(tmp_path)])
    summary = asyncio.run(benchmark.run(args))

    assert [c["label"] for c in summary["configs"]][:2] == ["greedy@1 seed=0", "greedy@1 seed=0 hard@0.2"]
    assert len(summary["configs"]) == 1 + 3 * 4 and all(c["solved"] == 3 for c in summary["configs"])
    [group] = summary["groups"]
    assert group["baseline"] == 1.0 and len(group["points"]) == 12
    assert {p["mode"] for p in group["points"]} == {"hard", "soft", "update"}
    assert all(p["interrupted"] == 3 for p in group["points"])  # every run reached its point
    accuracy = {p["spec"]: p["accuracy"] for p in group["points"]}
    assert accuracy["hard@0.2"] == 0.0 and accuracy["hard@0.4"] == 1.0  # the fake needs 16 words of reasoning
    assert all(accuracy[spec] == 1.0 for spec in ("soft@0.2", "soft@0.8", "update@0.2:update", "update@0.8:update"))
    table = (tmp_path / "interrupts.md").read_text()
    assert "| hard@0.2 | 3 | 3 | 0.0% | -100.0 pt |" in table and "update@0.8:update" in table
    assert (tmp_path / "interrupts.png").read_bytes()[:4] == b"\x89PNG"
    assert json.loads((tmp_path / "interrupts.json").read_text())["problems"] == 3

    again = asyncio.run(benchmark.run(args))
    assert all(c["new"] == 0 for c in again["configs"])  # resumed from the store
