"""Probe: a huge budget is refused before anything is allocated (a result keeps every sample)."""

from __future__ import annotations

from pathlib import Path

import pytest

import ponder
from ponder.bench.api import bench
from ponder.core.budget import MAX_GENERATIONS, Budget
from ponder.core.errors import InvalidInputError
from ponder.engines import FakeEngine


def test_a_budget_above_the_cap_is_one_clear_error() -> None:
    engine = FakeEngine(["The answer is 4."])
    with pytest.raises(InvalidInputError, match=r"budget 1000000000 is above the most one run may start \(100000\)"):
        ponder.solve("What is 2+2?", engine=engine, budget=1_000_000_000, time_budget=5)
    assert engine.calls == 0


def test_the_cap_itself_is_allowed() -> None:
    assert Budget(MAX_GENERATIONS).generations == MAX_GENERATIONS


def test_a_benchmark_refuses_a_huge_budget_before_it_runs(tmp_path: Path) -> None:
    db = tmp_path / "b.db"
    with pytest.raises(InvalidInputError, match="above the most one run may start"):
        bench("mawps-singleop", budgets=[10**9], engine=FakeEngine(["4"]), db=db, progress=False)
    assert not db.exists()
