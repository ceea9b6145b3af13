"""``ponder bench --interrupt`` and the report's interrupt section (issue #21 item 3), on a scripted engine.

The scripted model reasons for 30 words, then answers ``a + b`` for "What is a + b?". After an
answer cue it answers at once (problem 1 rambles on first: leakage); after the soft note it
answers at once, wrongly on problem 2 (panic); after an update note it answers the updated sum,
except on problem 0, where it keeps the original one (self-doubt).
"""

from __future__ import annotations

import json
import re
import sqlite3
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from ponder.bench.api import abench
from ponder.bench.interrupts import InterruptSpec, check_interruptible, parse_interrupt
from ponder.bench.report import write_report
from ponder.bench.store import MIGRATIONS, BenchStore
from ponder.bench.types import Config
from ponder.cli.main import cli
from ponder.context.interrupts import SOFT_NOTE, answer_cue
from ponder.core.errors import InvalidInputError
from ponder.engines import FakeEngine, GenerationRequest, registry
from ponder.engines.plugin import EnginePlugin

CUE = answer_cue("math")
REASONING = 30


@dataclass(frozen=True)
class NoOptions:
    """The scripted engine's options: none."""


def model(request: GenerationRequest, index: int) -> str:
    assert request.messages is not None
    question = request.messages[-1].content
    a, b = (int(x) for x in re.findall(r"\d+", question)[:2])
    prefix = request.assistant_prefix
    if prefix.endswith(CUE):
        return (" well, " + "let me go over it again " * 6 if a == 1 else "") + f" {a + b}."
    if prefix.endswith(SOFT_NOTE):
        return " 99." if a == 2 else f" so it is {a + b}."
    if prefix.endswith("]\n\n"):
        c = int(re.findall(r"\d+", prefix.rsplit("[Update", 1)[1])[1])
        return f" the answer is {a + b}." if a == 0 else f" with the update it is {a + c}."
    return " ".join(f"r{k}" for k in range(REASONING)) + f" The answer is {a + b}."


@pytest.fixture
def updates(tmp_path: Path) -> Path:
    path = tmp_path / "updates.jsonl"
    rows = [
        {
            "question": f"What is {i} + 4?",
            "answer": str(i + 4),
            "update": f"It is {i} + 5.",
            "update_answer": str(i + 5),
        }
        for i in range(4)
    ]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


SPECS = ["none", "hard@0.5", "soft@0.5", "update@0.5:update", "hard@0.25"]


def stored(db: Path) -> dict[str, list[dict]]:
    store = BenchStore(db, writable=False)
    try:
        return {c.label: [r.to_dict() for r in store.results(c.id)] for c in store.configs()}
    finally:
        store.close()


def entry_of(row: dict, action: str) -> dict:
    return next(e for e in row["trace"] if e["action"] == action)


# -- specs -----------------------------------------------------------------------------------------


def test_interrupt_specs_parse_and_refuse_what_is_wrong() -> None:
    assert parse_interrupt("none") is None and parse_interrupt("") is None
    assert parse_interrupt("hard@0.30") == InterruptSpec("hard", 0.3)
    assert parse_interrupt("update@.5:update").text == "update@0.5:update"  # type: ignore[union-attr]
    assert parse_interrupt("update@1:u:g") == InterruptSpec("update", 1.0, "u", "g")
    for bad in ("hard", "hard@0", "hard@1.5", "soft@0.5:x", "update@0.5", "later@0.5", "hard@x"):
        with pytest.raises(InvalidInputError, match="bad interrupt"):
            parse_interrupt(bad)


def test_a_config_without_interrupt_keeps_its_key_and_label() -> None:
    config = Config("d", "greedy", 1, 0, None, 64, "fake", "scripted")
    assert "interrupt" not in json.loads(config.key) and config.label == "greedy@1 seed=0"
    hard = Config("d", "greedy", 1, 0, None, 64, "fake", "scripted", interrupt="hard@0.5")
    assert json.loads(hard.key)["interrupt"] == "hard@0.5" and hard.label == "greedy@1 seed=0 hard@0.5"


