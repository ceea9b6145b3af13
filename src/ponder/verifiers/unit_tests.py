"""Unit tests as an exact verifier: a candidate function passes when its problem's tests pass.

Problems come in the HumanEval format: ``prompt`` (imports, the signature and a docstring),
``test`` (defines ``check(candidate)`` full of asserts) and ``entry_point`` (the function's
name). :func:`check_solution` runs ``prompt + completion + "\\n" + test + "\\ncheck(entry_point)"``
in the sandbox (:mod:`ponder.sandbox.sandbox`), then prints a token drawn for that run. It
passes only when the program exits with status 0 *and* the token is the last line it printed,
so a candidate that exits early (``sys.exit(0)``, ``os._exit(0)``) before the tests finish
fails. When it fails, ``failure`` names the failing line and exception, e.g.
``AssertionError at line 31: assert candidate([1, 2, 3]) == 6``.

Not defended against (as in HumanEval's own harness, the tests are the oracle): a candidate
that games the tests from inside the process, e.g. returns an object whose ``__eq__`` is
always true, or finds the token in its own source.

:func:`extract_code` turns a model's reply into a completion: the fenced block that defines
the entry point (else the first ```python or untagged block, else the whole reply). Code that
defines the function is kept whole (it replaces the prompt's stub, so its imports and helpers
come along); an ``if __name__ == "__main__":`` block is dropped (it would run, and may wait
for input). Code that does not is a body continuing the prompt: a body written flush-left is
indented, and a continuation stops at the first top-level statement that is not a definition,
import, decorator or comment (the model's own prints and asserts).
"""

from __future__ import annotations

import asyncio
import math
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

from ponder.core.result import Candidate
from ponder.sandbox.sandbox import Isolation, SandboxLimits, SandboxResult, Status, run_python
from ponder.scorers.base import ScorerInfo

_FENCE_RE = re.compile(r"```[ \t]*([\w+-]*)[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)
_PYTHON_TAGS = ("python", "py", "python3", "")
_DEF_RE = re.compile(r"^def\s+(\w+)\s*\(", re.MULTILINE)
_CODE_START = ("def ", "async def ", "class ", "import ", "from ", "@")
_KEPT_TOP_LEVEL = _CODE_START + ("#",)
_FRAME_RE = re.compile(r'^\s*File "main\.py", line (\d+)')
_CODE_LINE_RE = re.compile(
    r"(?:def |async def |class |import |from |@|#|if |elif |else:|for |while |try:|except|finally:"
    r"|with |return|assert |print\(|raise |[A-Za-z_][\w.]*(?:\[[^\]]*\])?\s*(?:[-+*/%|&^]?=|\(|,))"
)


@dataclass(frozen=True)
class TestOutcome:
    """Whether a candidate passed its unit tests; if not, the failing line and why."""

    __test__: ClassVar[bool] = False  # not a pytest test class

    passed: bool
    status: Status
    failure: str | None
    seconds: float = 0.0


def check_solution(
    prompt: str, completion: str, test: str, entry_point: str, *, timeout: float = 10.0, isolation: Isolation = "auto"
) -> TestOutcome:
    """Run ``prompt + completion`` against ``test`` (HumanEval's ``check``) in the sandbox."""
    token = f"ponder-tests-passed-{secrets.token_hex(16)}"
    program = f"{prompt}{completion}\n\n{test}\n\ncheck({entry_point})\nprint({token!r})\n"
    limits = SandboxLimits(wall_seconds=timeout, cpu_seconds=max(1, math.ceil(timeout)))
    result = run_python(program, limits=limits, isolation=isolation)
    printed = result.stdout.rstrip("\n").rsplit("\n", 1)[-1]
    if result.ok and printed == token:
        return TestOutcome(True, "ok", None, result.seconds)
    if result.ok:
        return TestOutcome(False, "error", "the program ended before the tests finished", result.seconds)
    return TestOutcome(False, result.status, describe_failure(result), result.seconds)


def describe_failure(result: SandboxResult) -> str:
    """The failing source line and exception of a failed run, else the sandbox's reason."""
    reason = result.reason or f"exit status {result.returncode}"
    if result.status != "error":
        return reason
    lines = result.stderr.splitlines()
    for index in range(len(lines) - 1, -1, -1):
        frame = _FRAME_RE.match(lines[index])
        if frame is None:
            continue
        source = lines[index + 1].strip() if index + 1 < len(lines) else ""
        if source and not source.startswith(("^", "~")) and source != reason:
            return f"{reason} at line {frame.group(1)}: {source}"
        return f"{reason} at line {frame.group(1)}"
    return reason


def extract_code(model_text: str, prompt: str, entry_point: str | None = None) -> str:
    """A completion for ``prompt`` from a model's reply (see the module docstring)."""
    name = entry_point or _last_defined(prompt)
    fenced = _pick_block(model_text, name)
    code = model_text if fenced is None else fenced
    if name is not None and _defines(code, name):
        if fenced is None:
            code = _code_region(code)
        return "\n" + _without_main_block(code).strip("\n") + "\n"
    return _as_body(code)


def _last_defined(prompt: str) -> str | None:
    names = _DEF_RE.findall(prompt)
    return names[-1] if names else None


def _defines(code: str, name: str) -> bool:
    return re.search(rf"^\s*(?:async\s+)?def\s+{re.escape(name)}\s*\(", code, re.MULTILINE) is not None


def _pick_block(text: str, name: str | None) -> str | None:
    """The fenced block that defines ``name``, else the first Python one, else the first."""
    blocks = [(match.group(1).lower(), match.group(2)) for match in _FENCE_RE.finditer(text)]
    python = [body for tag, body in blocks if tag in _PYTHON_TAGS]
    if not python:
        return blocks[0][1] if blocks else None
    for body in python:
        if name is not None and _defines(body, name):
            return body
    return python[0]


def _code_region(text: str) -> str:
    """The code in an unfenced reply: from the first definition or import to the first prose."""
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith(_CODE_START)), 0)
    kept: list[str] = []
    for line in lines[start:]:
        if line.strip() and not line[0].isspace() and not _CODE_LINE_RE.match(line):
            break
        kept.append(line)
    return "\n".join(kept)


