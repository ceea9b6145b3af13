"""Pulling the final answer out of a model's free-form solution.

The order of preference: the last ``\\boxed{...}``; a GSM8K-style ``#### X``; the last
"answer is X" / "answer: X" (the value after the last ``=`` when the statement is an equation);
otherwise the last number in the text. Answers are normalised so
that equal values vote together (``12``, ``12.0``, ``$12``, ``1,200`` vs ``1200``).
"""

from __future__ import annotations

import re
from decimal import Decimal
from fractions import Fraction
from typing import Protocol

_NUMBER = r"-?\d[\d,]*(?:\.\d+)?(?:/\d+)?|-?\.\d+"
_NUMBER_RE = re.compile(_NUMBER)
_HASHES_RE = re.compile(r"####\s*([^\n]+)")
# The value is captured in a lookahead so that a later statement on the same line still matches.
_ANSWER_IS_RE = re.compile(
    r"answer(?:\s+(?:to|for|of)\s+[^.:\n]{0,40}?)?\s*(?:is|:|=)\s*:?\s*(?=([^\n]+))", re.IGNORECASE
)


class AnswerExtractor(Protocol):
    """Turns a solution text into a normalised final answer, or ``None`` when it has none."""

    def __call__(self, text: str) -> str | None: ...


def last_boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{...}`` (nested braces allowed), if any."""
    start = text.rfind("\\boxed")
    if start < 0:
        return None
    open_at = text.find("{", start)
    if open_at < 0:
        return None
    depth = 0
    for i in range(open_at, len(text)):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return text[open_at + 1 : i]
    return None


def _canonical_number(token: str) -> str | None:
    cleaned = token.replace(",", "")
    try:
        value = Fraction(cleaned)
    except (ValueError, ZeroDivisionError):
        return None
    if value.denominator == 1:
        return str(value.numerator)
    if "/" in cleaned:
        return f"{value.numerator}/{value.denominator}"
    return format(Decimal(cleaned).normalize(), "f")  # by value, not rounded to 6 digits


def normalize_answer(answer: str) -> str:
    """A canonical form for voting: numbers by value, other text trimmed and lower-cased."""
    text = answer.strip()
    text = re.sub(r"\\text\{([^}]*)\}", r"\1", text)
    text = text.replace("\\$", "").replace("$", "").replace("\\%", "").replace("%", "")
    text = text.strip().rstrip(".").strip()
    if _NUMBER_RE.fullmatch(text):
        canonical = _canonical_number(text)
        if canonical is not None:
            return canonical
    frac = re.fullmatch(r"\\[dt]?frac\{(-?\d+)\}\{(\d+)\}", text)
    if frac:
        canonical = _canonical_number(f"{frac.group(1)}/{frac.group(2)}")
        if canonical is not None:
            return canonical
    return " ".join(text.lower().split())


def _leading_value(fragment: str) -> str | None:
    """The value a fragment states: ``'$1,200 in total.'`` gives 1200, ``'3 + 4 = 7.'`` gives 7."""
    boxed = last_boxed(fragment)
    if boxed is not None:
        return normalize_answer(boxed)
    fragment = re.split(r"\.\s", fragment)[0]  # the first sentence
    if "=" in fragment:
        fragment = fragment.rsplit("=", 1)[1]
    match = _NUMBER_RE.search(fragment)
    if match:
        return normalize_answer(match.group(0))
    fragment = fragment.strip()
    return normalize_answer(fragment) if fragment else None


def extract_answer(text: str) -> str | None:
    """The normalised final answer of a solution, or ``None`` when there is none."""
    boxed = last_boxed(text)
    if boxed is not None and boxed.strip():
        return normalize_answer(boxed)
    hashes = _HASHES_RE.findall(text)
    if hashes:
        return _leading_value(hashes[-1])
    stated = _ANSWER_IS_RE.findall(text)
    if stated:  # the last statement that gives a number, else the last statement
        numeric = [s for s in stated if _NUMBER_RE.search(s)]
        return _leading_value((numeric or stated)[-1])
    numbers = _NUMBER_RE.findall(text)
    return normalize_answer(numbers[-1]) if numbers else None


class NumericExtractor:
    """The default extractor for math word problems (see :func:`extract_answer`)."""

    def __call__(self, text: str) -> str | None:
        return extract_answer(text)


_FENCE_RE = re.compile(r"```(?:python|py)?[ \t]*\n(.*?)(?:```|$)", re.DOTALL | re.IGNORECASE)


def extract_program(text: str) -> str:
    """The Python code in a model's reply."""
    python = re.findall(r"```(?:python|py)[ \t]*\n(.*?)(?:```|$)", text, re.DOTALL | re.IGNORECASE)
    blocks = python or _FENCE_RE.findall(text)
    return (blocks[-1] if blocks else text).strip()
