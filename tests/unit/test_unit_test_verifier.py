"""Unit tests as a verifier: HumanEval's canonical solutions pass, broken ones fail with evidence."""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from ponder.bench.catalog import builtin_file
from ponder.core.jsonl import read_jsonl
from ponder.core.result import Candidate
from ponder.verifiers import UnitTestVerifier, check_solution, extract_code

ADD_PROMPT = 'def add(x: int, y: int):\n    """Add two numbers x and y\n    >>> add(2, 3)\n    5\n    """\n'
ADD_TEST = (
    "def check(candidate):\n    assert candidate(0, 1) == 1\n    assert candidate(2, 3) == 5\n"
    "    assert candidate(7, 5) == 12\n"
)


Problems = dict[str, dict[str, Any]]


@pytest.fixture(scope="module")
def problems() -> Problems:
    return {row["task_id"]: row for _, row in read_jsonl(builtin_file("humaneval"))}


def test_every_canonical_solution_passes(problems: Problems, capsys: pytest.CaptureFixture[str]) -> None:
    started = time.monotonic()
    with ThreadPoolExecutor(2) as pool:
        outcomes = list(
            pool.map(
                lambda p: check_solution(p["prompt"], p["canonical_solution"], p["test"], p["entry_point"]),
                problems.values(),
            )
        )
    elapsed = time.monotonic() - started
    failed = {task: o for task, o in zip(problems, outcomes, strict=True) if not o.passed}
    assert len(problems) == 164 and failed == {}
    with capsys.disabled():
        print(f"\n164 HumanEval canonical solutions checked in {elapsed:.1f} s (2 at a time)")


@pytest.mark.parametrize(
    ("task", "original", "mutant"),
    [
        ("HumanEval/0", "distance < threshold", "distance > threshold"),
        ("HumanEval/13", "return a", "return b"),
        ("HumanEval/23", "len(string)", "len(string) + 1"),
        ("HumanEval/35", "e > m", "e < m"),
        ("HumanEval/53", "x + y", "x - y"),
    ],
)
def test_a_mutated_solution_fails_with_the_failing_assertion(
    problems: Problems, task: str, original: str, mutant: str
) -> None:
    problem = problems[task]
    assert original in problem["canonical_solution"]
    broken = problem["canonical_solution"].replace(original, mutant, 1)
    outcome = check_solution(problem["prompt"], broken, problem["test"], problem["entry_point"])
    assert not outcome.passed and outcome.status == "error"
    assert outcome.failure is not None
    assert outcome.failure.startswith("AssertionError at line ") and ": assert candidate(" in outcome.failure


@pytest.mark.parametrize(
    "body",
    [
        "    import sys\n    sys.exit(0)\n",
        "    import os\n    os._exit(0)\n",
        "    raise SystemExit\n",
    ],
)
def test_exiting_before_the_tests_finish_does_not_pass(body: str) -> None:
    outcome = check_solution(ADD_PROMPT, body, ADD_TEST, "add")
    assert not outcome.passed and outcome.failure == "the program ended before the tests finished"


def test_a_hanging_solution_times_out() -> None:
    outcome = check_solution(ADD_PROMPT, "    while True:\n        pass\n", ADD_TEST, "add", timeout=1.0)
    assert (outcome.passed, outcome.status) == (False, "timeout")


def test_an_exception_in_the_solution_is_reported() -> None:
    outcome = check_solution(ADD_PROMPT, "    return x + z\n", ADD_TEST, "add")
    assert not outcome.passed and outcome.failure is not None
    assert outcome.failure.startswith("NameError: name 'z' is not defined at line ")


# --- extract_code ----------------------------------------------------------------------------

