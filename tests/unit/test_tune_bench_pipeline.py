"""Pipelines in the bench runner (what ``ponder tune`` evaluates through): stored under their config,
resumed, keys of strategy configurations unchanged, ``abench(pipelines=...)`` and ``ponder bench --pipeline``."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest
from click.testing import CliRunner

from ponder.bench.api import abench
from ponder.bench.runner import run_benchmark
from ponder.bench.store import BenchStore
from ponder.bench.types import Config, Problem, StoredConfig, canonical_pipeline
from ponder.cli.main import cli
from ponder.core.errors import BackendUnavailableError, InvalidInputError
from ponder.core.params import NoParams
from ponder.engines import FakeEngine, registry
from ponder.engines.base import Completion, GenerationRequest
from ponder.engines.plugin import EnginePlugin

PROBLEMS = [
    Problem(id=f"p{i}", question=f"What is {i} + {i}?", gold=str(2 * i), grader="math", data={}) for i in range(5)
]
PIPELINE = {"name": "sc3", "layers": [{"type": "strategy", "name": "self-consistency", "budget": 3}]}


def doubling(request: GenerationRequest, index: int) -> str:
    question = request.messages[-1].content if request.messages else ""
    n = int(question.split()[2])
    return f"The answer is {2 * n}."


def pipeline_config(pipeline: dict[str, object] = PIPELINE) -> Config:
    return Config(
        dataset="toy",
        strategy="pipeline",
        budget=3,
        seed=0,
        temperature=None,
        max_tokens=32,
        engine="fake",
        model="scripted",
        pipeline=canonical_pipeline(pipeline),
    )


class Failing(FakeEngine):
    """Serves ``limit`` calls, then cannot serve."""

    def __init__(self, limit: int) -> None:
        super().__init__(doubling)
        self.limit = limit

    async def generate(self, requests: Sequence[GenerationRequest]) -> list[list[Completion]]:
        if self.calls >= self.limit:
            raise BackendUnavailableError("gone")
        return await super().generate(requests)


def test_strategy_keys_and_labels_are_unchanged_and_pipelines_have_their_own() -> None:
    strategy = Config("toy", "self-consistency", 3, 0, None, 32, "fake", "scripted")
    assert "pipeline" not in json.loads(strategy.key) and strategy.label == "self-consistency@3 seed=0"
    piped = pipeline_config()
    assert json.loads(piped.key)["pipeline"] == PIPELINE
    assert piped.label == "pipeline sc3@3 seed=0"
    other = pipeline_config({**PIPELINE, "layers": [{**PIPELINE["layers"][0], "temperature": 0.5}]})  # type: ignore[dict-item]
    assert other.key != piped.key
    # the key does not depend on how the JSON text was written
    assert Config(**{**piped.__dict__, "pipeline": json.dumps(PIPELINE, indent=2)}).key == piped.key


async def test_the_runner_stores_pipeline_configurations_and_resumes_them(tmp_path: Path) -> None:
    store = BenchStore(tmp_path / "b.db")
    run = store.start_run(
        ponder_version="t", dataset="toy", engine="fake", model="scripted", model_sha256=None, settings={}
    )
    with pytest.raises(BackendUnavailableError):
        await run_benchmark(PROBLEMS, [pipeline_config()], engine=Failing(2), store=store, run_id=run, progress=False)
    [stored] = store.configs()
    assert len(store.done(stored.id)) == 2  # two problems solved before the engine went away
    engine = FakeEngine(doubling)
    [totals] = await run_benchmark(
        PROBLEMS, [pipeline_config()], engine=engine, store=store, run_id=run, progress=False
    )
    assert (totals.solved, totals.correct, totals.new) == (5, 5, 3) and engine.calls == 3
    [stored] = store.configs()
    assert stored.pipeline == canonical_pipeline(PIPELINE) and stored.config == pipeline_config()
    rows = list(store.results(stored.id))
    assert rows[0].trace[0]["components"][0]["strategy"] == "self-consistency"  # it ran as the pipeline
    store.close()
    # a reopened store reads the pipeline back from the key
    reopened = BenchStore(tmp_path / "b.db")
    assert reopened.configs()[0].pipeline == canonical_pipeline(PIPELINE)
    reopened.close()


def test_a_stored_strategy_configuration_has_no_pipeline() -> None:
    config = Config("toy", "greedy", 1, 0, None, 32, "fake", "scripted")
    row = {
        "id": 1,
        "run_id": 1,
        "key": config.key,
        "label": config.label,
        "dataset": "toy",
        "strategy": "greedy",
        "options": "{}",
        "budget": 1,
        "seed": 0,
        "temperature": None,
        "max_tokens": 32,
        "engine": "fake",
        "model": "scripted",
    }
    assert StoredConfig.from_row(row).pipeline == "" and StoredConfig.from_row(row).config == config


@pytest.fixture
def toy(tmp_path: Path) -> Path:
    path = tmp_path / "toy.jsonl"
    path.write_text("".join(json.dumps({"question": p.question, "answer": p.gold}) + "\n" for p in PROBLEMS))
    return path


async def test_abench_runs_pipelines_beside_strategies(tmp_path: Path, toy: Path) -> None:
    file = tmp_path / "sc3.yaml"
    file.write_text("layers:\n  - type: strategy\n    name: self-consistency\n    budget: 3\n")
    db = tmp_path / "b.db"
    totals = await abench(
        str(toy), strategies=["greedy"], pipelines=[file], db=db, engine=FakeEngine(doubling), progress=False
    )
    assert [t.label for t in totals] == ["greedy@1 seed=0", "pipeline sc3@3 seed=0"]
    assert all(t.accuracy == 1.0 for t in totals)
    engine = FakeEngine(doubling)
    again = await abench(str(toy), strategies=[], pipelines=[file], db=db, engine=engine, progress=False)
    assert [t.new for t in again] == [0] and engine.calls == 0  # resumed: nothing to solve


async def test_abench_checks_pipelines_before_running(tmp_path: Path, toy: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("layers:\n  - type: generator\n    samples: four\n")
    engine = FakeEngine(doubling)
    with pytest.raises(InvalidInputError, match=r"bad.yaml:3: layers\[0\].samples"):
        await abench(str(toy), pipelines=[bad], db=tmp_path / "b.db", engine=engine, progress=False)
    named = tmp_path / "named.yaml"
    named.write_text("layers:\n  - type: generator\n    model: judge\n")
    with pytest.raises(InvalidInputError, match="names model 'judge'"):
        await abench(str(toy), pipelines=[named], db=tmp_path / "b.db", engine=engine, progress=False)
    with pytest.raises(InvalidInputError, match="pipelines run uninterrupted"):
        await abench(str(toy), pipelines=[PIPELINE], interrupts=["hard@0.5"], db=tmp_path / "b.db", engine=engine)
    assert engine.calls == 0


def test_ponder_bench_takes_pipeline_files(tmp_path: Path, toy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    plugin = EnginePlugin(
        name="scripted",
        summary="test",
        Options=NoParams,
        factory=lambda options: FakeEngine(doubling),
        spec_option=None,
    )
    monkeypatch.setitem(registry.BUILTIN, "scripted", plugin)
    file = tmp_path / "sc3.yaml"
    file.write_text(json.dumps(PIPELINE))
    db = tmp_path / "b.db"
    result = CliRunner().invoke(
        cli, ["bench", str(toy), "--pipeline", str(file), "--engine", "scripted", "--db", str(db), "--quiet"]
    )
    assert result.exit_code == 0, result.output
    assert "pipeline sc3@3 seed=0" in result.stdout and "self-consistency@1" not in result.stdout
