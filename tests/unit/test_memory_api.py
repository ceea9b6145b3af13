"""``memory=`` in the library (``ponder.asolve``, ``RunPlan.recalling`` / ``remember``) and
``ponder solve --memory``: a scripted engine, no model.

The engine below answers an abstraction request (memory's writing call) with one concept, and a
question with the right answer only when that concept is in its system prompt, so that a concept
written after problem 1 visibly changes what problem 2 sees and answers.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Sequence
from pathlib import Path

import pytest
from click.testing import CliRunner

import ponder
from ponder.api import asolve, plan, verified_by_run
from ponder.cli.main import cli
from ponder.core.errors import ContextOverflowError, InvalidInputError
from ponder.engines.base import Completion, GenerationRequest
from ponder.engines.fake import FakeEngine
from ponder.memory import Memory, MemoryStore, MemoryStoreError
from ponder.memory.concepts import HEADER
from ponder.memory.prompts import ABSTRACT_SYSTEM
from ponder.scorers import ExactChecker

FIRST = "Tom has 3 apples and buys 4 more apples. How many apples does Tom have?"
SECOND = "Ann has 2 apples and buys 5 more apples. How many apples does Ann have now?"
CONCEPT = "situation: some apples are bought on top of the apples one has\nsuggestion: add the bought apples"
LINE = "- When some apples are bought on top of the apples one has: add the bought apples"


def is_abstraction(request: GenerationRequest) -> bool:
    return request.messages is not None and request.messages[0].content == ABSTRACT_SYSTEM


def script(request: GenerationRequest, index: int) -> str:
    """The concept for an abstraction request; 7 (right) for the first question; for the second,
    10 (wrong) without the concept in the system prompt and 7 (right) with it."""
    if is_abstraction(request):
        return CONCEPT
    assert request.messages is not None
    system, question = request.messages[0].content, request.messages[-1].content
    if question == SECOND:
        return "Adding the bought apples gives 7. The answer is 7." if LINE in system else "The answer is 10."
    return "Three and four make 7. The answer is 7."


def solving_requests(engine: FakeEngine) -> list[GenerationRequest]:
    return [r for r in engine.requests if not is_abstraction(r)]


def open_fds(path: Path) -> list[str]:
    """The files this process holds open whose path starts with ``path`` (the database, its -wal, -shm)."""
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith(str(path)):
            found.append(target)
    return found


def test_a_concept_written_after_problem_1_changes_the_prompt_and_answer_of_problem_2(tmp_path: Path) -> None:
    engine = FakeEngine(script)
    with Memory(tmp_path / "memory.db") as memory:
        before = asyncio.run(asolve(SECOND, engine=engine, budget=2))  # no memory: the wrong answer
        first = asyncio.run(asolve(FIRST, engine=engine, budget=2, memory=memory, verify=lambda r: r.answer == "7"))
        engine.requests.clear()
        second = asyncio.run(asolve(SECOND, engine=engine, budget=2, memory=memory))
    assert before.answer == "10"
    assert (first.trace[0]["action"], first.trace[-1]["action"]) == ("memory.read", "memory.write")
    assert first.trace[-1]["added"] == [1] and first.trace[-1]["verified"] is True
    [asked] = solving_requests(engine)
    assert asked.messages is not None
    system = asked.messages[0].content
    assert system.startswith(ponder.SolveSettings().system_prompt or "") and HEADER in system and LINE in system
    assert second.answer == "7"
    read = second.trace[0]
    assert read["action"] == "memory.read" and read["step"] == 0
    assert read["ids"] == [1] and read["concepts"][0]["suggestion"] == "add the bought apples"


def test_usage_adds_the_memory_tokens_and_the_trace_lists_them(tmp_path: Path) -> None:
    plain = asyncio.run(asolve(FIRST, engine=FakeEngine(script), budget=2))
    with Memory(tmp_path / "memory.db") as memory:
        remembered = asyncio.run(
            asolve(FIRST, engine=FakeEngine(script), budget=2, memory=memory, verify=lambda r: True)
        )
    write = remembered.trace[-1]
    spent = write["usage"]
    assert spent["completion_tokens"] == len(CONCEPT.split()) and spent["engine_calls"] == 1
    for name in ("prompt_tokens", "completion_tokens", "engine_calls"):
        assert getattr(remembered.usage, name) == getattr(plain.usage, name) + spent[name], name
    assert remembered.usage.completion_tokens > plain.usage.completion_tokens


@pytest.mark.parametrize(
    ("verify", "policy", "writes"),
    [
        (None, "verified", False),  # nothing checked the answer
        (lambda r: False, "verified", False),  # checked, wrong
        (lambda r: False, "confident", False),  # a confident wrong answer still writes nothing
        (lambda r: None, "verified", False),
        (lambda r: True, "verified", True),
        (lambda r: True, "never", False),
        (None, "confident", True),  # unverified, but every sample agrees
    ],
)
def test_memory_is_written_only_after_verified_runs_unless_confidence_is_allowed(
    tmp_path: Path, verify: object, policy: str, writes: bool
) -> None:
    engine = FakeEngine(script)
    with Memory(tmp_path / "memory.db", write=policy) as memory:  # type: ignore[arg-type]
        result = asyncio.run(asolve(FIRST, engine=engine, budget=3, memory=memory, verify=verify))  # type: ignore[arg-type]
        assert (memory.store.count() == 1) is writes
    assert (result.trace[-1]["decision"] == "write") is writes
    assert any(is_abstraction(r) for r in engine.requests) is writes


def test_an_async_verify_is_awaited(tmp_path: Path) -> None:
    async def verify(result: ponder.SolveResult) -> bool:
        await asyncio.sleep(0)
        return result.answer == "7"

    with Memory(tmp_path / "memory.db") as memory:
        asyncio.run(asolve(FIRST, engine=FakeEngine(script), budget=2, memory=memory, verify=verify))
        assert memory.store.count() == 1


def test_an_exact_verifier_the_run_executed_counts_as_verification(tmp_path: Path) -> None:
    with Memory(tmp_path / "memory.db") as memory:
        wrong = asyncio.run(
            asolve(
                FIRST,
                engine=FakeEngine(script),
                strategy="best-of-n",
                options={"scorer": "gold"},
                scorers={"gold": ExactChecker("8")},
                budget=2,
                memory=memory,
            )
        )
        assert wrong.trace[-1]["verified"] is False and memory.store.count() == 0
        right = asyncio.run(
            asolve(
                FIRST,
                engine=FakeEngine(script),
                strategy="best-of-n",
                options={"scorer": "gold"},
                scorers={"gold": ExactChecker("7")},
                budget=2,
                memory=memory,
            )
        )
        assert right.trace[-1]["verified"] is True and memory.store.count() == 1


def test_a_learned_judge_does_not_verify() -> None:
    result = asyncio.run(
        asolve(FIRST, engine=FakeEngine(script), strategy="best-of-n", options={"scorer": "probability"}, budget=2)
    )
    assert verified_by_run(result, {}) is None


def test_a_memory_path_is_opened_for_the_call_and_closed_after(tmp_path: Path) -> None:
    path = tmp_path / "memory.db"
    result = asyncio.run(asolve(FIRST, engine=FakeEngine(script), budget=2, memory=str(path), verify=lambda r: True))
    assert result.trace[-1]["added"] == [1]
    assert open_fds(path) == []
    with MemoryStore(path) as store:
        [concept] = store.concepts()
    assert concept.suggestion == "add the bought apples" and concept.source.startswith("question:")
    asyncio.run(asolve(FIRST, engine=FakeEngine(script), budget=2, memory=path, memory_source="toy#1"))
    assert open_fds(path) == []


def test_a_memory_passed_in_is_left_open(tmp_path: Path) -> None:
    with Memory(tmp_path / "memory.db") as memory:
        asyncio.run(asolve(FIRST, engine=FakeEngine(script), budget=1, memory=memory))
        assert memory.store.count() == 0  # still usable


def test_the_source_names_the_concepts(tmp_path: Path) -> None:
    with Memory(tmp_path / "memory.db") as memory:
        asyncio.run(
            asolve(
                FIRST, engine=FakeEngine(script), budget=1, memory=memory, verify=lambda r: True, memory_source="toy#1"
            )
        )
        assert [c.source for c in memory.store.concepts()] == ["toy#1"]


def test_an_unusable_memory_is_refused_before_the_engine_is_used(tmp_path: Path) -> None:
    engine = FakeEngine(script)
    bad = tmp_path / "not-a-memory.db"
    bad.write_text("hello", encoding="utf-8")
    with pytest.raises(InvalidInputError, match="not an SQLite database"):
        asyncio.run(asolve(FIRST, engine=engine, memory=bad))
    with pytest.raises(InvalidInputError, match="does not exist"):
        asyncio.run(asolve(FIRST, engine=engine, memory=tmp_path / "missing" / "m.db"))
    with pytest.raises(InvalidInputError, match="memory must be"):
        asyncio.run(asolve(FIRST, engine=engine, memory=42))  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="apply to a run with `memory=`"):
        asyncio.run(asolve(FIRST, engine=engine, verify=lambda r: True))
    assert engine.requests == []


class FailingAbstraction(FakeEngine):
    """Solves with the script; the abstraction request does not fit the context."""

    async def generate(self, requests: Sequence[GenerationRequest]) -> list[list[Completion]]:
        if any(is_abstraction(r) for r in requests):
            raise ContextOverflowError("the abstraction prompt does not fit the context")
        return await super().generate(requests)


def test_a_failed_write_keeps_the_answer_and_says_why(tmp_path: Path) -> None:
    with Memory(tmp_path / "memory.db") as memory:
        result = asyncio.run(
            asolve(FIRST, engine=FailingAbstraction(script), budget=2, memory=memory, verify=lambda r: True)
        )
        assert memory.store.count() == 0
    assert result.answer == "7"
    assert result.trace[-1]["decision"] == "error" and "does not fit" in result.trace[-1]["reason"]


def test_a_store_that_refuses_the_write_still_counts_the_abstractions_tokens(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The abstraction call ran (and was paid for) before the file refused its concepts: its tokens
    stay in the trace and in the result's usage."""
    plain = asyncio.run(asolve(FIRST, engine=FakeEngine(script), budget=2))
    with Memory(tmp_path / "memory.db") as memory:

        def busy(*args: object, **options: object) -> None:
            raise MemoryStoreError(f"cannot write to the memory file {tmp_path / 'memory.db'}: database is locked")

        monkeypatch.setattr(memory.store, "add", busy)
        result = asyncio.run(asolve(FIRST, engine=FakeEngine(script), budget=2, memory=memory, verify=lambda r: True))
    write = result.trace[-1]
    assert result.answer == "7" and write["decision"] == "error" and "database is locked" in write["reason"]
    assert write["added"] == [] and write["usage"]["completion_tokens"] == len(CONCEPT.split())
    assert result.usage.completion_tokens == plain.usage.completion_tokens + len(CONCEPT.split())
    assert result.usage.engine_calls == plain.usage.engine_calls + 1


