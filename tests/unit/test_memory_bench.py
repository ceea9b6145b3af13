"""``ponder bench --memory FILE``: problems solved in order, each reading the memory and writing to
it once graded right; the order, seed and memory recorded; rows with and without memory apart;
the workers rule; and the resume guarantee (:mod:`ponder.bench.memory_run`). A scripted engine,
no model.

The toy data: apple problems ("has A apples and buys B more") and one pear problem. The engine
answers an apple problem right only when A is 1 or when the concept learned from a solved apple
problem is in its system prompt; it answers the pear problem wrong whatever it sees.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from ponder.bench.api import abench
from ponder.bench.report import saturation_budgets, write_report
from ponder.bench.store import BenchStore
from ponder.bench.types import BenchRow, StoredConfig
from ponder.cli.main import cli
from ponder.core.errors import BackendUnavailableError, InvalidInputError
from ponder.engines.base import Completion, GenerationRequest
from ponder.engines.fake import FakeEngine
from ponder.memory import Memory, MemoryStore, NewConcept
from ponder.memory.prompts import ABSTRACT_SYSTEM

CONCEPT = "situation: some apples are bought on top of the apples one has\nsuggestion: add the bought apples"
LINE = "- When some apples are bought on top of the apples one has: add the bought apples"
ROOT = Path(__file__).resolve().parents[2]
APPLES = re.compile(r"has (\d+) apples and buys (\d+) more")


def toy(path: Path) -> Path:
    """p0 (A = 1: solved without help), p1 and p2 (solved only with the concept), p3 (pears: never
    solved), p4 (solved only with the concept)."""
    rows = [
        {"id": "p0", "question": "Kim has 1 apples and buys 2 more apples. How many apples?", "answer": "3"},
        {"id": "p1", "question": "Lou has 4 apples and buys 5 more apples. How many apples?", "answer": "9"},
        {"id": "p2", "question": "Max has 6 apples and buys 2 more apples. How many apples?", "answer": "8"},
        {"id": "p3", "question": "Ned has 9 pears and gives away 4 pears. How many pears are left?", "answer": "5"},
        {"id": "p4", "question": "Oli has 3 apples and buys 3 more apples. How many apples?", "answer": "6"},
    ]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def is_abstraction(request: GenerationRequest) -> bool:
    return request.messages is not None and request.messages[0].content == ABSTRACT_SYSTEM


def script(request: GenerationRequest, index: int) -> str:
    if is_abstraction(request):
        return CONCEPT
    assert request.messages is not None
    system, question = request.messages[0].content, request.messages[-1].content
    apples = APPLES.search(question)
    if apples is None:
        return "The answer is 13."  # the pear problem: always wrong
    a, b = int(apples.group(1)), int(apples.group(2))
    return f"The answer is {a + b}." if a == 1 or LINE in system else f"The answer is {a}."


class Engine(FakeEngine):
    """The scripted engine; ``fail_on`` makes the first request whose prompt contains that text
    fail as if the backend went away (once)."""

    def __init__(self, fail_on: str | None = None) -> None:
        super().__init__(script)
        self.fail_on = fail_on

    async def generate(self, requests: Sequence[GenerationRequest]) -> list[list[Completion]]:
        for request in requests:
            text = json.dumps([m.content for m in request.messages or ()])
            if self.fail_on is not None and self.fail_on in text:
                self.fail_on = None
                raise BackendUnavailableError("the backend went away")
        return await super().generate(requests)


def bench(data: Path, db: Path, engine: FakeEngine, **options: Any) -> list[Any]:
    return asyncio.run(abench(str(data), budgets=[2], engine=engine, db=db, progress=False, **options))


def stored(db: Path) -> dict[str, tuple[StoredConfig, list[BenchRow]]]:
    store = BenchStore(db, writable=False)
    try:
        return {config.label: (config, list(store.results(config.id))) for config in store.configs()}
    finally:
        store.close()


def comparable(row: BenchRow) -> dict[str, Any]:
    """A row without what differs between any two runs (timings)."""

    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k not in ("wall_seconds", "seconds", "created")}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    return strip(row.to_dict())


def test_problems_read_what_earlier_problems_wrote_and_only_right_rows_write(tmp_path: Path) -> None:
    data, memory = toy(tmp_path / "toy.jsonl"), tmp_path / "memory.db"
    [totals] = bench(data, tmp_path / "bench.db", Engine(), memory=memory)
    [(_, rows)] = stored(tmp_path / "bench.db").values()
    by_id = {row.problem_id: row for row in rows}
    assert {p: r.correct for p, r in by_id.items()} == {"p0": True, "p1": True, "p2": True, "p3": False, "p4": True}
    assert totals.correct == 4
    assert by_id["p0"].trace[0]["ids"] == [] and by_id["p1"].trace[0]["ids"] == [1]  # learned from p0
    assert by_id["p3"].trace[-1]["decision"] == "skip" and by_id["p3"].trace[-1]["verified"] is False
    with MemoryStore(memory) as store:
        assert [a.source for a in store.additions()] == [f"{data}#p0", f"{data}#p1", f"{data}#p2", f"{data}#p4"]
        assert [a.added for a in store.additions()] == [True, False, False, False]  # the same concept, matched
        [concept] = store.concepts()
        assert concept.uses == 4 and concept.successes == 3  # p1, p2, p4 right with it; p3 wrong
    # each row keeps its memory tokens (the abstraction's) in its trace and its usage
    write = by_id["p0"].trace[-1]
    assert write["usage"]["completion_tokens"] == len(CONCEPT.split())
    assert by_id["p0"].completion_tokens == write["usage"]["completion_tokens"] + sum(
        c.completion_tokens for c in by_id["p0"].candidates
    )
    assert [w["memory_additions"] for w in (by_id[p].trace[-1] for p in ("p0", "p1", "p2", "p3", "p4"))] == [
        1,
        2,
        3,
        3,
        4,
    ]


def test_the_run_records_the_memory_its_order_and_seed(tmp_path: Path) -> None:
    data, memory = toy(tmp_path / "toy.jsonl"), tmp_path / "memory.db"
    with MemoryStore(memory) as store:
        store.add([NewConcept("a pear problem", "subtract what is given away", "elsewhere")])
    bench(data, tmp_path / "bench.db", Engine(), memory=memory, seeds=[3])
    store = BenchStore(tmp_path / "bench.db", writable=False)
    [run] = store.runs()
    store.close()
    recorded = run.settings["memory"]
    assert recorded["order"] == ["p0", "p1", "p2", "p3", "p4"] and recorded["seed"] == [3]
    assert recorded["path"] == str(memory.resolve()) and recorded["concepts"] == 1 and recorded["additions"] == 1
    assert recorded["selection"] == "lexical" and recorded["write"] == "verified"
    assert len(recorded["sha256"]) == 64 and recorded["size"] > 0


def test_rows_with_and_without_memory_are_separate_configurations(tmp_path: Path) -> None:
    data, db = toy(tmp_path / "toy.jsonl"), tmp_path / "bench.db"
    bench(data, db, Engine(), memory=tmp_path / "a.db")
    bench(data, db, Engine())
    bench(data, db, Engine(), memory=tmp_path / "b.db", memory_selection="model")
    configs = stored(db)
    assert sorted(configs) == [
        "self-consistency@2 seed=0",
        "self-consistency@2 seed=0 memory=a.db",
        "self-consistency@2 seed=0 memory=b.db",
    ]
    assert sum(r.correct for r in configs["self-consistency@2 seed=0"][1]) == 1  # only p0 without memory
    assert sum(r.correct for r in configs["self-consistency@2 seed=0 memory=a.db"][1]) == 4
    for config, _ in configs.values():
        assert config.config.key == config.key  # read back from the store, the same identity
    model = configs["self-consistency@2 seed=0 memory=b.db"][0]
    assert json.loads(model.memory)["selection"] == "model"
    assert "memory" not in json.loads(configs["self-consistency@2 seed=0"][0].key)


def test_the_report_keeps_memory_configurations_apart(tmp_path: Path) -> None:
    data, db = toy(tmp_path / "toy.jsonl"), tmp_path / "bench.db"
    for budget in (1, 2):
        asyncio.run(abench(str(data), budgets=[budget], engine=Engine(), db=db, progress=False))
        memory = tmp_path / f"memory-{budget}.db"
        asyncio.run(abench(str(data), budgets=[budget], engine=Engine(), db=db, progress=False, memory=memory))
    files = write_report(db, tmp_path / "report")
    table = files.markdown.read_text(encoding="utf-8")
    for label in ("self-consistency@2 seed=0 |", "self-consistency@2 seed=0 memory=memory-2.db |"):
        assert label in table
    families = [saturation.family for saturation in saturation_budgets(db)]
    assert families == [  # without memory (budgets 1 and 2), and each memory file on its own
        "self-consistency@N seed=0",
        "self-consistency@N seed=0 memory=memory-1.db",
        "self-consistency@N seed=0 memory=memory-2.db",
    ]


@pytest.mark.parametrize(
    ("options", "needle"),
    [
        ({"workers": 2}, "drop --workers 2"),
        ({"budgets": [1, 2]}, "one configuration"),
        ({"seeds": [0, 1]}, "one configuration"),
        ({"interrupts": ["none", "hard@0.5"]}, "uninterrupted"),
        ({"ray": "local"}, "--ray"),
        ({"memory_selection": "embeddings"}, "lexical or model"),
    ],
)
def test_what_a_memory_run_cannot_do_is_refused_before_anything_runs(
    tmp_path: Path, options: dict[str, Any], needle: str
) -> None:
    engine = Engine()
    settings = {"budgets": [2], **options}
    with pytest.raises(InvalidInputError, match=re.escape(needle)):
        asyncio.run(
            abench(
                str(toy(tmp_path / "toy.jsonl")),
                engine=engine,
                db=tmp_path / "bench.db",
                progress=False,
                memory=tmp_path / "memory.db",
                **settings,
            )
        )
    assert engine.requests == []
    assert not (tmp_path / "bench.db").exists()


@pytest.mark.parametrize("fail_on", ["Max has 6", "Problem:\\nOli has 3"], ids=["solving p2", "writing p4"])
def test_a_run_stopped_mid_way_resumes_to_the_rows_of_an_uninterrupted_run(tmp_path: Path, fail_on: str) -> None:
    """Stopped while solving p2, or while writing p4's concepts: the rerun gives the same rows."""
    data = toy(tmp_path / "toy.jsonl")
    bench(data, tmp_path / "whole.db", Engine(), memory=tmp_path / "whole-memory.db")
    with pytest.raises(BackendUnavailableError):
        bench(data, tmp_path / "stopped.db", Engine(fail_on=fail_on), memory=tmp_path / "stopped-memory.db")
    [(_, partial)] = stored(tmp_path / "stopped.db").values()
    assert 0 < len(partial) < 5
    [totals] = bench(data, tmp_path / "stopped.db", Engine(), memory=tmp_path / "stopped-memory.db")
    assert totals.new == 5 - len(partial)
    [(_, whole)] = stored(tmp_path / "whole.db").values()
    [(_, resumed)] = stored(tmp_path / "stopped.db").values()
    assert [comparable(r) for r in resumed] == [comparable(r) for r in whole]
    with MemoryStore(tmp_path / "whole-memory.db") as a, MemoryStore(tmp_path / "stopped-memory.db") as b:
        assert [(x.concept_id, x.added) for x in a.additions()] == [(x.concept_id, x.added) for x in b.additions()]
        assert [(c.situation, c.uses, c.successes) for c in a.concepts()] == [
            (c.situation, c.uses, c.successes) for c in b.concepts()
        ]