def test_a_version_3_store_gets_the_interrupt_column(tmp_path: Path) -> None:
    path = tmp_path / "v3.db"
    connection = sqlite3.connect(path)
    for version in (1, 2, 3):
        connection.executescript(MIGRATIONS[version])
    connection.execute("PRAGMA user_version = 3")
    connection.execute(
        "INSERT INTO runs (created, ponder_version, dataset, engine, model, settings)"
        " VALUES ('t', '0', 'd', 'e', 'm', '{}')"
    )
    config = Config("d", "greedy", 1, 0, None, 64, "e", "m")
    connection.execute(
        "INSERT INTO configs (run_id, key, label, dataset, strategy, options, budget, seed, temperature, max_tokens,"
        " engine, model) VALUES (1, ?, ?, 'd', 'greedy', '{}', 1, 0, NULL, 64, 'e', 'm')",
        (config.key, config.label),
    )
    connection.commit()
    connection.close()
    store = BenchStore(path)
    [old] = store.configs()
    assert old.interrupt == "" and old.config == config and store.config_id(1, config) == old.id
    store.close()


# -- running ---------------------------------------------------------------------------------------


async def test_interrupted_configurations_are_stored_at_their_point_of_the_reasoning(
    updates: Path, tmp_path: Path
) -> None:
    db = tmp_path / "b.db"
    totals = await abench(
        str(updates),
        strategies=["greedy"],
        interrupts=SPECS,
        max_tokens=64,
        db=db,
        engine=FakeEngine(model),
        progress=False,
    )
    labels = [t.label for t in totals]
    assert labels == [
        "greedy@1 seed=0",
        "greedy@1 seed=0 hard@0.5",
        "greedy@1 seed=0 soft@0.5",
        "greedy@1 seed=0 update@0.5:update",
        "greedy@1 seed=0 hard@0.25",
    ]  # the uninterrupted one first
    rows = stored(db)
    plain = rows["greedy@1 seed=0"]
    assert [r["correct"] for r in plain] == [1, 1, 1, 1]
    length = plain[0]["candidates"][0]["completion_tokens"]
    assert length == REASONING + 4

    hard = rows["greedy@1 seed=0 hard@0.5"]
    entry = entry_of(hard[0], "bench-interrupt")
    assert entry["at_tokens"] == round(0.5 * length) and entry["reference"] == "uninterrupted" and entry["interrupted"]
    [sample] = entry_of(hard[0], "interrupt")["samples"]
    assert sample["tokens"] == entry["at_tokens"] and sample["concluded"]
    assert all(r["correct"] for r in hard) and all(CUE in r["candidates"][0]["text"] for r in hard)
    quarter = entry_of(rows["greedy@1 seed=0 hard@0.25"][0], "bench-interrupt")
    assert quarter["at_tokens"] == round(0.25 * length)

    soft = rows["greedy@1 seed=0 soft@0.5"]
    assert [r["correct"] for r in soft] == [1, 1, 0, 1]

    update = rows["greedy@1 seed=0 update@0.5:update"]
    assert [r["gold"] for r in update] == ["5", "6", "7", "8"]  # graded against the updated gold
    assert [r["correct"] for r in update] == [0, 1, 1, 1]
    assert entry_of(update[0], "bench-interrupt")["original_gold"] == "4"

    again = await abench(
        str(updates),
        strategies=["greedy"],
        interrupts=SPECS,
        max_tokens=64,
        db=db,
        engine=FakeEngine(model),
        progress=False,
    )
    assert [t.new for t in again] == [0] * 5  # resumed: nothing to do

    files = write_report(db, tmp_path / "report")
    text = files.markdown.read_text()
    section = text[text.index("## Interrupts") :]
    assert "![accuracy against the interrupt point](interrupts.png)" in section
    assert "**greedy@1 seed=0**: uninterrupted 100.0% (4 problems)" in section
    table = [[cell.strip() for cell in line.strip("| ").split("|")] for line in section.splitlines() if line[:1] == "|"]
    lines = {cells[0]: cells for cells in table}
    assert lines["hard@0.25"][6:9] == ["1/4", "n/a", "n/a"]  # leakage: problem 1 rambles after the cue
    assert lines["hard@0.5"][3] == "100.0%" and lines["hard@0.5"][6] == "1/4"
    assert lines["soft@0.5"][3:5] == ["75.0%", "-25.0 pt"] and lines["soft@0.5"][7] == "1/4"  # panic
    assert lines["update@0.5:update"][8] == "1/4"  # self-doubt
    assert (tmp_path / "report" / "interrupts.png").read_bytes()[:4] == b"\x89PNG"


