"""Where features meet: pipeline and memory rows in the report's
saturation families, pipelines alone with strategy-only options, ``pipeline`` named on a server
with an operator pipeline, and hogwild under a bench update interrupt."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ponder.bench.api import abench
from ponder.bench.interrupts import check_interruptible
from ponder.bench.report import saturation_budgets
from ponder.bench.store import BenchStore
from ponder.bench.types import BenchRow, Config, canonical_pipeline
from ponder.core.errors import InvalidInputError
from ponder.engines import FakeEngine
from ponder.pipelines.pipeline import Pipeline
from ponder.serve.completion import build_job
from ponder.serve.config import ServeConfig
from ponder.serve.schemas import ChatRequest

SC3 = {"name": "sc3", "layers": [{"type": "strategy", "name": "self-consistency", "budget": 3}]}
GREEDY1 = {"name": "greedy1", "layers": [{"type": "strategy", "name": "greedy", "budget": 1}]}
MEMORY = json.dumps({"path": "/somewhere/mem.db", "selection": "lexical"}, sort_keys=True, separators=(",", ":"))


def _config(budget: int, **extra: str) -> Config:
    strategy = "pipeline" if "pipeline" in extra else "self-consistency"
    return Config("toy", strategy, budget, 0, 0.8, 64, "fake", "m", **extra)  # type: ignore[arg-type]


def _row(problem: int) -> BenchRow:
    return BenchRow(
        problem_id=f"p{problem}",
        question="q",
        gold="4",
        answer="4",
        correct=True,
        stop_reason="done",
        prompt_tokens=10,
        completion_tokens=5,
    )


def test_saturation_families_name_their_pipeline_interrupt_and_memory(tmp_path: Path) -> None:
    """Before the fix two pipelines' families were both ``pipeline@N ...`` and an interrupted
    family read like the uninterrupted one."""
    configs = [
        _config(3, pipeline=canonical_pipeline(SC3)),
        _config(1, pipeline=canonical_pipeline(GREEDY1)),
        _config(2),
        _config(2, interrupt="hard@0.5"),
        _config(3, pipeline=canonical_pipeline(SC3), memory=MEMORY),
    ]
    store = BenchStore(tmp_path / "b.db")
    run = store.start_run(ponder_version="t", dataset="toy", engine="fake", model="m", model_sha256=None, settings={})
    for config in configs:
        config_id = store.config_id(run, config)
        for i in range(3):
            store.add_result(config_id, _row(i))
    store.close()
    families = [s.family for s in saturation_budgets(tmp_path / "b.db")]
    assert families == [
        "pipeline sc3@N T=0.8 seed=0",
        "pipeline greedy1@N T=0.8 seed=0",
        "self-consistency@N T=0.8 seed=0",
        "self-consistency@N T=0.8 seed=0 hard@0.5",
        "pipeline sc3@N T=0.8 seed=0 memory=mem.db",
    ]
    assert len(set(families)) == len(families)
    # each family label is its configurations' label with the budget as N
    assert [c.label.replace(f"@{c.budget}", "@N") for c in configs] == families


@pytest.mark.parametrize(
    ("options", "message"),
    [({"budgets": [8]}, "--budget and --option"), ({"options": {"n": 2}}, "--budget and --option")],
)
async def test_pipelines_alone_refuse_strategy_budgets_and_options(
    tmp_path: Path, options: dict[str, object], message: str
) -> None:
    """Before the fix they were silently ignored: ``bench -p FILE -n 8`` ran at the pipeline's budget."""
    toy = tmp_path / "toy.jsonl"
    toy.write_text(json.dumps({"id": "p0", "question": "What is 1 + 1?", "answer": "2"}) + "\n", encoding="utf-8")
    with pytest.raises(InvalidInputError, match=message):
        await abench(
            str(toy),
            strategies=[],
            pipelines=[SC3],
            db=tmp_path / "b.db",
            engine=FakeEngine(lambda r, i: "4"),
            **options,  # type: ignore[arg-type]
        )
    assert not (tmp_path / "b.db").exists()  # refused before the store was created


def _job(config: ServeConfig, **body: object) -> Pipeline:
    request = ChatRequest(**{"model": "ponder", "messages": [{"role": "user", "content": "What is 2+2?"}], **body})  # type: ignore[arg-type]
    algorithm = build_job(request, config).plans[0].algorithm
    assert isinstance(algorithm, Pipeline)
    return algorithm


@pytest.mark.parametrize("body", [{"ponder": {"strategy": "pipeline"}}, {"model": "ponder::pipeline"}])
def test_a_request_naming_pipeline_runs_the_operators_pipeline(body: dict[str, object]) -> None:
    """Before the fix it ran the built-in default pipeline (generate-critique-fuse) instead."""
    config = ServeConfig(default_pipeline=SC3)
    algorithm = _job(config, **body)
    assert algorithm.config.name == "sc3" and algorithm.config.generations() == 3
    assert _job(ServeConfig(), **body).config.name != "sc3"  # without one: the built-in default pipeline, as before


def test_a_bench_update_interrupt_is_refused_for_hogwild() -> None:
    """Before the fix the update was silently never delivered and the rows stored as an update run."""
    with pytest.raises(InvalidInputError, match="hogwild cannot deliver an update"):
        check_interruptible(["", "update@0.5:update"], ["self-consistency", "hogwild"])
    check_interruptible(["", "hard@0.5", "soft@0.5"], ["hogwild"])  # hard and soft do reach its workers