def test_a_stop_right_after_a_memory_write_keeps_its_row_and_the_run_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C cancels a run at its next await. One arriving just after p1's memory write (while its row
    is graded) must find that row committed with it, so the rerun resumes (not refused) to the rows and
    memory of an uninterrupted run."""
    data = toy(tmp_path / "toy.jsonl")
    bench(data, tmp_path / "whole.db", Engine(), memory=tmp_path / "whole-memory.db")
    write = Memory.write

    async def write_then_stop(self: Memory, *args: Any, **options: Any) -> Any:
        written = await write(self, *args, **options)
        if str(options.get("source", "")).endswith("#p1"):
            task = asyncio.current_task()
            assert task is not None
            task.cancel()  # what Ctrl-C does to the run's task
        return written

    monkeypatch.setattr(Memory, "write", write_then_stop)
    with pytest.raises(asyncio.CancelledError):
        bench(data, tmp_path / "stopped.db", Engine(), memory=tmp_path / "stopped-memory.db")
    monkeypatch.setattr(Memory, "write", write)
    [(_, partial)] = stored(tmp_path / "stopped.db").values()
    assert [row.problem_id for row in partial] == ["p0", "p1"]  # p1's row came with its write
    [totals] = bench(data, tmp_path / "stopped.db", Engine(), memory=tmp_path / "stopped-memory.db")
    assert totals.new == 3
    [(_, whole)] = stored(tmp_path / "whole.db").values()
    [(_, resumed)] = stored(tmp_path / "stopped.db").values()
    assert [comparable(r) for r in resumed] == [comparable(r) for r in whole]
    with MemoryStore(tmp_path / "whole-memory.db") as a, MemoryStore(tmp_path / "stopped-memory.db") as b:
        assert [(x.concept_id, x.added) for x in a.additions()] == [(x.concept_id, x.added) for x in b.additions()]


def test_a_resume_is_refused_when_the_memory_holds_writes_no_stored_row_made(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The instant between a problem's memory write and its row (simulated: storing p1's row fails),
    and a file another run wrote to: either would change the later rows."""
    data, memory, db = toy(tmp_path / "toy.jsonl"), tmp_path / "memory.db", tmp_path / "bench.db"
    add_result = BenchStore.add_result

    def crash_on_p1(self: BenchStore, config_id: int, row: BenchRow) -> None:
        if row.problem_id == "p1":
            raise KeyboardInterrupt  # as if killed after the memory write, before the row
        add_result(self, config_id, row)

    monkeypatch.setattr(BenchStore, "add_result", crash_on_p1)
    with pytest.raises(KeyboardInterrupt):
        bench(data, db, Engine(), memory=memory)
    monkeypatch.setattr(BenchStore, "add_result", add_result)
    with pytest.raises(InvalidInputError, match=re.escape(f"{data}#p1")) as refused:
        bench(data, db, Engine(), memory=memory)
    assert "changed since this configuration's last stored row" in str(refused.value)

    other, other_memory = tmp_path / "other.db", tmp_path / "other-memory.db"
    with pytest.raises(BackendUnavailableError):
        bench(data, other, Engine(fail_on="Max has 6"), memory=other_memory)
    with MemoryStore(other_memory) as store:
        store.add([NewConcept("a pear problem", "subtract what is given away", "someone else")])
    with pytest.raises(InvalidInputError, match="someone else"):
        bench(data, other, Engine(), memory=other_memory)


