"""Think-and-execute with scripted engines: pseudocode written once per task, cached, then simulated."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import ponder
from ponder.core.errors import InvalidInputError
from ponder.engines import FakeEngine, GenerationRequest
from ponder.strategies import pseudocode
from ponder.strategies.pseudocode import (
    THINK_PROMPT,
    PseudocodeCache,
    awrite_pseudocode,
    cache_at,
    load_examples,
    pseudocode_of,
)

PSEUDOCODE = "def solve(question):\n    total = add(numbers(question))\n    print(total)\n    return total"
THINK_REPLY = f"Here is the plan.\n```python\n{PSEUDOCODE}\n```"
EXAMPLES = [
    {"question": "Ann has 2 apples and gets 3 more. How many?", "answer": "5"},
    {"question": "Bo has 4 pens and buys 4 more. How many?", "answer": 8},
]
QUESTION = "Cy has 1 cat and adopts 3 more. How many cats?"


def is_think(request: GenerationRequest) -> bool:
    return request.messages is not None and request.messages[0].content == THINK_PROMPT


def scripted(answers: tuple[str, ...] = ("4",)) -> FakeEngine:
    """Think requests get the pseudocode; Execute requests simulate it to the given answers (cycling)."""

    def reply(request: GenerationRequest, index: int) -> str:
        if is_think(request):
            return THINK_REPLY
        return f"total = 4 print shows 4 The answer is {answers[(request.first_index + index) % len(answers)]}."

    return FakeEngine(reply)


@pytest.fixture(autouse=True)
def fresh_caches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts with no process-level caches (as a new process would)."""
    monkeypatch.setattr(pseudocode, "_CACHES", {})


def options(tmp_path: Path, **extra: object) -> dict[str, object]:
    return {"examples": json.dumps(EXAMPLES), "cache": str(tmp_path / "cache"), **extra}


async def test_pseudocode_is_written_once_and_reused_at_no_cost(tmp_path: Path) -> None:
    engine = scripted()
    first = await ponder.asolve(
        QUESTION, engine=engine, strategy="think-and-execute", budget=1, options=options(tmp_path)
    )
    second = await ponder.asolve(
        "Di has 2 dogs and 2 more. How many?",
        engine=engine,
        strategy="think-and-execute",
        budget=1,
        options=options(tmp_path),
    )
    assert sum(map(is_think, engine.requests)) == 1  # Think ran for the first question only
    think1, think2 = first.trace[0], second.trace[0]
    assert think1["action"] == think2["action"] == "think"
    assert think1["source"] == "written" and think2["source"] == "memory"
    assert think1["pseudocode"] == think2["pseudocode"] == PSEUDOCODE
    assert think1["usage"]["completion_tokens"] > 0 and think1["usage"]["engine_calls"] == 1
    assert not any(think2["usage"].values())  # the runner records each step's usage: nothing was spent
    execute1, execute2 = first.trace[1], second.trace[1]
    assert execute1["action"] == "execute"
    # the writer's usage holds the Think cost; the reuser's holds its Execute call alone
    written = think1["usage"]["completion_tokens"] + execute1["usage"]["completion_tokens"]
    assert first.usage.completion_tokens == written
    assert second.usage.completion_tokens == execute2["usage"]["completion_tokens"]
    assert first.usage.engine_calls == 2 and second.usage.engine_calls == 1
    assert first.answer == second.answer == "4"


async def test_the_disk_cache_survives_a_new_process_level_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await ponder.asolve(QUESTION, engine=scripted(), strategy="think-and-execute", budget=1, options=options(tmp_path))
    [saved] = list((tmp_path / "cache").glob("*.json"))
    assert json.loads(saved.read_text())["pseudocode"] == PSEUDOCODE
    monkeypatch.setattr(pseudocode, "_CACHES", {})  # a new process
    engine = scripted()
    result = await ponder.asolve(
        QUESTION, engine=engine, strategy="think-and-execute", budget=1, options=options(tmp_path)
    )
    assert result.trace[0]["source"] == "disk" and result.trace[0]["usage"]["completion_tokens"] == 0
    assert not any(map(is_think, engine.requests))
    fresh = PseudocodeCache(tmp_path / "cache")  # the cache object alone, too
    assert fresh.get(saved.stem) == (PSEUDOCODE, "disk")
    assert fresh.get(saved.stem) == (PSEUDOCODE, "memory")


async def test_a_damaged_cache_file_is_rewritten(tmp_path: Path) -> None:
    await ponder.asolve(QUESTION, engine=scripted(), strategy="think-and-execute", budget=1, options=options(tmp_path))
    [saved] = list((tmp_path / "cache").glob("*.json"))
    saved.write_text("{not json")
    assert PseudocodeCache(tmp_path / "cache").get(saved.stem) is None


async def test_the_execute_prompt_holds_the_pseudocode_task_and_question(tmp_path: Path) -> None:
    engine = scripted()
    await ponder.asolve(
        QUESTION,
        engine=engine,
        strategy="think-and-execute",
        budget=1,
        options=options(tmp_path, task="Add up the things."),
    )
    think, execute = engine.requests
    assert "Task: Add up the things." in think.messages[1].content
    assert "Example 2\nInput: Bo has 4 pens and buys 4 more. How many?\nAnswer: 8" in think.messages[1].content
    system, question = execute.messages[0].content, execute.messages[-1].content
    assert PSEUDOCODE in system and "Simulate its execution" in system and "Task: Add up the things." in system
    assert question == QUESTION


