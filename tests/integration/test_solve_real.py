"""`ponder solve` and `ponder.solve` end to end on the embedded model."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import ponder
from ponder.engines.llama import LlamaEngine

pytestmark = pytest.mark.model

QUESTION = "Tom has 3 boxes with 4 apples in each box. How many apples does Tom have?"


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ponder.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_cli_json_has_the_contract_fields_and_is_reproducible() -> None:
    args = ("solve", QUESTION, "--budget", "4", "--max-tokens", "48", "--seed", "7", "--json")
    first, second = run_cli(*args), run_cli(*args)
    assert first.returncode == 0, first.stderr
    data = json.loads(first.stdout)
    assert data["strategy"] == "self-consistency"
    assert len(data["candidates"]) == 4
    assert all({"text", "answer"} <= set(c) for c in data["candidates"])
    usage = data["usage"]
    assert {"prompt_tokens", "prompt_tokens_computed", "completion_tokens", "engine_calls", "wall_seconds"} <= set(
        usage
    )
    assert usage["prompt_tokens_computed"] * 4 == usage["prompt_tokens"]  # prompt computed once for 4 samples
    assert usage["completion_tokens"] == sum(c["completion_tokens"] for c in data["candidates"])
    assert usage["engine_calls"] == 1
    if data["answer"] is not None:
        assert data["votes"][data["answer"]] == max(data["votes"].values())
    again = json.loads(second.stdout)
    for record in (data, again):
        record["usage"].pop("wall_seconds")
    assert again == data


def test_cli_plain_output_shows_answer_votes_tokens_and_time() -> None:
    result = run_cli("solve", QUESTION, "--strategy", "greedy", "--max-tokens", "48")
    assert result.returncode == 0, result.stderr
    for label in ("answer:", "votes:", "tokens:", "time:"):
        assert label in result.stdout


def test_cli_prompt_longer_than_context_is_one_line_error() -> None:
    result = run_cli("solve", "apple " * 9000, "--budget", "1")
    assert result.returncode != 0
    assert result.stderr.strip().startswith("error:") and "context" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_library_solve_with_a_shared_engine(llama_engine: LlamaEngine) -> None:
    result = ponder.solve(QUESTION, engine=llama_engine, budget=4, max_tokens=48, seed=1)
    assert result.strategy == "self-consistency"
    assert len(result.candidates) == 4
    assert result.usage.engine_calls == 1
    assert result.usage.prompt_tokens_computed < result.usage.prompt_tokens
    assert result.usage.completion_tokens == sum(c.completion_tokens for c in result.candidates)
    assert result.trace[-1]["action"] == "sample" and result.trace[-1]["votes"] == result.votes
    greedy = ponder.solve(QUESTION, engine=llama_engine, strategy="greedy", max_tokens=48)
    assert len(greedy.candidates) == 1 and greedy.trace[0]["temperature"] == 0.0
