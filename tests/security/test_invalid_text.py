"""Probe: text that is not valid Unicode is refused with one clear error at every entry point."""

from __future__ import annotations

import subprocess
import sys

import pytest

import ponder
from ponder.core.chat import Message
from ponder.core.errors import InvalidInputError
from ponder.engines import FakeEngine
from ponder.engines.base import GenerationRequest


def test_the_library_refuses_a_lone_surrogate_in_the_question() -> None:
    engine = FakeEngine(["The answer is 4."])
    with pytest.raises(InvalidInputError, match=r"the question is not valid UTF-8 text: a lone surrogate U\+D800"):
        ponder.solve("\ud800 what is 2+2", engine=engine)
    assert engine.calls == 0  # refused before anything was generated


def test_the_library_refuses_bad_text_in_the_history_and_system_prompt() -> None:
    engine = FakeEngine(["The answer is 4."])
    with pytest.raises(InvalidInputError, match="a user message of the history"):
        ponder.solve("2+2?", engine=engine, history=[Message("user", "hi \udcff")])
    with pytest.raises(InvalidInputError, match="the system prompt"):
        ponder.solve("2+2?", engine=engine, system_prompt="be \ud801 brief")


@pytest.mark.parametrize(
    ("fields", "what"),
    [
        ({"messages": (Message("user", "x \ud800"),)}, "a user message"),
        ({"text": "x \udcff"}, "the request's text"),
        ({"messages": (Message("user", "x"),), "assistant_prefix": "\ud800"}, "the assistant prefix"),
        ({"text": "x", "stop": ("\ud800",)}, "a stop string"),
    ],
)
def test_every_engine_request_refuses_bad_text(fields: dict[str, object], what: str) -> None:
    """Requests are checked where they are made, so no engine (llama.cpp's tokenizer, httpx's JSON
    encoder) ever sees such text."""
    with pytest.raises(InvalidInputError, match=what):
        GenerationRequest(**fields)  # type: ignore[arg-type]


def test_the_cli_reports_an_undecodable_byte_in_one_line() -> None:
    """`ponder solve $'What is 2+2? \\xff'`: Python decodes the byte as a lone surrogate; the CLI
    names it (no traceback, no model loaded: the question is checked first)."""
    argv = [sys.executable, "-c", "from ponder.cli.main import cli; cli()", "solve", b"What is 2+2? \xff"]
    done = subprocess.run(argv, capture_output=True, timeout=120)  # type: ignore[misc]
    stderr = done.stderr.decode("utf-8", "replace")
    assert done.returncode == 1
    assert stderr.strip() == (
        "error: the question is not valid UTF-8 text: an undecodable byte 0xff at character 13; send UTF-8 text"
    )