async def test_budget_counts_execute_samples_which_are_voted(tmp_path: Path) -> None:
    engine = scripted(("4", "4", "5"))
    result = await ponder.asolve(
        QUESTION, engine=engine, strategy="think-and-execute", budget=3, options=options(tmp_path)
    )
    assert len(result.candidates) == 3  # Think is outside the generation budget
    assert result.votes == {"4": 2.0, "5": 1.0} and result.answer == "4"
    assert result.trace[1]["n"] == 3 and result.trace[1]["temperature"] == 0.8
    capped = await ponder.asolve(
        QUESTION, engine=engine, strategy="think-and-execute", budget=3, options=options(tmp_path, samples=1)
    )
    assert len(capped.candidates) == 1 and capped.trace[1]["temperature"] == 0.0


async def test_the_key_depends_on_examples_task_and_model(tmp_path: Path) -> None:
    engine = scripted()
    cache = PseudocodeCache(None)
    one = await awrite_pseudocode(engine, examples=EXAMPLES, cache=cache)
    again = await awrite_pseudocode(engine, examples=EXAMPLES, cache=cache)
    other = await awrite_pseudocode(engine, examples=EXAMPLES[:1], cache=cache)
    described = await awrite_pseudocode(engine, task="t", examples=EXAMPLES, cache=cache)
    other_model = scripted()
    other_model.info = type(engine.info)(name="fake", model="another")
    moved = await awrite_pseudocode(other_model, examples=EXAMPLES, cache=cache)
    assert again.key == one.key and again.source == "memory" and again.usage.completion_tokens == 0
    assert len({one.key, other.key, described.key, moved.key}) == 4
    assert one.source == other.source == described.source == moved.source == "written"


async def test_precomputed_pseudocode_makes_the_run_free_of_think(tmp_path: Path) -> None:
    engine = scripted()
    written = await awrite_pseudocode(
        engine,
        task=ponder.SolveSettings().system_prompt or "",
        examples=EXAMPLES,
        cache=str(tmp_path / "cache"),
        max_tokens=512,
    )
    assert written.source == "written" and written.text == PSEUDOCODE
    engine.requests.clear()
    result = await ponder.asolve(
        QUESTION, engine=engine, strategy="think-and-execute", budget=1, options=options(tmp_path)
    )
    assert result.trace[0]["source"] == "memory" and not any(map(is_think, engine.requests))


async def test_a_pseudocode_file_skips_think(tmp_path: Path) -> None:
    code = tmp_path / "plan.txt"
    code.write_text("print(42)\n")
    engine = scripted()
    result = await ponder.asolve(
        QUESTION, engine=engine, strategy="think-and-execute", budget=1, options={"pseudocode": str(code)}
    )
    assert [step["action"] for step in result.trace] == ["execute"] and result.trace[0]["pseudocode"] == "file"
    [execute] = engine.requests
    assert "print(42)" in execute.messages[0].content


async def test_without_task_or_examples_the_question_is_the_task(tmp_path: Path) -> None:
    engine = scripted()
    await ponder.asolve(
        QUESTION, engine=engine, strategy="think-and-execute", budget=1, system_prompt=None, options={"cache": "off"}
    )
    think = engine.requests[0]
    assert is_think(think) and f"Input: {QUESTION}" in think.messages[1].content
    assert cache_at("off").directory is None


def test_examples_are_read_from_jsonl_or_inline_json(tmp_path: Path) -> None:
    path = tmp_path / "examples.jsonl"
    path.write_text("\n".join(json.dumps(e) for e in EXAMPLES) + "\n")
    from_file, inline = load_examples(str(path)), load_examples(json.dumps(EXAMPLES))
    assert from_file == inline and inline[1].answer == "8"
    assert load_examples("") == ()


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("[1, 2]", "item 1: an example must be a JSON object"),
        ('[{"answer": "3"}]', "needs a non-empty 'question'"),
        ("[{", "not a JSON list"),
        ("no/such/file.jsonl", "no such file"),
    ],
)
def test_bad_examples_are_named(text: str, needle: str) -> None:
    with pytest.raises(InvalidInputError, match="examples"):
        load_examples(text)
    with pytest.raises(InvalidInputError) as caught:
        ponder.plan("q", strategy="think-and-execute", options={"examples": text})
    assert needle in str(caught.value)


def test_a_bad_line_in_an_examples_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "examples.jsonl"
    path.write_text(json.dumps(EXAMPLES[0]) + "\n{oops\n")
    with pytest.raises(InvalidInputError, match="line 2: not JSON"):
        load_examples(str(path))


def test_files_that_are_not_utf8_are_named(tmp_path: Path) -> None:
    path = tmp_path / "latin.jsonl"
    path.write_bytes('{"question": "Café?", "answer": "1"}\n'.encode("latin-1"))
    for option in ("examples", "pseudocode"):
        with pytest.raises(InvalidInputError, match=f"{option}: cannot read {path}"):
            ponder.plan("q", strategy="think-and-execute", options={option: str(path)})


def test_bad_options_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="pseudocode: no such file"):
        ponder.plan("q", strategy="think-and-execute", options={"pseudocode": "/no/such/file"})
    with pytest.raises(InvalidInputError, match="samples must be >= 0"):
        ponder.plan("q", strategy="think-and-execute", options={"samples": "-1"})


def test_the_pseudocode_is_the_longest_fenced_block() -> None:
    assert pseudocode_of(THINK_REPLY) == PSEUDOCODE
    assert pseudocode_of("```\na\n```\ntext\n```\nlonger\n```") == "longer"
    assert pseudocode_of("  plain steps  ") == "plain steps"