def _without_main_block(code: str) -> str:
    out: list[str] = []
    skipping = False
    for line in code.splitlines():
        top_level = bool(line.strip()) and not line[0].isspace()
        if top_level:
            skipping = line.startswith("if __name__")
        if not skipping:
            out.append(line)
    return "\n".join(out)


def _as_body(code: str) -> str:
    lines = code.strip("\n").splitlines()
    if not any(line[:1].isspace() for line in lines if line.strip()):
        lines = ["    " + line if line.strip() else line for line in lines]
    kept: list[str] = []
    for line in lines:
        if line.strip() and not line[0].isspace() and not line.startswith(_KEPT_TOP_LEVEL):
            break
        kept.append(line)
    return "\n".join(kept).rstrip() + "\n"


class UnitTestVerifier:
    """Scores a candidate 1.0 when its code passes the problem's unit tests, else 0.0.

    Built for one HumanEval-format problem; ``question`` in :meth:`score` is not consulted.
    Candidates run in the sandbox ``concurrency`` at a time, each in its own process.
    """

    name: ClassVar[str] = "unit-tests"
    info: ClassVar[ScorerInfo] = ScorerInfo(
        kind="verifier",
        exact=True,
        cost="one sandboxed Python process per candidate (about 0.05 s plus the tests' run time)",
    )

    def __init__(
        self,
        prompt: str,
        test: str,
        entry_point: str,
        *,
        timeout: float = 10.0,
        concurrency: int = 2,
        isolation: Isolation = "auto",
    ) -> None:
        self.prompt = prompt
        self.test = test
        self.entry_point = entry_point
        self.timeout = timeout
        self.concurrency = max(1, concurrency)
        self.isolation: Isolation = isolation

    @classmethod
    def from_problem(
        cls, problem: Mapping[str, str], *, timeout: float = 10.0, concurrency: int = 2, isolation: Isolation = "auto"
    ) -> UnitTestVerifier:
        """A verifier for a HumanEval record (``prompt``, ``test``, ``entry_point``)."""
        return cls(
            problem["prompt"],
            problem["test"],
            problem["entry_point"],
            timeout=timeout,
            concurrency=concurrency,
            isolation=isolation,
        )

    def check(self, text: str) -> TestOutcome:
        """Extract the code from a model's reply and run the tests on it."""
        completion = extract_code(text, self.prompt, self.entry_point)
        return check_solution(
            self.prompt, completion, self.test, self.entry_point, timeout=self.timeout, isolation=self.isolation
        )

    async def verify(self, candidates: Sequence[Candidate]) -> list[TestOutcome]:
        """Every candidate's outcome, with its evidence (the failing assertion)."""
        limit = asyncio.Semaphore(self.concurrency)

        async def one(candidate: Candidate) -> TestOutcome:
            async with limit:
                return await asyncio.to_thread(self.check, candidate.text)

        return list(await asyncio.gather(*(one(c) for c in candidates)))

    async def score(self, question: str, candidates: Sequence[Candidate]) -> list[float]:
        return [1.0 if outcome.passed else 0.0 for outcome in await self.verify(candidates)]
