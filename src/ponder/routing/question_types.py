"""Question types for routing: what a router keys its choice of trajectory on.

Three schemes, each honest about what it knows:

- ``heuristic`` (the default): a cheap classifier over the question text alone, so a router can
  be applied to any new question. Types, first match wins: ``logic`` (premises and a
  conclusion), ``code`` (a function signature or a code block), ``choice`` (two or more lettered
  options), ``symbolic`` (LaTeX or an equation in a variable), ``word-multistep`` (a text with
  three or more numbers), ``word-simple`` (one or two numbers), ``text`` (no numbers).
- ``dataset``: every question of the dev set has the data set's name as its type.
- ``field:NAME``: the type is the problem row's ``NAME`` field (a data set with a ``type``
  column, such as MATH's subject).

A router built with ``dataset`` or ``field:`` types cannot read the type from a new question's
text: the ``routed`` strategy then takes it from its ``type`` option, or uses the fallback.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from ponder.core.errors import InvalidInputError

HEURISTIC = "heuristic"
DATASET = "dataset"
FIELD_PREFIX = "field:"

_LOGIC_RE = re.compile(r"(?im)^\s*premises?\s*:|\bconclusion\s*:|\btrue,? false,? or uncertain\b")
_CODE_RE = re.compile(r"(?m)^\s*def \w+\s*\(|```|^\s*(?:import|from) \w+|\bclass \w+\s*[:(]")
_OPTION_RE = re.compile(r"(?m)(?:^|\s)\(?([A-E])[).:]\s+\S")
_SYMBOLIC_RE = re.compile(
    r"\$|\\(?:frac|sqrt|sum|int|cdot|pi|le|ge)\b|\^|\b[a-z]\s*=\s*[-\d(]|\bsolve for\b|"
    r"\d\s*[a-z]\b\s*[-+=]",
    re.IGNORECASE,
)
_NUMBER_RE = re.compile(r"\d+(?:[.,]\d+)*")
HEURISTIC_TYPES = ("logic", "code", "choice", "symbolic", "word-multistep", "word-simple", "text")


def classify(question: str) -> str:
    """The heuristic type of a question (see the module docstring)."""
    if _LOGIC_RE.search(question):
        return "logic"
    if _CODE_RE.search(question):
        return "code"
    if len(set(_OPTION_RE.findall(question))) >= 2:
        return "choice"
    if _SYMBOLIC_RE.search(question):
        return "symbolic"
    numbers = len(_NUMBER_RE.findall(question))
    if numbers >= 3:
        return "word-multistep"
    return "word-simple" if numbers else "text"


def check_scheme(scheme: str) -> str:
    """``scheme`` if it is ``heuristic``, ``dataset`` or ``field:NAME``; else a clear error."""
    if scheme in (HEURISTIC, DATASET) or (scheme.startswith(FIELD_PREFIX) and scheme[len(FIELD_PREFIX) :].strip()):
        return scheme
    raise InvalidInputError(f"question types {scheme!r}: choose heuristic, dataset or field:NAME")


def typer(scheme: str, dataset: str) -> Callable[[str, Mapping[str, Any]], str]:
    """The type of a dev-set problem, from its question and raw row, under ``scheme``."""
    check_scheme(scheme)
    if scheme == HEURISTIC:
        return lambda question, row: classify(question)
    if scheme == DATASET:
        return lambda question, row: dataset
    name = scheme[len(FIELD_PREFIX) :].strip()

    def from_field(question: str, row: Mapping[str, Any]) -> str:
        value = row.get(name)
        if value is None or not str(value).strip():
            raise InvalidInputError(f"question types {scheme}: a problem has no {name!r} field")
        return str(value).strip()

    return from_field
