"""Reading: choose the stored concepts that fit a new question, within a token cap.

Two ways, as in ArcMemo (Ho et al. 2025), which contrasts its reasoning-based selection with
lighter retrieval:

- :func:`select_lexical` (the default; no model call): rank every concept by BM25 (Okapi BM25 as
  in Lucene, k1 = 1.5, b = 0.75, from the ``bm25s`` library, which needs only numpy) of the
  question against the concept's situation and suggestion; English stop words are dropped and a
  light suffix-stripping stemmer (plurals, -ed, -ing, a final e; not Porter's) lets "shares"
  meet "shared". Concepts that share no word with the question are never chosen. Ties go to the
  older concept. Embeddings would need a downloaded model, so there are none.
- :func:`select_by_model` (the paper's way): shortlist ``shortlist`` concepts lexically (this time
  filling the list with non-matching concepts too, since the model may see a relevance that
  words do not), number them in a prompt (:mod:`ponder.memory.prompts`) and let the model name
  the helpful ones; its order is kept. Deviation: the paper lets a model reason over the whole
  memory; the shortlist bounds the prompt as the memory grows. A reply that names no concept by
  number (garbage, numbers out of range, a failed sample) falls back to the lexical choice, and
  the trace says so; "Relevant: none" is a valid empty choice.

Both then keep concepts in rank order while the rendered block (:func:`render_concepts`, header
included) stays within ``token_cap`` tokens and at most ``limit`` concepts: a concept too long to
fit is passed over for shorter ones after it. Tokens are counted with the engine's
``count_tokens`` when it has one (:func:`token_counter`) and with
:func:`~ponder.memory.concepts.estimate_tokens` otherwise; the cap is never exceeded under the
count used.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Sequence
from typing import Any

import bm25s

from ponder.context.metered import MeteredEngine
from ponder.core.errors import InvalidInputError
from ponder.engines.base import Engine, GenerationRequest
from ponder.memory.concepts import Concept, estimate_tokens, render_concepts, render_line, shown, without_thinking
from ponder.memory.prompts import selection_prompt

TokenCount = Callable[[str], int]
"""How many tokens a text takes."""

MAX_TRIES = 64
"""The most concepts :func:`fit` tries (each try counts the tokens of a whole block)."""

_ES_AFTER = ("s", "x", "z", "ch", "sh")
_LIST_ONLY = re.compile(r"(?:\d|and|[\s,;.#])+", re.IGNORECASE)  # one character (or "and") a turn: linear time
_RELEVANT = re.compile(r"relevant(?:\s+(?:lessons?|concepts?))?\s*[:=]\s*(.*)", re.IGNORECASE)


def _stem_word(word: str) -> str:
    if word.endswith("ies") and len(word) > 4:
        word = word[:-3] + "y"
    elif word.endswith("es") and word[:-2].endswith(_ES_AFTER) and len(word) > 4:
        word = word[:-2]
    elif word.endswith("s") and not word.endswith(("ss", "us", "is")) and len(word) > 3:
        word = word[:-1]
    for suffix in ("ing", "ed"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)]
            break
    if word.endswith("e") and len(word) > 3:
        word = word[:-1]
    return word


def _stem(words: list[str]) -> list[str]:
    return [_stem_word(word) for word in words]


def _tokens(texts: list[str]) -> list[list[str]]:
    tokens = bm25s.tokenize(
        texts, stopwords="en", stemmer=_stem, return_ids=False, show_progress=False, allow_empty=False
    )
    return [list(row) for row in tokens]


def rank_lexical(concepts: Sequence[Concept], question: str) -> list[tuple[Concept, float]]:
    """Every concept with its BM25 score for ``question``, best first (ties: older first)."""
    if not concepts:
        return []
    [query] = _tokens([question])
    if not query:
        return [(concept, 0.0) for concept in sorted(concepts, key=lambda c: c.id)]
    retriever = bm25s.BM25()
    retriever.index(_tokens([f"{c.situation} {c.suggestion}" for c in concepts]), show_progress=False)
    scores = [float(score) for score in retriever.get_scores(query)]
    return sorted(zip(concepts, scores, strict=True), key=lambda pair: (-pair[1], pair[0].id))


def fit(
    ordered: Sequence[Concept], *, token_cap: int, limit: int, count: TokenCount = estimate_tokens
) -> list[Concept]:
    """The concepts of ``ordered``, in order, that fit: at most ``limit`` of them and a rendered
    block of at most ``token_cap`` tokens under ``count`` (at most :data:`MAX_TRIES` are tried)."""
    chosen: list[Concept] = []
    for concept in ordered[:MAX_TRIES]:
        if len(chosen) >= limit:
            break
        trial = [*chosen, concept]
        if count(render_concepts(trial)) <= token_cap:
            chosen = trial
    return chosen


def _check(token_cap: int, limit: int) -> None:
    if token_cap < 1:
        raise InvalidInputError(f"the memory token cap must be >= 1, got {token_cap}")
    if limit < 1:
        raise InvalidInputError(f"the memory concept limit must be >= 1, got {limit}")


def select_lexical(
    concepts: Sequence[Concept], question: str, *, token_cap: int, limit: int, count: TokenCount | None = None
) -> list[Concept]:
    """The concepts that share words with ``question``, best BM25 score first, that fit
    ``token_cap`` and ``limit`` (see the module docstring)."""
    _check(token_cap, limit)
    relevant = [concept for concept, score in rank_lexical(concepts, question) if score > 0]
    return fit(relevant, token_cap=token_cap, limit=limit, count=count or estimate_tokens)


def token_counter(engine: Engine | MeteredEngine) -> TokenCount:
    """The engine's own token count of a raw text (``count_tokens`` of a text request: a BOS
    token may be counted too, which errs on the safe side) when it has one; else
    :func:`~ponder.memory.concepts.estimate_tokens`."""
    inner = engine.engine if isinstance(engine, MeteredEngine) else engine
    count = getattr(inner, "count_tokens", None)
    if not callable(count):
        return estimate_tokens
    return lambda text: int(count(GenerationRequest(text=text)))


def parse_selection(reply: str, n: int) -> list[int] | None:
    """The concept numbers (1 to ``n``, first mention kept, in order) a reply names on its last
    ``Relevant:`` line, or as a bare list of numbers; ``[]`` for "none"; ``None`` when the reply
    is unusable (no such line, no number in range)."""
    text = without_thinking(reply)
    lines = _RELEVANT.findall(text)
    if lines:
        body = lines[-1]
    elif text.strip() and _LIST_ONLY.fullmatch(text.strip()):
        body = text
    else:
        return None
    numbers = [int(number) for number in re.findall(r"\d+", body)]
    if not numbers:
        return [] if re.search(r"\b(?:none|no)\b", body, re.IGNORECASE) else None
    picked = list(dict.fromkeys(number for number in numbers if 1 <= number <= n))
    return picked or None


async def select_by_model(
    engine: MeteredEngine,
    concepts: Sequence[Concept],
    question: str,
    *,
    token_cap: int,
    limit: int,
    shortlist: int = 10,
    max_tokens: int = 96,
    temperature: float = 0.0,
    seed: int = 0,
    count: TokenCount | None = None,
    trace: dict[str, Any] | None = None,
) -> list[Concept]:
    """The concepts the model names as helpful for ``question`` among a lexical shortlist of
    ``shortlist``, in its order, that fit ``token_cap`` and ``limit``; the lexical choice when its
    reply is unusable (see the module docstring). One generation when there is any concept,
    seeded by ``seed`` and the identity ``engine``'s ledger hands out. ``trace``, when given,
    receives the shortlist's ids, the reply, the numbers picked and the fallback note (or ``None``)."""
    _check(token_cap, limit)
    if shortlist < 1:
        raise InvalidInputError(f"the memory shortlist must be >= 1, got {shortlist}")
    count = count or estimate_tokens
    ranked = rank_lexical(concepts, question)
    short = [concept for concept, _ in ranked[:shortlist]]
    if not short:
        return []
    system, user = selection_prompt(
        question=question, lines=[render_line(c.situation, c.suggestion)[2:] for c in short]
    )
    first = engine.ledger.spend(1).start if engine.ledger is not None else 0
    request = GenerationRequest.chat(
        user, system=system, max_tokens=max_tokens, temperature=temperature, seed=seed, first_index=first
    )
    [[completion]] = await engine.generate([request])
    picked = None if completion.finish_reason == "error" else parse_selection(completion.text, len(short))
    fallback = None
    if picked is None:
        fallback = "the model's reply named no concept by number, so the lexical choice was used"
        ordered = [concept for concept, score in ranked if score > 0]
    else:
        ordered = [short[number - 1] for number in picked]
    chosen = await asyncio.to_thread(fit, ordered, token_cap=token_cap, limit=limit, count=count)
    if trace is not None:
        trace.update(shortlist=[c.id for c in short], reply=shown(completion.text), picked=picked, fallback=fallback)
    return chosen