def test_a_stepped_run_reads_before_it_starts_and_the_caller_writes_after(tmp_path: Path) -> None:
    engine = FakeEngine(script)

    async def steps(memory: Memory) -> ponder.SolveResult:
        first = plan(FIRST, budget=2)
        recalled = await first.recalling(memory, engine)
        result = await recalled.start(engine).run()
        await recalled.remember(result, memory, engine, verified=True)
        second = await plan(SECOND, budget=2).recalling(memory, engine)
        run = second.start(engine)
        while await run.step():
            pass
        return await second.remember(run.result(), memory, engine)

    with Memory(tmp_path / "memory.db") as memory:
        result = asyncio.run(steps(memory))
    assert result.answer == "7" and result.trace[0]["ids"] == [1]


def test_start_refuses_a_memory_with_the_way_to_use_one(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="recalling"):
        ponder.start(FIRST, FakeEngine(script), memory=tmp_path / "memory.db")


# -- ponder solve --memory ---------------------------------------------------------------------


def run_cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def scripted_cli(monkeypatch: pytest.MonkeyPatch) -> FakeEngine:
    """``ponder solve`` on a scripted engine instead of a model."""
    engine = FakeEngine(script)

    async def no_close() -> None:
        return None

    engine.aclose = no_close  # type: ignore[method-assign]
    monkeypatch.setattr("ponder.cli.interrupt.open_engine", lambda name, engine_options: engine)
    return engine


