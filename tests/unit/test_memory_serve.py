"""``ponder serve --memory FILE``: the operator's concept memory, read by every request, written
only under ``--memory-write confident``, never named by a client. Through the official ``openai``
client against the app on uvicorn, serving a scripted engine (no model).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import openai
import pytest
from click.testing import CliRunner
from tests.support.app_server import AppServer

from ponder.cli.main import cli
from ponder.core.errors import InvalidInputError
from ponder.engines.base import GenerationRequest
from ponder.engines.fake import FakeEngine
from ponder.memory import Memory, MemoryStore, MemoryStoreError, NewConcept
from ponder.memory.prompts import ABSTRACT_SYSTEM
from ponder.serve import ServeConfig, create_app

QUESTION = "Tom has 3 apples and buys 4 more apples. How many apples does Tom have?"
ASK = [{"role": "user", "content": QUESTION}]
SITUATION, SUGGESTION = "some apples are bought on top of the apples one has", "add the bought apples"
LINE = f"- When {SITUATION}: {SUGGESTION}"
CONCEPT = f"situation: {SITUATION}\nsuggestion: {SUGGESTION}"


def is_abstraction(request: GenerationRequest) -> bool:
    return request.messages is not None and request.messages[0].content == ABSTRACT_SYSTEM


def script(request: GenerationRequest, index: int) -> str:
    """The concept for memory's abstraction call; 7 with the concept in the system prompt, else 1."""
    if is_abstraction(request):
        return CONCEPT
    assert request.messages is not None
    return "The answer is 7." if LINE in request.messages[0].content else "The answer is 1."


def systems(engine: FakeEngine) -> list[str]:
    """The system prompts of the engine's solving requests."""
    return [r.messages[0].content for r in engine.requests if r.messages and not is_abstraction(r)]


@contextmanager
def serving(engine: FakeEngine, **settings: Any) -> Iterator[openai.OpenAI]:
    app = create_app(engine, ServeConfig(**settings))
    try:
        with AppServer(app) as server:
            yield openai.OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0)
    finally:
        app.state.runs.close()
        if app.state.memory is not None:
            app.state.memory.close()


def seeded(path: Path) -> Path:
    with MemoryStore(path) as store:
        store.add([NewConcept(SITUATION, SUGGESTION, "operator")])
    return path


def additions(path: Path) -> list[str]:
    with MemoryStore(path) as store:
        return [addition.source for addition in store.additions()]


def test_every_request_reads_the_operators_memory(tmp_path: Path) -> None:
    memory = seeded(tmp_path / "memory.db")
    engine = FakeEngine(script)
    with serving(engine, memory=str(memory)) as client:
        answer = client.chat.completions.create(
            model="ponder", messages=ASK, extra_body={"ponder": {"budget": 2, "summary": True}}
        )
        streamed = client.chat.completions.create(model="ponder", messages=ASK, stream=True)
        text = "".join(chunk.choices[0].delta.content or "" for chunk in streamed if chunk.choices)
    assert answer.choices[0].message.content == "The answer is 7."
    assert text == "The answer is 7."
    assert systems(engine) and all(LINE in system for system in systems(engine))
    summary = answer.model_extra["ponder"][0]  # type: ignore[index]
    read, write = summary["trace"][0], summary["trace"][-1]
    assert read["action"] == "memory.read" and read["ids"] == [1]
    assert write["action"] == "memory.write" and write["decision"] == "skip"  # the server writes nothing by default
    assert additions(memory) == ["operator"]


def test_without_memory_nothing_is_read(tmp_path: Path) -> None:
    engine = FakeEngine(script)
    with serving(engine) as client:
        answer = client.chat.completions.create(model="ponder", messages=ASK, extra_body={"ponder": {"summary": True}})
    assert answer.choices[0].message.content == "The answer is 1."
    assert all(
        entry.get("action") not in ("memory.read", "memory.write") for entry in answer.model_extra["ponder"][0]["trace"]
    )  # type: ignore[index]