REPLIES = {
    "fenced redefinition": "Here you go:\n```python\ndef add(x: int, y: int):\n    return x + y\n```\nDone.",
    "fenced body": "```python\n    return x + y\n```",
    "flush-left body": "```\nreturn x + y\n```",
    "raw continuation": "    return x + y\n\n\nprint(add(1, 2))\nassert add(2, 2) == 5\n",
    "example block first": "Usage:\n```python\nprint(add(1, 2))\n```\nSolution:\n"
    "```python\nimport operator\n\ndef add(x, y):\n    return operator.add(x, y)\n```",
    "unfenced prose": "Sure! Here is the function.\ndef add(x, y):\n    total = x + y\n    return total\n\n"
    "This works because addition is addition.",
    "main block": "```py\ndef add(x, y):\n    return x + y\n\n"
    "if __name__ == '__main__':\n    print(add(int(input()), 1))\n```",
    "other languages": "```bash\npython add.py\n```\n```python\ndef helper(a, b):\n    return a + b\n\n"
    "def add(x, y):\n    return helper(x, y)\n```",
    "helper after body": "    return _plus(x, y)\n\n\ndef _plus(a, b):\n    return a + b\n\nprint('junk')\n",
}


@pytest.mark.parametrize("kind", list(REPLIES))
def test_extracted_code_passes_the_tests(kind: str) -> None:
    completion = extract_code(REPLIES[kind], ADD_PROMPT)
    outcome = check_solution(ADD_PROMPT, completion, ADD_TEST, "add")
    assert outcome.passed, (completion, outcome)


def test_extract_code_shapes() -> None:
    assert extract_code(REPLIES["fenced redefinition"], ADD_PROMPT) == "\ndef add(x: int, y: int):\n    return x + y\n"
    assert extract_code(REPLIES["flush-left body"], ADD_PROMPT) == "    return x + y\n"
    assert extract_code(REPLIES["raw continuation"], ADD_PROMPT) == "    return x + y\n"
    assert "import operator" in extract_code(REPLIES["example block first"], ADD_PROMPT)
    assert "This works" not in extract_code(REPLIES["unfenced prose"], ADD_PROMPT)
    assert "__main__" not in extract_code(REPLIES["main block"], ADD_PROMPT)
    helper = extract_code(REPLIES["helper after body"], ADD_PROMPT)
    assert "def _plus" in helper and "junk" not in helper


def test_extract_code_targets_the_last_function_of_the_prompt(problems: Problems) -> None:
    problem = problems["HumanEval/38"]  # encode_cyclic is given; decode_cyclic is the task
    reply = "```python\ndef decode_cyclic(s: str):\n    return encode_cyclic(encode_cyclic(s))\n```"
    completion = extract_code(reply, problem["prompt"])
    assert completion.startswith("\ndef decode_cyclic")
    assert check_solution(problem["prompt"], completion, problem["test"], problem["entry_point"]).passed


# --- the scorer ------------------------------------------------------------------------------


def candidate(text: str) -> Candidate:
    return Candidate(text=text, answer=None, finish_reason="stop", completion_tokens=1)


async def test_the_verifier_scores_passing_and_failing_candidates() -> None:
    verifier = UnitTestVerifier(ADD_PROMPT, ADD_TEST, "add")
    passing = candidate("```python\ndef add(x, y):\n    return x + y\n```")
    failing = candidate("```python\ndef add(x, y):\n    return x * y\n```")
    assert await verifier.score("add two numbers", [passing, failing, passing]) == [1.0, 0.0, 1.0]
    outcomes = await verifier.verify([failing])
    expected = r"AssertionError at line \d+: assert candidate\(0, 1\) == 1"
    assert re.fullmatch(expected, outcomes[0].failure or "")


async def test_the_verifier_from_a_humaneval_record(problems: Problems) -> None:
    problem = problems["HumanEval/53"]
    verifier = UnitTestVerifier.from_problem(problem, timeout=5.0)
    canonical = candidate(problem["prompt"] + problem["canonical_solution"])  # the reply repeats the prompt
    assert await verifier.score(problem["prompt"], [canonical, candidate("no code here")]) == [1.0, 0.0]


def test_the_verifier_declares_itself() -> None:
    assert UnitTestVerifier.name == "unit-tests"
    assert (UnitTestVerifier.info.kind, UnitTestVerifier.info.exact) == ("verifier", True)