def test_a_memory_object_passed_in_is_used_and_left_open(tmp_path: Path) -> None:
    with Memory(tmp_path / "memory.db") as memory:
        [totals] = bench(toy(tmp_path / "toy.jsonl"), tmp_path / "bench.db", Engine(), memory=memory)
        assert totals.correct == 4 and memory.store.count() == 1


# -- ponder bench --memory -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--memory", "{tmp}/missing/m.db"], "does not exist"),
        (["--memory", "{tmp}/bad.db"], "not an SQLite database"),
        (["--memory", "{tmp}/m.db", "--workers", "3"], "drop --workers 3"),
        (["--memory", "{tmp}/m.db", "--strategy", "greedy,self-consistency"], "one configuration"),
        (["--memory-select", "model"], "applies with --memory"),
    ],
)
def test_bench_memory_errors_are_one_line(tmp_path: Path, args: list[str], needle: str) -> None:
    (tmp_path / "bad.db").write_text("hello", encoding="utf-8")
    data = toy(tmp_path / "toy.jsonl")
    command = ["bench", str(data), "--db", str(tmp_path / "bench.db"), *[a.format(tmp=tmp_path) for a in args]]
    result = CliRunner().invoke(cli, command)
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr.startswith("error:") and len(result.stderr.strip().splitlines()) == 1
    assert needle in result.stderr
    assert not (tmp_path / "bench.db").exists()


