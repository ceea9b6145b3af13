"""``ponder bench --deterministic``: the engine option passed through, the mode in the run's metadata
(old stores read as not deterministic), refused resumes across modes, the mode in the report."""

from __future__ import annotations

import json
import sqlite3
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import pytest
from click.testing import CliRunner
from tests.support.echo_engine import ECHO

from ponder.bench.api import DeterminismWarning, abench
from ponder.bench.report import write_report
from ponder.bench.store import MIGRATIONS, SCHEMA_VERSION, BenchStore
from ponder.cli.main import cli
from ponder.core.errors import InvalidInputError
from ponder.core.params import param
from ponder.engines import FakeEngine, registry
from ponder.engines.base import EngineInfo
from ponder.engines.plugin import EnginePlugin


@dataclass(frozen=True)
class SteadyOptions:
    model: str = param("steady-1", "the model name it reports")
    deterministic: bool = param(False, "reproduce bit for bit")


class SteadyEngine(FakeEngine):
    """An engine whose plugin declares ``deterministic``; it remembers every engine made."""

    made: ClassVar[list[SteadyEngine]] = []

    def __init__(self, options: SteadyOptions) -> None:
        super().__init__(lambda request, index: "The answer is 4.")
        self.options = options
        self.info = EngineInfo(name="steady", model=options.model, details={"deterministic": options.deterministic})
        SteadyEngine.made.append(self)


STEADY = EnginePlugin(name="steady", summary="deterministic when asked", Options=SteadyOptions, factory=SteadyEngine)


@pytest.fixture(autouse=True)
def plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(registry.BUILTIN, "steady", STEADY)
    monkeypatch.setitem(registry.BUILTIN, "echo", ECHO)  # no deterministic option
    SteadyEngine.made.clear()


@pytest.fixture
def toy(tmp_path: Path) -> Path:
    path = tmp_path / "toy.jsonl"
    path.write_text(
        "".join(json.dumps({"question": f"What is {i} + {4 - i}?", "answer": "4"}) + "\n" for i in range(5))
    )
    return path


async def test_the_option_reaches_an_engine_that_declares_it(toy: Path, tmp_path: Path) -> None:
    db = tmp_path / "b.db"
    [totals] = await abench(str(toy), engine="steady", db=db, deterministic=True, workers=3, progress=False)
    assert totals.correct == 5
    [engine] = SteadyEngine.made
    assert engine.options.deterministic is True
    store = BenchStore(db)
    [run] = store.runs()
    store.close()
    assert run.deterministic and run.mode == "deterministic" and run.workers == 3 and run.engine == "steady"


async def test_without_the_flag_the_engine_is_made_as_before(toy: Path, tmp_path: Path) -> None:
    db = tmp_path / "b.db"
    await abench(str(toy), engine="steady", db=db, progress=False)
    assert SteadyEngine.made[0].options.deterministic is False
    store = BenchStore(db)
    [run] = store.runs()
    store.close()
    assert not run.deterministic and run.mode == "default" and run.workers == 1


async def test_the_engine_option_alone_makes_a_deterministic_run(toy: Path, tmp_path: Path) -> None:
    db = tmp_path / "b.db"
    await abench(str(toy), engine="steady", engine_options={"deterministic": "true"}, db=db, progress=False)
    assert SteadyEngine.made[0].options.deterministic is True
    store = BenchStore(db)
    [run] = store.runs()
    store.close()
    assert run.deterministic


async def test_an_engine_without_the_option_warns_and_runs(toy: Path, tmp_path: Path) -> None:
    db = tmp_path / "b.db"
    with pytest.warns(DeterminismWarning, match="engine 'echo' has no deterministic mode"):
        await abench(str(toy), engine="echo", db=db, deterministic=True, progress=False)
    store = BenchStore(db)
    [run] = store.runs()
    store.close()
    assert run.deterministic


async def test_a_passed_engine_made_nondeterministic_is_refused(toy: Path, tmp_path: Path) -> None:
    engine = SteadyEngine(SteadyOptions(deterministic=False))
    with pytest.raises(InvalidInputError, match="created with deterministic=True"):
        await abench(str(toy), engine=engine, db=tmp_path / "b.db", deterministic=True, progress=False)
    made = SteadyEngine(SteadyOptions(deterministic=True))
    await abench(str(toy), engine=made, db=tmp_path / "b.db", deterministic=True, progress=False)
    await abench(str(toy), engine=made, db=tmp_path / "c.db", progress=False)  # its details say so
    for db in ("b.db", "c.db"):
        store = BenchStore(tmp_path / db)
        assert [run.deterministic for run in store.runs()] == [True]
        store.close()


