"""What a solve returns: the answer, every candidate, the trace and the usage."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from ponder.core.chat import Message
from ponder.core.usage import Usage

FinishReason = Literal["stop", "length", "error", "cancelled"]
"""Why a sample ended: ``stop`` (end of text or a stop string), ``length`` (the token cap),
``error`` (the backend failed on it), ``cancelled`` (its caller stopped it early, keeping the
text so far)."""


@dataclass(frozen=True)
class Candidate:
    """One sampled solution and the final answer read from it (``None`` if it has none).

    ``evidence`` says how a verifier, a program run or a prover reached (or failed to reach) the
    answer, or why the sample failed. ``prompt`` is the chat whose assistant reply ``text`` is
    (``None`` when it is not known): a judge asks its question as a continuation of that chat, so
    an engine's prefix cache serves everything up to the judge's own tokens. It is provenance,
    not part of the candidate's value: it is left out of comparisons, ``repr`` and ``to_dict``.
    """

    text: str
    answer: str | None
    finish_reason: FinishReason
    completion_tokens: int
    index: int = 0
    score: float | None = None
    mean_logprob: float | None = None
    evidence: str | None = None
    confidences: tuple[float, ...] | None = None  # per-token confidence, when top logprobs were asked for
    prompt: tuple[Message, ...] | None = field(default=None, compare=False, repr=False)


@dataclass
class SolveResult:
    """The outcome of running a strategy on one question.

    ``answer`` is ``None`` when no candidate stated an answer; it is never an error message.
    ``votes`` maps each distinct answer to its (possibly weighted) support. ``stop_reason`` says
    why the run stopped: ``done`` (the strategy finished, or used its generations), ``tokens`` or
    ``seconds`` (that budget ran out first), or ``interrupted``.
    """

    question: str
    answer: str | None
    strategy: str
    candidates: list[Candidate]
    votes: dict[str, float]
    usage: Usage
    trace: list[dict[str, Any]] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    engine: dict[str, Any] = field(default_factory=dict)
    stop_reason: str = "done"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the CLI's ``--json`` output)."""
        return {
            "question": self.question,
            "answer": self.answer,
            "strategy": self.strategy,
            "params": self.params,
            "votes": self.votes,
            "candidates": [
                {k: v for k, v in asdict(c).items() if k not in ("confidences", "prompt")} for c in self.candidates
            ],
            "usage": self.usage.to_dict(),
            "stop_reason": self.stop_reason,
            "trace": self.trace,
            "engine": self.engine,
        }