async def test_without_an_uninterrupted_row_the_point_is_a_fraction_of_max_tokens(
    updates: Path, tmp_path: Path
) -> None:
    db = tmp_path / "b.db"
    await abench(
        str(updates),
        strategies=["greedy"],
        interrupts=["hard@0.25"],
        max_tokens=64,
        db=db,
        engine=FakeEngine(model),
        progress=False,
    )
    [rows] = stored(db).values()
    entry = entry_of(rows[0], "bench-interrupt")
    assert (entry["at_tokens"], entry["reference"]) == (16, "max_tokens")
    files = write_report(db, tmp_path / "report")
    assert "no uninterrupted run stored" in files.markdown.read_text()


async def test_an_update_field_the_problems_lack_is_refused_up_front(updates: Path, tmp_path: Path) -> None:
    engine = FakeEngine(model)
    with pytest.raises(InvalidInputError, match="has no field 'news'"):
        await abench(str(updates), interrupts=["update@0.5:news"], db=tmp_path / "b.db", engine=engine, progress=False)
    assert engine.calls == 0


def test_the_cli_takes_interrupts(updates: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    plugin = EnginePlugin(
        name="scripted", summary="test", Options=NoOptions, factory=lambda options: FakeEngine(model), spec_option=None
    )
    monkeypatch.setitem(registry.BUILTIN, "scripted", plugin)
    db = tmp_path / "b.db"
    args = ["bench", str(updates), "-s", "greedy", "--engine", "scripted", "--db", str(db), "--quiet"]
    result = CliRunner().invoke(cli, [*args, "--max-tokens", "64", "--interrupt", "none,hard@0.5"])
    assert result.exit_code == 0, result.output
    assert "greedy@1 seed=0 hard@0.5" in result.output
    bad = CliRunner().invoke(cli, [*args, "--interrupt", "hard@2"])
    assert bad.exit_code == 1 and "the point 2 must be in (0, 1]" in bad.output


async def test_self_doubt_counts_only_runs_that_received_the_update(updates: Path, tmp_path: Path) -> None:
    db = tmp_path / "b.db"
    await abench(
        str(updates),
        strategies=["greedy"],
        interrupts=["update@1:update"],  # at max_tokens: every sample has ended before, none is updated
        max_tokens=64,
        db=db,
        engine=FakeEngine(model),
        progress=False,
    )
    [rows] = stored(db).values()
    assert not any(entry_of(r, "bench-interrupt")["interrupted"] for r in rows)
    assert [r["correct"] for r in rows] == [0, 0, 0, 0]  # the original answers, graded against the updated gold
    files = write_report(db, tmp_path / "report")
    text = files.markdown.read_text()
    section = text[text.index("## Interrupts") :]
    [cells] = [[c.strip() for c in line.strip("| ").split("|")] for line in section.splitlines() if "update@1" in line]
    assert cells[2] == "0" and cells[8] == "n/a" and cells[9] == "n/a"  # no self-doubt where no update came
    assert "Accuracy (interrupted)" in section


async def test_interrupts_are_refused_for_step_searches_and_engines_that_cannot_be_reached(
    updates: Path, tmp_path: Path
) -> None:
    engine = FakeEngine(model)
    for strategy in ("beam-search", "dvts", "a-star", "particle-filtering", "particle-gibbs"):
        with pytest.raises(InvalidInputError, match=f"{strategy} searches step by step"):
            await abench(
                str(updates), strategies=[strategy], interrupts=["hard@0.5"], db=tmp_path / "b.db", engine=engine
            )
    check_interruptible(["none"], ["beam-search"])  # uninterrupted, a search is fine
    assert engine.calls == 0

    whole = FakeEngine(model)
    whole.capabilities = replace(whole.capabilities, streams=False)  # a local engine serving whole samples
    with pytest.raises(InvalidInputError, match="does not stream"):
        await abench(str(updates), interrupts=["none", "soft@0.5"], db=tmp_path / "c.db", engine=whole)
    assert whole.calls == 0
