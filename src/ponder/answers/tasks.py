"""Answer tasks: how to read a final answer from a solution and when two answers agree.

A task bundles an extractor and an equivalence. Built-ins: ``math`` (numbers, ``\\boxed{}``,
"The answer is", ``####``; equal values by math-verify), ``choice`` (multiple-choice letters
A-J), ``label`` (True / False / Uncertain, as in FOLIO) and ``code`` (the program in a reply,
compared as text; verify it with unit tests). Pick one per data set or question.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from ponder.answers.equivalence import math_equivalent
from ponder.answers.extract import extract_answer, extract_program
from ponder.core.errors import UnknownNameError


@dataclass(frozen=True)
class AnswerTask:
    """An extractor (text -> normalised answer or None) and an equivalence (a, b -> bool)."""

    name: str
    extract: Callable[[str], str | None]
    equivalent: Callable[[str, str], bool]

    def __call__(self, text: str) -> str | None:
        return self.extract(text)


_CHOICE_PATTERNS = [
    re.compile(r"(?i:answer)\s*(?:is|:)?\s*:?\s*\(?([A-J])\)?(?![A-Za-z])"),
    re.compile(r"(?i:answer)\s*(?:is|:)?\s*:?\s*\(?([a-j])\)?\.?\s*$", re.MULTILINE),  # "answer: d", not "is a bit"
    re.compile(r"\\boxed\{\(?([A-J])\)?\}"),
    re.compile(r"^\s*\(?([A-J])\)?[.):]?\s*$", re.MULTILINE),
    re.compile(r"\(([A-J])\)"),
]


def extract_choice(text: str) -> str | None:
    """A multiple-choice letter: "The answer is (B)", ``\\boxed{C}``, a line holding just "D"."""
    for pattern in _CHOICE_PATTERNS:
        found = pattern.findall(text)
        if found:
            return found[-1].upper()
    return None


_LABELS = {"true": "True", "false": "False", "uncertain": "Uncertain", "unknown": "Uncertain"}
_LABEL_RE = re.compile(r"\b(true|false|uncertain|unknown)\b", re.IGNORECASE)


def extract_label(text: str) -> str | None:
    """True / False / Uncertain: the label stated after "answer", else the last one mentioned."""
    tail = re.split(r"answer\s*(?:is|:)", text, flags=re.IGNORECASE)[-1]
    found = _LABEL_RE.findall(tail) or _LABEL_RE.findall(text)
    return _LABELS[found[0 if tail is not text else -1].lower()] if found else None


def _same(a: str, b: str) -> bool:
    return a == b


def extract_code(text: str) -> str | None:
    """The code of a reply (its last fenced block, else the whole reply); None when empty."""
    return extract_program(text) or None


TASKS: dict[str, AnswerTask] = {
    "math": AnswerTask("math", extract_answer, math_equivalent),
    "code": AnswerTask("code", extract_code, _same),
    "choice": AnswerTask("choice", extract_choice, _same),
    "label": AnswerTask("label", extract_label, _same),
}
DEFAULT_TASK = "math"


def get_task(name: str) -> AnswerTask:
    task = TASKS.get(name)
    if task is None:
        raise UnknownNameError(f"unknown answer task {name!r}; available: {', '.join(sorted(TASKS))}")
    return task