def test_solve_with_memory_writes_only_when_told_confident(tmp_path: Path, scripted_cli: FakeEngine) -> None:
    path = str(tmp_path / "memory.db")
    code, out, err = run_cli("solve", FIRST, "--memory", path, "--json", "--quiet", "--budget", "2")
    assert code == 0, err
    assert json.loads(out)["trace"][-1]["decision"] == "skip"  # default: never
    code, out, err = run_cli("solve", FIRST, "--memory", path, "--memory-write", "confident", "--json", "-q", "-n", "2")
    assert code == 0, err
    assert json.loads(out)["trace"][-1]["added"] == [1]
    code, out, err = run_cli("solve", SECOND, "--memory", path, "--json", "--quiet", "--budget", "2")
    assert code == 0, err
    result = json.loads(out)
    assert result["answer"] == "7" and result["trace"][0]["ids"] == [1]
    assert open_fds(tmp_path / "memory.db") == []


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--memory", "{tmp}/missing/m.db"], "does not exist"),
        (["--memory", "{tmp}/bad.db"], "not an SQLite database"),
        (["--memory-write", "confident"], "apply with --memory"),
        (["--memory-select", "model"], "apply with --memory"),
    ],
)
def test_solve_memory_errors_are_one_line(
    tmp_path: Path, scripted_cli: FakeEngine, args: list[str], needle: str
) -> None:
    (tmp_path / "bad.db").write_text("hello", encoding="utf-8")
    code, out, err = run_cli("solve", FIRST, *[a.format(tmp=tmp_path) for a in args])
    assert code == 1 and out == ""
    assert err.startswith("error:") and len(err.strip().splitlines()) == 1 and needle in err
    assert scripted_cli.requests == []
