"""Unit-test generator and evaluator (Archon): the model writes assert statements for the
function the question asks for; every candidate's code then runs against them in the sandbox
(:mod:`ponder.verifiers`), so tests are executed, never judged by a model.

The evaluator runs one sandboxed program per candidate: the candidate's code (extracted as the
unit-test verifier does), then each assert in its own ``try``, then a token drawn for that run
with the number passed. A candidate scores the fraction of tests it passes; one whose code
fails to load, exits early or runs past the timeout passes none. Tests come from a model and
may be wrong: the score ranks candidates, it does not prove them.
"""

from __future__ import annotations

import asyncio
import math
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import ClassVar

from ponder.answers.extract import extract_program
from ponder.core.params import check, param
from ponder.core.result import Candidate
from ponder.engines.base import Message
from ponder.pipelines.components.base import MODEL_HELP, Slot, check_model, temperature_for
from ponder.pipelines.state import Output, PipelineState
from ponder.sandbox import SandboxLimits, run_python
from ponder.strategies.templates import check_template
from ponder.verifiers import extract_code

FIELDS = frozenset({"question", "count"})
TEST_PROMPT = (
    "Task: {question}\n\nWrite {count} unit tests for the function this task asks for, as Python assert "
    "statements, one per line, such as: assert add(2, 3) == 5\nWrite only the assert lines."
)
_ASSERT_RE = re.compile(r"^\s*(assert\s.+?)\s*$", re.MULTILINE)
_DEF_RE = re.compile(r"^(?:async\s+)?def\s+(\w+)\s*\(", re.MULTILINE)


@dataclass(frozen=True)
class TestGeneratorParams:
    __test__: ClassVar[bool] = False  # not a pytest test class

    samples: int = param(1, "test-writing generations")
    count: int = param(5, "tests asked for per generation ({count} in the prompt)")
    max_tests: int = param(10, "tests kept at most (first written first)")
    prompt: str = param(TEST_PROMPT, "test request; fields {question} and {count}")
    temperature: float | None = param(
        None, "sampling temperature [default: the run's, else 0; 0.8 for several samples]"
    )
    max_tokens: int | None = param(None, "tokens per generation [default: the run's]")
    model: str | None = param(None, MODEL_HELP)

    def __post_init__(self) -> None:
        check_model(self.model)
        check(self.samples >= 1, f"samples must be >= 1, got {self.samples}")
        check(self.count >= 1, f"count must be >= 1, got {self.count}")
        check(self.max_tests >= 1, f"max_tests must be >= 1, got {self.max_tests}")
        check_template("prompt", self.prompt, FIELDS)
        check(self.temperature is None or self.temperature >= 0, f"temperature must be >= 0, got {self.temperature}")
        check(self.max_tokens is None or self.max_tokens >= 1, f"max_tokens must be >= 1, got {self.max_tokens}")


def read_asserts(text: str) -> list[str]:
    """The one-line assert statements in a reply, in order."""
    return [line for line in _ASSERT_RE.findall(text) if not line.rstrip().endswith(("(", "[", "{", ",", "\\"))]


class TestGenerator:
    """Asks the model for assert statements; they accumulate in the state's ``tests``."""

    __test__: ClassVar[bool] = False
    kind: ClassVar[str] = "test_generator"
    summary: ClassVar[str] = "the model writes assert tests for the task"
    Params: ClassVar[type] = TestGeneratorParams
    creates: ClassVar[bool] = False
    needs_candidates: ClassVar[bool] = False

    def __init__(self, params: TestGeneratorParams) -> None:
        self.params = params

    def need(self, state: PipelineState) -> int:
        return self.params.samples

    def estimate(self, candidates: int) -> tuple[int, int | None]:
        return self.params.samples, None

    async def run(self, state: PipelineState, slot: Slot) -> Output:
        ctx, p = slot.ctx, self.params
        n = min(p.samples, slot.allowed)
        temperature = temperature_for(ctx, p.temperature, n)
        request = (Message("user", p.prompt.format(question=ctx.question, count=p.count)),)
        replies = await slot.ctx.sample_each([request] * n, temperature=temperature, max_tokens=p.max_tokens)
        tests: list[str] = []
        for reply in replies:
            tests += [t for t in read_asserts(reply.text) if t not in tests and t not in state.tests]
        kept = tuple(tests[: p.max_tests])
        return Output(tests=kept, info={"n": n, "temperature": temperature, "tests": list(kept)})


