"""Program-of-thought answers: the model writes Python, the sandbox runs it, the printout answers.

The code is the last fenced ```python block of a reply (else any fenced block, else the whole
reply); the answer is the last non-empty line the program printed, normalised like any math
answer. A program that fails, times out or hits a limit has no answer; the reason is kept.
"""

from __future__ import annotations

from dataclasses import dataclass

from ponder.answers.extract import extract_answer, extract_program, normalize_answer
from ponder.sandbox.sandbox import SandboxLimits, run_python

PROGRAM_SYSTEM_PROMPT = (
    "Solve the problem by writing a short Python program that computes the answer and prints only "
    "the final answer. Reply with the program in one ```python code block."
)
# Arithmetic programs finish in milliseconds; a runaway one should not hold a vote up for long.
PROGRAM_LIMITS = SandboxLimits(wall_seconds=5.0, cpu_seconds=5)


@dataclass(frozen=True)
class ProgramAnswer:
    """What running a reply's program gave: its answer, or why there is none."""

    answer: str | None
    status: str
    detail: str


def run_program(text: str, limits: SandboxLimits | None = None) -> ProgramAnswer:
    """Run the reply's program in the sandbox and read its answer from what it printed."""
    code = extract_program(text)
    if not code:
        return ProgramAnswer(None, "error", "the reply holds no program")
    result = run_python(code, limits=limits or PROGRAM_LIMITS)
    if result.status != "ok":
        return ProgramAnswer(None, result.status, result.reason or result.stderr[-200:])
    lines = [line.strip() for line in result.stdout.splitlines() if line.strip()]
    if not lines:
        return ProgramAnswer(None, "error", "the program printed nothing")
    return ProgramAnswer(extract_answer(lines[-1]) or normalize_answer(lines[-1]), "ok", lines[-1][:200])