# -- benchmarks/memory.py ------------------------------------------------------------------------


def test_the_memory_benchmark_dry_run_writes_its_report_and_resumes(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("memory_benchmark", ROOT / "benchmarks" / "memory.py")
    assert spec is not None and spec.loader is not None
    benchmark = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(benchmark)
    argv = ["--dry-run", "--problems", "12", "--quiet", "--out", str(tmp_path)]
    argv += ["--db", str(tmp_path / "b.db"), "--memory-file", str(tmp_path / "m.db")]
    summary = asyncio.run(benchmark.run(benchmark.parser().parse_args(argv)))
    order = summary["order"]
    assert len(order) == 12 and order == [p.id for p in benchmark.sequence("mawps-singleop", 12, 0)]
    assert order != sorted(order, key=int)  # shuffled, with a fixed seed
    assert set(summary["configs"]) == {"baseline", "memory"} and "memory=m.db" in summary["configs"]["memory"]
    memory = summary["arms"]["memory"]
    assert summary["arms"]["baseline"]["problems"] == memory["problems"] == 12
    assert len(memory["running_accuracy"]) == len(memory["concept_growth"]) == 12
    assert memory["writes"] == memory["correct"] and memory["write_tokens"] > 0 and memory["read_tokens"] == 0
    low, high = memory["wilson_95"]
    assert low <= memory["accuracy"] <= high
    assert (tmp_path / "memory.png").read_bytes()[:4] == b"\x89PNG"
    assert "95% Wilson" in (tmp_path / "memory.md").read_text(encoding="utf-8")
    again = asyncio.run(benchmark.run(benchmark.parser().parse_args(argv)))  # resumes: nothing new, the same figures
    assert again["arms"] == summary["arms"]
    assert json.loads((tmp_path / "memory.json").read_text(encoding="utf-8"))["order"] == order