@dataclass(frozen=True)
class TestEvaluatorParams:
    __test__: ClassVar[bool] = False

    threshold: float = param(0.0, "candidates passing a smaller fraction of the tests are dropped")
    timeout: float = param(5.0, "seconds one candidate's test run may take")
    concurrency: int = param(2, "sandboxed runs at once")

    def __post_init__(self) -> None:
        check(0.0 <= self.threshold <= 1.0, f"threshold must be in [0, 1], got {self.threshold}")
        check(self.timeout > 0, f"timeout must be > 0, got {self.timeout}")
        check(self.concurrency >= 1, f"concurrency must be >= 1, got {self.concurrency}")


def candidate_code(text: str) -> str:
    """A candidate's code: its program, whole functions kept, any ``__main__`` block dropped."""
    program = extract_program(text)
    defined = _DEF_RE.findall(program)
    return extract_code(text, "", defined[-1]) if defined else program + "\n"


def passed_tests(code: str, tests: Sequence[str], timeout: float) -> tuple[int, str]:
    """How many of ``tests`` pass against ``code`` in the sandbox, and how the run ended."""
    token = f"ponder-tests-{secrets.token_hex(12)}"
    program = (
        f"{code}\n\n__ponder_passed__ = 0\nfor __ponder_test__ in {list(tests)!r}:\n"
        "    try:\n        exec(__ponder_test__, globals())\n        __ponder_passed__ += 1\n"
        "    except Exception:\n        pass\n"
        f"print({token!r}, __ponder_passed__)\n"
    )
    limits = SandboxLimits(wall_seconds=timeout, cpu_seconds=max(1, math.ceil(timeout)))
    result = run_python(program, limits=limits)
    last = result.stdout.rstrip("\n").rsplit("\n", 1)[-1].split()
    if result.ok and len(last) == 2 and last[0] == token:
        return int(last[1]), "ok"
    return 0, result.reason or ("the program ended before the tests finished" if result.ok else result.status)


class TestEvaluator:
    """Runs every candidate against the generated tests; score = fraction passed."""

    __test__: ClassVar[bool] = False
    kind: ClassVar[str] = "test_evaluator"
    summary: ClassVar[str] = "runs candidates against the generated tests in the sandbox"
    Params: ClassVar[type] = TestEvaluatorParams
    creates: ClassVar[bool] = False
    needs_candidates: ClassVar[bool] = True

    def __init__(self, params: TestEvaluatorParams) -> None:
        self.params = params

    def need(self, state: PipelineState) -> int:
        return 0

    def estimate(self, candidates: int) -> tuple[int, int]:
        return 0, candidates

    async def run(self, state: PipelineState, slot: Slot) -> Output:
        tests = state.tests
        if not tests:
            return Output(candidates=state.candidates, info={"tests": 0, "note": "no tests were written"})
        limit = asyncio.Semaphore(self.params.concurrency)

        async def one(candidate: Candidate) -> Candidate:
            async with limit:
                passed, how = await asyncio.to_thread(
                    passed_tests, candidate_code(candidate.text), tests, self.params.timeout
                )
            return replace(candidate, score=passed / len(tests), evidence=f"{passed}/{len(tests)} tests passed ({how})")

        scored = await asyncio.gather(*(one(c) for c in state.candidates))
        kept = tuple(c for c in scored if (c.score or 0.0) >= self.params.threshold)
        info = {
            "tests": len(tests),
            "passed": [round((c.score or 0.0) * len(tests)) for c in scored],
            "dropped": [c.index for c in scored if c not in kept],
        }
        return Output(candidates=kept, scored=tuple(scored), info=info)
