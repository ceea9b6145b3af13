"""What Hogwild! workers are told, how their steps are headed, and how a final answer is recognised.

In the spirit of the paper's prompt (Rodionov et al. 2025, and its reference code's formatting):
the workers are told that they write at the same time, that each sees the others' finished steps
as they appear (headed ``**Name [step]:**``), that they may split the work, check each other and
switch when they duplicate someone, and that any one of them writes the final answer, which then
cannot change. Two deliberate differences, for small models on a CPU: the paper's prompt adds long
few-shot examples of collaboration (several thousand tokens), left out here; and since ponder's
workers do not see the others' steps in progress (see :mod:`ponder.engines.llama.collab`), the
prompt does not describe that part of the paper's layout. Replace :data:`COLLABORATION` with the
``prompt`` option.

The final answer is asked for in the run's task format, the one ponder's default system prompt and
extractors use (math: "The answer is N", a ``\\boxed{N}`` counts too); :func:`answer_format` gives
the wording and the test that a finished step states it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from ponder.answers.extract import last_boxed

NAMES = ("Alice", "Bob", "Carol", "Dave", "Eve", "Frank", "Grace", "Heidi")
"""Worker names, in order (the paper's two workers are Alice and Bob)."""

HEADER = "**{name} [{{step}}]:** "
"""The header of each step: the worker's name and its step number (the reference code's format)."""

OPENERS = ("Hi, I'm {name}. Let's split the work:", "Hi, I'm {name}.")
"""What follows the header of a worker's first step: the first worker proposes a plan, the others
introduce themselves (as the reference code's worker prompts do)."""

COLLABORATION = """Several assistants are solving the problem below together, at the same time: {names}.

How you work together:
- You all write at once, in steps: a few sentences, then a blank line.
- As soon as one of you finishes a step, everyone sees it, headed with its author and number, \
like **{first} [1]:**. Your own step in progress is always the last one, under your own name.
- Work as a team: agree on a plan and split the work (one computes while another checks), read \
the others' steps and build on them. If someone is already doing what you are doing, do \
something else.
- Check each other's results and say so when you find a mistake.
- When the problem is solved, any one of you writes the final answer as {answer_format}. After \
that, nobody can change it.

Problem: {question}"""
"""The default collaboration prompt (the user's message); fields: {question}, {workers} (how many),
{names} ("Alice and Bob"), {first} (the first worker's name), {answer_format}."""

PROMPT_FIELDS = frozenset({"question", "workers", "names", "first", "answer_format"})

_PLACEHOLDERS = {"answer", "n", "x", "letter", "number", "answer here", "..."}
_ANSWER_IS = re.compile(r"\banswer\s*(?:is|:|=)\s*:?\s*\(?\$?\s*(\S+)", re.IGNORECASE)


@dataclass(frozen=True)
class AnswerFormat:
    """How the prompt asks for the final answer, and whether a step's text states one."""

    wording: str
    stated: Callable[[str], bool]


def _boxed(text: str) -> bool:
    content = last_boxed(text)
    return content is not None and content.strip().lower() not in _PLACEHOLDERS and bool(content.strip())


def _says(pattern: str, flags: int = 0) -> Callable[[str], bool]:
    """A step states the answer: a ``\\boxed{}`` value, or "answer is" followed by ``pattern``."""
    value = re.compile(pattern, flags)

    def stated(text: str) -> bool:
        if _boxed(text):
            return True
        return any(value.match(found) for found in _ANSWER_IS.findall(text))

    return stated


def _code(text: str) -> bool:
    return re.search(r"```(?:python|py)[ \t]*\n.*?```", text, re.DOTALL | re.IGNORECASE) is not None


FORMATS = {
    "math": AnswerFormat('"The answer is" followed by the number', _says(r"-?[\d.,/]*\d")),
    "choice": AnswerFormat('"The answer is" followed by the letter, like (B)', _says(r"[A-J]\b|[A-J]\)")),
    "label": AnswerFormat(
        '"The answer is" followed by True, False or Uncertain', _says(r"(true|false|uncertain)\b", re.IGNORECASE)
    ),
    "code": AnswerFormat("one complete ```python code block", _code),
}


def answer_format(task: str) -> AnswerFormat:
    """The final-answer format of ``task`` (a task without one of its own: the math format)."""
    return FORMATS.get(task, FORMATS["math"])


def names_text(names: tuple[str, ...]) -> str:
    """``"Alice"``, ``"Alice and Bob"``, ``"Alice, Bob and Carol"``."""
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def headers(names: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(HEADER.format(name=name) for name in names)


def openers(names: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(OPENERS[min(i, 1)].format(name=name) for i, name in enumerate(names))
