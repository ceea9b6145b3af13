"""The state the sampling strategies share."""

from __future__ import annotations

from dataclasses import dataclass

from ponder.core.result import Candidate


@dataclass(frozen=True)
class Samples:
    """The candidates drawn so far, and whether the strategy has finished."""

    candidates: tuple[Candidate, ...] = ()
    finished: bool = False
