"""What flows between a pipeline's layers, and what one component hands back."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ponder.core.result import Candidate


@dataclass(frozen=True)
class Critique:
    """A critic's review of the candidate whose ``index`` is ``candidate``."""

    candidate: int
    text: str


@dataclass(frozen=True)
class PipelineState:
    """The typed state passed from layer to layer.

    ``candidates`` are the current layer's answers (each ``index`` unique within the run);
    ``critiques`` and ``tests`` (assert statements written by a test generator) accumulate;
    ``seen`` holds every candidate any layer created; ``next_index`` is the first sample
    identity not yet used.
    """

    layers_done: int = 0
    candidates: tuple[Candidate, ...] = ()
    critiques: tuple[Critique, ...] = ()
    tests: tuple[str, ...] = ()
    seen: tuple[Candidate, ...] = ()
    next_index: int = 0

    def critiques_of(self, candidate: Candidate) -> list[str]:
        """The critiques written about ``candidate``, oldest first."""
        return [c.text for c in self.critiques if c.candidate == candidate.index]


@dataclass(frozen=True)
class Output:
    """A component's contribution to its layer.

    ``candidates=None`` contributes no candidates (a critic, a test generator, a component
    skipped for want of budget); a layer in which no component contributes candidates passes
    its input candidates on. ``scored`` holds every candidate it scored, kept or dropped, so
    that the result lists them with their scores and evidence. ``info`` goes to the trace.
    """

    candidates: tuple[Candidate, ...] | None = None
    scored: tuple[Candidate, ...] = ()
    critiques: tuple[Critique, ...] = ()
    tests: tuple[str, ...] = ()
    info: dict[str, Any] = field(default_factory=dict)
