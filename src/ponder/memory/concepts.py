"""Concepts: the records a memory keeps, how they are written into a prompt, and how alike two are.

A concept is an abstraction learned from a solved problem, in ArcMemo's open-ended form: a
*situation* (the kind of problem or the pattern that signals it applies, phrased so that it is
recognisable in a new question) and a *suggestion* (what to do then). :class:`NewConcept` is one
not stored yet; :class:`Concept` is a stored one with its id, provenance and record of use.

Token lengths: a stored concept's ``tokens`` is :func:`estimate_tokens` of its rendered line,
which needs no model. Selection counts with the engine's own tokenizer when it has one
(:mod:`ponder.memory.select`) and with this estimate otherwise.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

HEADER = "Concepts from earlier problems that may help:"
"""The first line of the block put into the system prompt (:func:`render_concepts`)."""

REPLY_CHARS = 2000
"""How much of a model's reply a trace keeps."""

_WORD = re.compile(r"\w+", re.UNICODE)
_THINK = re.compile(r"<think>.*?(?:</think>|$)", re.DOTALL | re.IGNORECASE)


@dataclass(frozen=True)
class NewConcept:
    """A concept to store: when it applies, what to do, and where it came from (a problem id
    such as ``mawps-singleop#12``, or :func:`question_source` of the question)."""

    situation: str
    suggestion: str
    source: str = ""


@dataclass(frozen=True)
class Concept:
    """A stored concept. ``uses`` counts the runs whose prompt held it, ``successes`` those of
    them that were verified correct; ``tokens`` is :func:`estimate_tokens` of :attr:`line`."""

    id: int
    situation: str
    suggestion: str
    source: str
    created: float  # unix time
    uses: int
    successes: int
    tokens: int

    @property
    def line(self) -> str:
        """The concept as one line of :func:`render_concepts`."""
        return render_line(self.situation, self.suggestion)


def render_line(situation: str, suggestion: str) -> str:
    """``- When <situation>: <suggestion>`` (a situation is stored without its leading "when")."""
    return f"- When {situation}: {suggestion}"


def render_concepts(concepts: Sequence[Concept]) -> str:
    """The block that goes into the system prompt: :data:`HEADER` and one line per concept; ``""``
    when there are none."""
    if not concepts:
        return ""
    return "\n".join([HEADER, *(concept.line for concept in concepts)])


def estimate_tokens(text: str) -> int:
    """An estimate of ``text``'s length in tokens without a tokenizer: the larger of 4/3 tokens
    per whitespace-separated word and one token per 4 characters (typical of English under BPE
    tokenizers), rounded up, so it errs on the long side."""
    return math.ceil(max(len(text.split()) * 4 / 3, len(text) / 4))


def words(text: str) -> list[str]:
    """The lowercased word tokens of ``text`` (letters, digits and underscores)."""
    return _WORD.findall(text.lower())


def normalise(situation: str, suggestion: str) -> str:
    """A concept's identity for exact deduplication: its words, lowercased, single-spaced."""
    return " ".join(words(situation)) + " | " + " ".join(words(suggestion))


def token_set(situation: str, suggestion: str) -> frozenset[str]:
    """The set of words of a concept (both fields), for near-duplicate detection."""
    return frozenset(words(situation)) | frozenset(words(suggestion))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    """``|a & b| / |a | b|`` (1.0 for two empty sets)."""
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def question_source(question: str) -> str:
    """A source for a concept learned from a question with no id: ``question:`` and the first 12
    hex digits of the SHA-256 of its UTF-8 text."""
    return "question:" + hashlib.sha256(question.encode("utf-8")).hexdigest()[:12]


def without_thinking(reply: str) -> str:
    """A model's reply without its ``<think>...</think>`` blocks (an unclosed one runs to the end)."""
    return _THINK.sub("", reply)


def shown(text: str, limit: int = REPLY_CHARS) -> str:
    """The first ``limit`` characters of a model's reply as a trace keeps it (anything that is
    not valid Unicode escaped, so that the trace can always be written)."""
    return text[:limit].encode("utf-8", "backslashreplace").decode("utf-8")
