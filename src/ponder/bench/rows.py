"""Reading a data set's rows: text from a field, final answers from solutions, ids, and the
:class:`DatasetSpec` that ties them to a file and a grader.

A reader takes one row (a JSON object) and returns text; it raises ``KeyError(field)`` for a
missing field and ``ValueError`` for a bad one, which :func:`ponder.bench.datasets.load_problems`
turns into an error naming the line and the field.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ponder.answers import normalize_answer
from ponder.answers.extract import last_boxed

Row = Mapping[str, Any]
RowReader = Callable[[Row], str]
"""Reads one text from a row; raises KeyError(field) for a missing field, ValueError for a bad one."""
IdReader = Callable[[Row, int], str]
"""The id of a row, given the row and its 0-based line index."""


def as_text(value: Any, *, strip: bool = True) -> str:
    """A field's value as text: strings stripped (unless told), numbers without a trailing ``.0``
    (``14.0`` -> ``14``, ``0.3`` -> ``0.3``)."""
    if isinstance(value, str):
        return value.strip() if strip else value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"expected text or a number, got {type(value).__name__}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"expected a finite number, got {value}")
    return format(Decimal(repr(value)).normalize(), "f")


def field(name: str, *, strip: bool = True) -> RowReader:
    """A reader of one field, as text (see :func:`as_text`)."""

    def read(row: Row) -> str:
        return as_text(row[name], strip=strip)

    return read


def verbatim(name: str) -> RowReader:
    """A reader of a question field, kept verbatim (the whitespace of a code prompt matters)."""
    return field(name, strip=False)


def after_hashes(name: str) -> RowReader:
    """The final answer of a GSM8K-style solution: the number after ``####``, commas dropped."""

    def read(row: Row) -> str:
        solution = as_text(row[name])
        if "####" not in solution:
            raise ValueError(f"field {name!r} has no '####' final answer")
        return normalize_answer(solution.rsplit("####", 1)[1])

    return read


def boxed(name: str) -> RowReader:
    """The content of the last ``\\boxed{...}`` of a solution (MATH style)."""

    def read(row: Row) -> str:
        answer = last_boxed(as_text(row[name]))
        if answer is None or not answer.strip():
            raise ValueError(f"field {name!r} has no \\boxed{{}} final answer")
        return answer.strip()

    return read


def premises_and_conclusion(premises: str = "premises", conclusion: str = "conclusion") -> RowReader:
    """A FOLIO question: "Premises:", one premise a line, then "Conclusion: ..."."""

    def read(row: Row) -> str:
        given = row[premises]
        lines = given.splitlines() if isinstance(given, str) else [as_text(item) for item in given]
        body = "\n".join(line.strip() for line in lines if line.strip())
        return f"Premises:\n{body}\nConclusion: {as_text(row[conclusion])}"

    return read


def constant(text: str) -> RowReader:
    """A reader that ignores the row (HumanEval's gold: the unit tests are the oracle)."""

    def read(row: Row) -> str:
        return text

    return read


def first_id(names: tuple[str, ...] = ("id", "task_id")) -> IdReader:
    """The first of ``names`` the row holds, else the row's 0-based line index."""

    def read(row: Row, index: int) -> str:
        for name in names:
            if name in row and row[name] is not None:
                return as_text(row[name])
        return str(index)

    return read


def required_id(name: str) -> IdReader:
    """The field ``name``, which every row must hold."""

    def read(row: Row, index: int) -> str:
        return as_text(row[name])

    return read


@dataclass(frozen=True)
class DatasetSpec:
    """How one data set's rows become problems: its file, readers for question, gold and id, its grader.

    ``filename`` is a built-in's file name, uncompressed (``gsm8k_test.jsonl``): ponder ships it
    gzipped as package data, and a data directory that overrides it may hold either form (see
    :mod:`ponder.bench.catalog`); empty for a local or Hugging Face source. ``about`` says what the
    set is; ``licence`` and ``source`` say under which terms it is used and where it comes from.
    """

    filename: str
    question: RowReader
    gold: RowReader
    grader: str
    id: IdReader = first_id()
    about: str = ""
    licence: str = ""
    source: str = ""
