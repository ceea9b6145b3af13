"""The memory a run uses: read the concepts that fit a question before solving it, and write what
a verified solution teaches after.

:class:`Memory` ties a :class:`~ponder.memory.store.MemoryStore` to the reading
(:mod:`ponder.memory.select`) and writing (:mod:`ponder.memory.write`) steps and to a policy:

- :meth:`Memory.read` selects concepts (``selection="lexical"``, no model call, or ``"model"``,
  one call) and renders them for the system prompt (:meth:`Memory.system_prompt` appends them to
  the run's own system prompt); the :class:`Recall` carries the trace event ``memory.read``.
- :meth:`Memory.write` decides whether the run may teach anything: a run verified correct
  (``verified=True``: a gold-graded benchmark problem, an executed verifier) writes, unless
  ``write="never"``; a run nothing checked (``verified=None``) writes only with
  ``write="confident"`` and when the winning answer holds at least ``confident_share`` of the
  vote; a run found wrong (``verified=False``) never writes. Writing abstracts at most
  ``max_new`` concepts from the winning candidate's text (one model call) and adds them to the
  store, deduplicated (``dedup_threshold``); the :class:`Written` carries ``memory.write``. A
  store that refuses the addition (a busy or read-only file) gives ``decision: error`` with the
  abstraction's usage, which was spent all the same. ``prime=True`` starts the abstraction's
  reply with ``situation:`` (:func:`ponder.memory.write.abstract`), for small models.
- :meth:`Memory.record_outcome` counts the use (and success) of the concepts a run was given.

Every model call goes through a :class:`~ponder.context.metered.MeteredEngine` over a ledger of
its own (a budget of one generation and ``read_max_tokens`` or ``write_max_tokens`` tokens), so
the :class:`~ponder.core.usage.Usage` each step reports is exactly what it spent. Store calls run
in a worker thread, so a busy file (another process writing) does not stall the event loop, except
:meth:`Memory.record_outcome`, which is synchronous on purpose: called right after a write, it
adds no await (no point where Ctrl-C can land) between the write and what follows it
(:meth:`ponder.api.RunPlan.remember`, and a benchmark row's commit: :mod:`ponder.bench.memory_run`).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, get_args

from ponder.context.metered import MeteredEngine
from ponder.core.budget import Budget
from ponder.core.errors import InvalidInputError
from ponder.core.ledger import Ledger
from ponder.core.result import Candidate, SolveResult
from ponder.core.text import check_text
from ponder.core.usage import Usage
from ponder.engines.base import Engine
from ponder.memory.concepts import Concept, estimate_tokens, question_source, render_concepts
from ponder.memory.select import TokenCount, select_by_model, select_lexical, token_counter
from ponder.memory.store import DEFAULT_THRESHOLD, MemoryStore, MemoryStoreError
from ponder.memory.write import abstract

Selection = Literal["lexical", "model"]
WritePolicy = Literal["verified", "confident", "never"]


@dataclass(frozen=True)
class Recall:
    """What :meth:`Memory.read` chose for a question: the concepts, the block for the system
    prompt (``""`` when none), what choosing cost, and the trace event ``memory.read``."""

    concepts: tuple[Concept, ...]
    prompt: str
    usage: Usage
    trace: dict[str, Any] = field(default_factory=dict)

    @property
    def ids(self) -> tuple[int, ...]:
        return tuple(concept.id for concept in self.concepts)


@dataclass(frozen=True)
class Written:
    """What :meth:`Memory.write` did: the ids of the concepts stored, of the stored concepts the
    new ones matched (duplicates), what abstracting cost, and the trace event ``memory.write``."""

    added: tuple[int, ...]
    matched: tuple[int, ...]
    usage: Usage
    trace: dict[str, Any] = field(default_factory=dict)


def vote_share(result: SolveResult) -> float | None:
    """The winning answer's share of the vote (of the candidates that state an answer when the
    strategy kept no votes); ``None`` without an answer."""
    if result.answer is None:
        return None
    total = sum(result.votes.values())
    if total > 0:
        return result.votes.get(result.answer, 0.0) / total
    answered = [c for c in result.candidates if c.answer is not None]
    if not answered:
        return None
    return sum(c.answer == result.answer for c in answered) / len(answered)


def winning_candidate(result: SolveResult) -> Candidate | None:
    """The candidate whose text is the solution to learn from: one stating the winning answer,
    finished (``stop``) ones first, then the highest score, then the first sampled."""
    winners = [c for c in result.candidates if result.answer is not None and c.answer == result.answer and c.text]
    if not winners:
        return None
    return min(
        winners,
        key=lambda c: (c.finish_reason != "stop", -(c.score if c.score is not None else float("-inf")), c.index),
    )


class Memory:
    """Concept memory across questions (see the module docstring). ``store`` is a store or the
    path of its file (opened here, and closed by :meth:`close`; a store passed in is the caller's)."""

    def __init__(
        self,
        store: MemoryStore | str | Path,
        *,
        selection: Selection = "lexical",
        token_cap: int = 256,
        limit: int = 5,
        write: WritePolicy = "verified",
        confident_share: float = 0.8,
        max_new: int = 3,
        dedup_threshold: float = DEFAULT_THRESHOLD,
        shortlist: int = 10,
        read_max_tokens: int = 96,
        write_max_tokens: int = 384,
        temperature: float = 0.0,
        prime: bool = False,
    ) -> None:
        if selection not in get_args(Selection):
            raise InvalidInputError(
                f"memory selection must be one of {', '.join(get_args(Selection))}, got {selection!r}"
            )
        if write not in get_args(WritePolicy):
            raise InvalidInputError(f"memory writing must be one of {', '.join(get_args(WritePolicy))}, got {write!r}")
        for name, value in (
            ("token_cap", token_cap),
            ("limit", limit),
            ("max_new", max_new),
            ("shortlist", shortlist),
            ("read_max_tokens", read_max_tokens),
            ("write_max_tokens", write_max_tokens),
        ):
            if value < 1:
                raise InvalidInputError(f"memory {name} must be >= 1, got {value}")
        if not 0 < confident_share <= 1:
            raise InvalidInputError(f"memory confident_share must be in (0, 1], got {confident_share}")
        if not 0 < dedup_threshold <= 1:
            raise InvalidInputError(f"memory dedup_threshold must be in (0, 1], got {dedup_threshold}")
        if not temperature >= 0:
            raise InvalidInputError(f"memory temperature must be >= 0, got {temperature}")
        self._owns_store = not isinstance(store, MemoryStore)
        self.store = store if isinstance(store, MemoryStore) else MemoryStore(store)
        self.selection: Selection = selection
        self.token_cap = token_cap
        self.limit = limit
        self.write_policy: WritePolicy = write
        self.confident_share = confident_share
        self.max_new = max_new
        self.dedup_threshold = dedup_threshold
        self.shortlist = shortlist
        self.read_max_tokens = read_max_tokens
        self.write_max_tokens = write_max_tokens
        self.prime = prime
        self.temperature = temperature

    def describe(self) -> dict[str, Any]:
        """The memory's file and settings, JSON-ready (for a run's recorded settings)."""
        return {
            "path": str(self.store.path),
            "selection": self.selection,
            "token_cap": self.token_cap,
            "limit": self.limit,
            "write": self.write_policy,
            "confident_share": self.confident_share,
            "max_new": self.max_new,
            "dedup_threshold": self.dedup_threshold,
            "shortlist": self.shortlist,
            "read_max_tokens": self.read_max_tokens,
            "write_max_tokens": self.write_max_tokens,
            "temperature": self.temperature,
            **({"prime": True} if self.prime else {}),
        }

    # -- reading -------------------------------------------------------------------------

    async def read(self, question: str, engine: Engine | None, *, seed: int = 0) -> Recall:
        """The concepts for ``question`` (see the module docstring). ``engine`` counts tokens
        when it can, and answers the selection call with ``selection="model"`` (where it is
        required); ``seed`` seeds that call."""
        check_text(question, "the question")
        if self.selection == "model" and engine is None:
            raise InvalidInputError("memory selection by the model needs an engine")
        concepts = await asyncio.to_thread(self.store.concepts)
        count: TokenCount = token_counter(engine) if engine is not None else estimate_tokens
        ledger = Ledger(Budget(generations=1, tokens=self.read_max_tokens))
        details: dict[str, Any] = {}
        if not concepts:
            chosen: list[Concept] = []
        elif self.selection == "model" and engine is not None:
            chosen = await select_by_model(
                MeteredEngine(engine, ledger),
                concepts,
                question,
                token_cap=self.token_cap,
                limit=self.limit,
                shortlist=self.shortlist,
                max_tokens=self.read_max_tokens,
                temperature=self.temperature,
                seed=seed,
                count=count,
                trace=details,
            )
        else:
            chosen = await asyncio.to_thread(
                select_lexical, concepts, question, token_cap=self.token_cap, limit=self.limit, count=count
            )
        prompt = render_concepts(chosen)
        tokens = await asyncio.to_thread(count, prompt) if prompt else 0
        usage = ledger.usage() if ledger.recorded() != Usage() else Usage()
        trace = {
            "event": "memory.read",
            "selection": self.selection,
            "memory_size": len(concepts),
            "ids": [c.id for c in chosen],
            "concepts": [{"id": c.id, "situation": c.situation, "suggestion": c.suggestion} for c in chosen],
            "tokens": tokens,
            "token_cap": self.token_cap,
            "usage": usage.to_dict(),
            "fallback": details.get("fallback"),
        }
        if details:
            trace.update(shortlist=details.get("shortlist"), reply=details.get("reply"), picked=details.get("picked"))
        return Recall(tuple(chosen), prompt, usage, trace)

    def system_prompt(self, base: str | None, recall: Recall) -> str | None:
        """``base`` with the recalled concepts after it (``base`` itself when there are none)."""
        if not recall.prompt:
            return base
        return f"{base}\n\n{recall.prompt}" if base else recall.prompt

    def record_outcome(self, recall: Recall, success: bool | None) -> None:
        """Count a use of each concept ``recall`` gave a run, and a success when it was verified correct."""
        self.store.record_use(recall.ids, success)

    # -- writing -------------------------------------------------------------------------

    def decide(self, result: SolveResult, verified: bool | None) -> tuple[bool, str]:
        """Whether the run may write to memory, and why (see the module docstring)."""
        if self.write_policy == "never":
            return False, "memory writing is off (write='never')"
        if result.answer is None:
            return False, "the run has no answer to learn from"
        if verified is False:
            return False, "the answer was checked and is wrong"
        if verified is True:
            return True, "the answer was verified correct"
        if self.write_policy == "verified":
            return False, "nothing verified the answer (write='verified' needs a checked answer)"
        share = vote_share(result)
        if share is None or share < self.confident_share:
            shown = "unknown" if share is None else f"{share:.2f}"
            return False, f"unverified and not confident: vote share {shown} < {self.confident_share}"
        return True, f"unverified but confident: vote share {share:.2f} >= {self.confident_share}"

    async def write(
        self,
        question: str,
        result: SolveResult,
        engine: Engine,
        *,
        verified: bool | None,
        source: str | None = None,
        seed: int = 0,
    ) -> Written:
        """Abstract concepts from ``result``'s winning solution of ``question`` and store them,
        when :meth:`decide` allows (see the module docstring). ``source`` names where they came
        from (a problem id; :func:`~ponder.memory.concepts.question_source` by default)."""
        check_text(question, "the question")
        source = question_source(question) if source is None else check_text(source, "the memory source")
        allowed, reason = self.decide(result, verified)
        winner = winning_candidate(result) if allowed else None
        if allowed and winner is None:
            allowed, reason = False, "no candidate's text states the winning answer"
        trace: dict[str, Any] = {
            "event": "memory.write",
            "decision": "write" if allowed else "skip",
            "reason": reason,
            "source": source,
        }
        if not allowed or winner is None:
            trace.update(added=[], matched=[], concepts=[], usage=Usage().to_dict())
            return Written((), (), Usage(), trace)
        ledger = Ledger(Budget(generations=1, tokens=self.write_max_tokens))
        details: dict[str, Any] = {}
        new = await abstract(
            MeteredEngine(engine, ledger),
            question=question,
            solution=winner.text,
            answer=result.answer,
            source=source,
            max_concepts=self.max_new,
            max_tokens=self.write_max_tokens,
            temperature=self.temperature,
            seed=seed,
            prime=self.prime,
            trace=details,
        )
        try:
            outcomes = await asyncio.to_thread(self.store.add, new, threshold=self.dedup_threshold) if new else []
        except MemoryStoreError as exc:  # the file refused the write: the abstraction was still paid for
            usage = ledger.usage()
            trace.update(decision="error", reason=str(exc), added=[], matched=[], concepts=[], usage=usage.to_dict())
            trace.update(reply=details.get("reply"), notes=details.get("notes", []))
            return Written((), (), usage, trace)
        usage = ledger.usage()
        added = tuple(o.id for o in outcomes if o.added)
        matched = tuple(o.id for o in outcomes if not o.added)
        trace.update(
            added=list(added),
            matched=list(matched),
            concepts=[
                {"id": o.id, "added": o.added, "situation": c.situation, "suggestion": c.suggestion}
                for o, c in zip(outcomes, new, strict=True)
            ],
            usage=usage.to_dict(),
            reply=details.get("reply"),
            notes=details.get("notes", []),
        )
        return Written(added, matched, usage, trace)

    # -- lifetime ------------------------------------------------------------------------

    def close(self) -> None:
        """Close the store when this memory opened it."""
        if self._owns_store:
            self.store.close()

    def __enter__(self) -> Memory:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()