def test_confident_writing_adds_what_a_unanimous_run_teaches_and_counts_its_tokens(tmp_path: Path) -> None:
    memory = tmp_path / "memory.db"
    sample = "3 and 4 make 7. The answer is 7."
    engine = FakeEngine(lambda request, index: CONCEPT if is_abstraction(request) else sample)
    with serving(engine, memory=str(memory), memory_write="confident") as client:
        answer = client.chat.completions.create(
            model="ponder", messages=ASK, extra_body={"ponder": {"budget": 3, "summary": True}}
        )
    write = answer.model_extra["ponder"][0]["trace"][-1]  # type: ignore[index]
    assert write["decision"] == "write" and write["added"] == [1]
    assert answer.usage is not None
    samples = 3 * len(sample.split())
    assert answer.usage.completion_tokens == samples + write["usage"]["completion_tokens"]
    with MemoryStore(memory) as store:
        [concept] = store.concepts()
    assert concept.suggestion == SUGGESTION and concept.source.startswith("question:")


@pytest.mark.parametrize("options", [{"memory": "/etc/passwd"}, {"memory": None}, {"memory_write": "confident"}])
def test_a_client_cannot_name_or_change_the_memory(tmp_path: Path, options: dict[str, Any]) -> None:
    engine = FakeEngine(script)
    memory = seeded(tmp_path / "memory.db")
    with serving(engine, memory=str(memory)) as client, pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="ponder", messages=ASK, extra_body={"ponder": options})
    assert caught.value.status_code == 400
    message = caught.value.body["message"]  # type: ignore[index]
    assert message.startswith(f"ponder.{next(iter(options))}:") and "operator" in message
    assert engine.requests == []


def test_a_client_naming_a_memory_without_one_set_is_refused_too() -> None:
    engine = FakeEngine(script)
    with serving(engine) as client, pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="ponder", messages=ASK, extra_body={"ponder": {"memory": "m.db"}})
    assert "operator" in caught.value.body["message"]  # type: ignore[index]


@pytest.mark.parametrize(
    ("settings", "needle"),
    [({"memory_write": "verified"}, "never or confident"), ({"memory_selection": "embeddings"}, "lexical or model")],
)
def test_the_operators_memory_settings_are_checked(settings: dict[str, str], needle: str) -> None:
    with pytest.raises(InvalidInputError, match=needle):
        ServeConfig(memory="m.db", **settings)


@pytest.mark.parametrize(("name", "needle"), [("missing/m.db", "does not exist"), ("bad.db", "not an SQLite database")])
def test_serve_with_an_unusable_memory_fails_in_one_line_before_the_engine_loads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, needle: str
) -> None:
    (tmp_path / "bad.db").write_text("hello", encoding="utf-8")
    created: list[str] = []
    monkeypatch.setattr("ponder.engines.named.EngineSpec.create", lambda self: created.append("engine"))
    result = CliRunner().invoke(cli, ["serve", "--port", "0", "--memory", str(tmp_path / name)])
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr.startswith("error:") and len(result.stderr.strip().splitlines()) == 1
    assert needle in result.stderr
    assert created == []


def test_a_memory_that_fails_is_the_servers_error_and_does_not_name_its_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    memory = seeded(tmp_path / "secret-memory.db")
    engine = FakeEngine(script)

    async def busy(*args: Any, **kwargs: Any) -> Any:
        raise MemoryStoreError(f"{memory}: the memory file is locked by another writer")

    with serving(engine, memory=str(memory)) as client:
        monkeypatch.setattr(Memory, "read", busy)
        with pytest.raises(openai.InternalServerError) as failed:
            client.chat.completions.create(model="ponder", messages=ASK)
    assert "concept memory cannot be used" in str(failed.value)
    assert "secret-memory" not in str(failed.value)
