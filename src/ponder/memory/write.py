"""Writing: abstract reusable concepts from a solved problem (ArcMemo's abstraction step).

:func:`abstract` asks the model once (seeded, temperature 0 by default, through the caller's
:class:`~ponder.context.metered.MeteredEngine`, which records the cost and whose ledger hands out
the sample's identity) for at most ``max_concepts`` ``situation:`` / ``suggestion:`` pairs, with
the prompt of :mod:`ponder.memory.prompts`, and :func:`parse_concepts` reads the reply.

Parsing is forgiving about form and strict about content. Accepted: bullets, numbering, bold or
quoted keys (``- **Situation:** ...``), a value continued on the next lines, YAML-like lists,
``<think>`` blocks (ignored). Skipped, each with a note for the trace: a situation without a
suggestion or the reverse, an empty field, text that is not valid Unicode
(:func:`~ponder.core.text.check_text`), a repeat of the prompt's example or of an earlier entry,
and a concept that names a number from the problem (other than 0-10 and 100, which general
methods use: "halve", "per cent"), since the paper's concepts are abstract and a concept tied to
one problem's numbers only misleads on the next (``keep_problem_numbers=True`` keeps them). A
field longer than ``field_chars`` is cut at a word boundary. When the reply hit ``max_tokens``
and its last suggestion runs to the end, that concept may be cut mid-sentence and is dropped. A
reply with no valid concept gives none.

``prime`` (off by default, as in the paper) starts the model's reply with ``situation:``
(:data:`PRIME`, an assistant prefix the reply continues): a deliberate aid for small models, which
otherwise often answer the problem again instead of writing the format (the 135M embedded model
wrote no parsable concept in 9 of 9 tries without it, ``benchmarks/memory.py``).
"""

from __future__ import annotations

import re
from typing import Any

from ponder.context.metered import MeteredEngine
from ponder.core.errors import InvalidInputError
from ponder.core.text import check_text
from ponder.engines.base import GenerationRequest
from ponder.memory.concepts import NewConcept, jaccard, normalise, shown, token_set, without_thinking
from ponder.memory.prompts import EXAMPLE_SITUATION, EXAMPLE_SUGGESTION, abstraction_prompt

_KEY = re.compile(
    r"^\s*(?:[-*•>]+\s*|\d+\s*[.)]\s*|#+\s*)?[*_`\"']*\s*(situation|suggestion)\s*[*_`\"']*\s*:\s*(.*)$",
    re.IGNORECASE,
)
PRIME = "situation:"
"""How a primed reply starts (``prime=True``): the first key of the format the prompt asks for."""
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_GENERAL_NUMBERS = frozenset({str(n) for n in range(11)} | {"100"})
_EXAMPLE = token_set(EXAMPLE_SITUATION, EXAMPLE_SUGGESTION)
_LEAD = re.compile(r"^(?:when|if|whenever)\b[\s,]*", re.IGNORECASE)
_MARKUP = "*_`\"' "


def _clean(text: str) -> str:
    return " ".join(text.split()).strip(_MARKUP)