async def test_a_configuration_is_not_resumed_in_the_other_mode(toy: Path, tmp_path: Path) -> None:
    db = tmp_path / "b.db"
    await abench(str(toy), engine=FakeEngine(["The answer is 4."]), db=db, limit=2, progress=False)
    with pytest.raises(InvalidInputError, match="by a run without --deterministic; rerun without it"):
        await abench(str(toy), engine=FakeEngine(["The answer is 4."]), db=db, deterministic=True, progress=False)
    store = BenchStore(db)
    assert len(store.runs()) == 1  # the refused run stored nothing, not even its metadata
    store.close()
    [totals] = await abench(str(toy), engine=FakeEngine(["The answer is 4."]), db=db, progress=False)
    assert (totals.solved, totals.new) == (5, 3)
    # another configuration in the same store may use the other mode
    [other] = await abench(
        str(toy), engine=FakeEngine(["The answer is 4."]), db=db, budgets=[2], deterministic=True, progress=False
    )
    assert other.new == 5


async def test_workers_are_checked_before_anything_is_made(toy: Path, tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="workers must be an integer >= 1"):
        await abench(str(toy), engine="steady", db=tmp_path / "b.db", workers=0)
    assert SteadyEngine.made == [] and not (tmp_path / "b.db").exists()


def test_a_version_1_store_is_upgraded_and_its_runs_read_as_default(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    connection = sqlite3.connect(path)
    connection.executescript(MIGRATIONS[1])
    connection.execute("PRAGMA user_version = 1")
    connection.execute(
        "INSERT INTO runs (created, ponder_version, dataset, engine, model, model_sha256, settings)"
        " VALUES ('2024-01-01T00:00:00Z', '0.1', 'toy', 'llama', 'm', NULL, '{\"limit\": 3}')"
    )
    connection.commit()
    connection.close()
    store = BenchStore(path)
    assert store.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 4
    columns = {row[1] for row in store.db.execute("PRAGMA table_info(results)")}
    assert "scorer_prompt_tokens_computed" in columns  # version 3: judges' computed prompt tokens
    assert "interrupt" in {row[1] for row in store.db.execute("PRAGMA table_info(configs)")}  # version 4
    [run] = store.runs()
    assert (run.deterministic, run.mode, run.workers, run.settings) == (False, "default", 1, {"limit": 3})
    new = store.start_run(
        ponder_version="t", dataset="toy", engine="e", model="m", model_sha256=None, settings={}, deterministic=True
    )
    assert [r.deterministic for r in store.runs()] == [False, True] and new == 2
    store.close()


async def test_the_report_shows_each_runs_mode(toy: Path, tmp_path: Path) -> None:
    db = tmp_path / "b.db"
    await abench(str(toy), engine="steady", db=db, progress=False)
    await abench(str(toy), engine="steady", db=db, budgets=[2], deterministic=True, workers=2, progress=False)
    markdown = write_report(db, tmp_path / "out", resamples=50).markdown.read_text(encoding="utf-8")
    runs = markdown[markdown.index("## Runs") :].splitlines()
    assert runs[2].startswith("| Run |") and "| Mode | Workers |" in runs[2]
    assert runs[4].startswith("| 1 |") and runs[4].endswith("| steady | steady-1 | default | 1 |")
    assert runs[5].startswith("| 2 |") and runs[5].endswith("| steady | steady-1 | deterministic | 2 |")


def test_cli_deterministic_with_workers(toy: Path, tmp_path: Path) -> None:
    db = tmp_path / "b.db"
    result = CliRunner().invoke(
        cli, ["bench", str(toy), "--engine", "steady", "--deterministic", "--workers", "2", "--db", str(db), "--quiet"]
    )
    assert result.exit_code == 0, result.output
    assert "warning" not in result.stderr and "100.0%" in result.stdout
    assert SteadyEngine.made[0].options.deterministic is True
    store = BenchStore(db)
    [run] = store.runs()
    store.close()
    assert run.deterministic and run.workers == 2


def test_cli_deterministic_on_an_engine_without_the_mode_warns_in_one_line(toy: Path, tmp_path: Path) -> None:
    with warnings.catch_warnings():
        result = CliRunner().invoke(
            cli, ["bench", str(toy), "--engine", "echo", "--deterministic", "--db", str(tmp_path / "b.db"), "--quiet"]
        )
    assert result.exit_code == 0, result.output
    [line] = [line for line in result.stderr.splitlines() if "deterministic" in line]
    assert line.startswith("warning: engine 'echo' has no deterministic mode")
    assert "Warning" not in result.stderr and "warnings.warn" not in result.stderr
