"""CLI error handling for input that is rejected before any model is loaded."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from ponder.cli.main import cli


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def assert_one_line_error(args: list[str], *needles: str) -> None:
    code, out, err = run(*args)
    assert code != 0
    assert out == ""
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error:")
    for needle in needles:
        assert needle in lines[0]


@pytest.mark.parametrize("question", ["", "   "])
def test_empty_question(question: str) -> None:
    assert_one_line_error(["solve", question], "question is empty")


def test_budget_zero() -> None:
    assert_one_line_error(["solve", "What is 2+2?", "--budget", "0"], "budget", "0")


def test_negative_temperature() -> None:
    assert_one_line_error(["solve", "What is 2+2?", "--temperature", "-1"], "temperature")


def test_missing_model_file(tmp_path: Path) -> None:
    missing = tmp_path / "absent" / "model.gguf"
    assert_one_line_error(["solve", "What is 2+2?", "--model", str(missing)], "not found", str(missing))


def test_model_file_that_is_not_gguf(tmp_path: Path) -> None:
    fake = tmp_path / "fake.gguf"
    fake.write_bytes(b"not a model")
    assert_one_line_error(["solve", "What is 2+2?", "--model", str(fake)], "not a GGUF", str(fake))


def test_unknown_model_name() -> None:
    assert_one_line_error(["solve", "What is 2+2?", "--model", "no-such-model"], "no-such-model", "smollm2-135m")


def test_unknown_strategy() -> None:
    assert_one_line_error(["solve", "What is 2+2?", "--strategy", "nope"], "unknown strategy", "nope", "greedy")


def test_unknown_engine() -> None:
    assert_one_line_error(["solve", "What is 2+2?", "--engine", "nope"], "unknown engine", "nope", "llama")


def test_strategies_lists_builtins() -> None:
    code, out, _ = run("strategies")
    assert code == 0
    names = [line.split(":")[0] for line in out.splitlines() if not line.startswith(" ")]
    assert {
        "greedy",
        "self-consistency",
        "adaptive-self-consistency",
        "best-of-n",
        "weighted-best-of-n",
        "weighted-majority",
    } <= set(names)
    assert "    batch=4" in out  # parameters are listed with their defaults