def _cap(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters at a word boundary, marked with ``...``."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 3]
    if " " in cut:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,;:.-") + "..."


def _numbers(text: str) -> set[str]:
    return {n.replace(",", "") for n in _NUMBER.findall(text)}


def _entries(reply: str) -> tuple[list[tuple[str, str]], list[str], bool]:
    """The (situation, suggestion) pairs of a reply, in order, notes on what did not pair, and
    whether the last pair's suggestion runs to the end of the reply (so may have been cut)."""
    pairs: list[tuple[str, str]] = []
    notes: list[str] = []
    situation: list[str] | None = None
    suggestion: list[str] | None = None
    active: list[str] | None = None

    def finish() -> None:
        nonlocal situation, suggestion
        if situation is not None and suggestion is not None:
            pairs.append((" ".join(situation), " ".join(suggestion)))
        elif situation is not None:
            notes.append("a situation without a suggestion was skipped")
        situation = suggestion = None

    for line in without_thinking(reply).splitlines():
        match = _KEY.match(line)
        if match is None:
            if not line.strip() or line.strip().startswith(("```", "---")):
                active = None
            elif active is not None:
                active.append(line.strip())
            continue
        key, value = match.group(1).lower(), match.group(2)
        if key == "situation":
            finish()
            situation = active = [value]
        elif situation is None or suggestion is not None:
            notes.append("a suggestion without a situation was skipped")
            active = None
        else:
            suggestion = active = [value]
    open_end = suggestion is not None and active is suggestion
    finish()
    return pairs, notes, open_end


def parse_concepts(
    reply: str,
    *,
    question: str = "",
    source: str = "",
    max_concepts: int = 3,
    field_chars: int = 300,
    keep_problem_numbers: bool = False,
    truncated: bool = False,
) -> tuple[list[NewConcept], list[str]]:
    """The valid concepts of a model's reply (at most ``max_concepts``) and a note for each entry
    skipped; see the module docstring for what is accepted. ``truncated`` says the reply hit its
    token cap: a last concept whose suggestion runs to the end of the reply is then dropped."""
    pairs, notes, open_end = _entries(reply)
    if truncated and open_end:
        pairs.pop()
        notes.append("the reply reached max_tokens, so its last concept (perhaps cut short) was dropped")
    specific = set() if keep_problem_numbers else _numbers(question) - _GENERAL_NUMBERS
    concepts: list[NewConcept] = []
    seen: set[str] = set()
    for raw_situation, raw_suggestion in pairs:
        situation = _cap(_LEAD.sub("", _clean(raw_situation)).rstrip(" .,;:"), field_chars)
        suggestion = _cap(_clean(raw_suggestion), field_chars)
        if not situation or not suggestion:
            notes.append("a concept with an empty field was skipped")
            continue
        try:
            check_text(situation, "a concept's situation")
            check_text(suggestion, "a concept's suggestion")
        except InvalidInputError as exc:
            notes.append(f"a concept was refused: {exc}")
            continue
        if jaccard(token_set(situation, suggestion), _EXAMPLE) >= 0.8:
            notes.append("a concept repeating the prompt's example was skipped")
            continue
        named = sorted(_numbers(f"{situation} {suggestion}") & specific)
        if named:
            notes.append(f"a concept naming the problem's numbers ({', '.join(named)}) was skipped")
            continue
        key = normalise(situation, suggestion)
        if key in seen:
            notes.append("a repeated concept was skipped")
            continue
        if len(concepts) == max_concepts:
            notes.append(f"concepts beyond the first {max_concepts} were skipped")
            break
        seen.add(key)
        concepts.append(NewConcept(situation, suggestion, source))
    return concepts, notes


def _clip(solution: str, limit: int) -> str:
    """A solution of at most about ``limit`` characters: its start and its end (where the
    answer is), with the middle left out."""
    if len(solution) <= limit:
        return solution
    half = limit // 2
    return solution[:half] + "\n[...]\n" + solution[-half:]


async def abstract(
    engine: MeteredEngine,
    *,
    question: str,
    solution: str,
    answer: str | None,
    source: str = "",
    max_concepts: int = 3,
    max_tokens: int = 384,
    temperature: float = 0.0,
    seed: int = 0,
    field_chars: int = 300,
    solution_chars: int = 6000,
    keep_problem_numbers: bool = False,
    prime: bool = False,
    trace: dict[str, Any] | None = None,
) -> list[NewConcept]:
    """Ask the model for at most ``max_concepts`` concepts learned from ``solution`` of
    ``question`` (one generation, seeded by ``seed`` and the identity ``engine``'s ledger hands
    out); the valid ones, with ``source``. ``trace``, when given, receives the reply (its first
    :data:`~ponder.memory.concepts.REPLY_CHARS` characters), its finish reason and the notes on skipped entries."""
    check_text(question, "the question")
    check_text(solution, "the solution")
    check_text(answer or "", "the answer")
    check_text(source, "the concept source")
    if not question.strip():
        raise InvalidInputError("cannot abstract concepts from an empty question")
    if not solution.strip():
        raise InvalidInputError("cannot abstract concepts from an empty solution")
    if max_concepts < 1:
        raise InvalidInputError(f"max_concepts must be >= 1, got {max_concepts}")
    if field_chars < 20:
        raise InvalidInputError(f"field_chars must be >= 20, got {field_chars}")
    system, user = abstraction_prompt(
        question=question, solution=_clip(solution, solution_chars), answer=answer, max_concepts=max_concepts
    )
    first = engine.ledger.spend(1).start if engine.ledger is not None else 0
    request = GenerationRequest.chat(
        user,
        system=system,
        max_tokens=max_tokens,
        temperature=temperature,
        seed=seed,
        first_index=first,
        assistant_prefix=PRIME if prime else "",
    )
    [[completion]] = await engine.generate([request])
    reply = PRIME + completion.text if prime else completion.text
    notes: list[str] = []
    concepts: list[NewConcept] = []
    if completion.finish_reason == "error":
        notes.append(f"the model failed: {completion.error or 'no reason given'}")
    else:
        concepts, notes = parse_concepts(
            reply,
            question=question,
            source=source,
            max_concepts=max_concepts,
            field_chars=field_chars,
            keep_problem_numbers=keep_problem_numbers,
            truncated=completion.finish_reason == "length",
        )
    if trace is not None:
        trace.update(reply=shown(reply), finish_reason=completion.finish_reason, notes=notes)
    return concepts
