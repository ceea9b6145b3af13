"""The scorers one run may use: those the caller passed, and built-ins made on first use."""

from __future__ import annotations

from collections.abc import Mapping
from typing import cast

from ponder.core.errors import InvalidInputError
from ponder.core.usage import Usage, total
from ponder.engines.base import Engine
from ponder.scorers import Scorer, make_scorer
from ponder.scorers.prm import ProcessRewardModel, StepScorer, make_prm


class RunScorers:
    """Scorers by name for one context: the caller's, then built-ins judging on ``engine`` (a
    metered scorer engine). Process reward models built here are closed by :meth:`aclose`; a
    remote PRM keeps its own count of what it spent (:meth:`remote_usage`)."""

    def __init__(self, engine: Engine, given: Mapping[str, Scorer] | None = None) -> None:
        self.engine = engine
        self._by_name: dict[str, Scorer | ProcessRewardModel] = dict(given or {})
        self._built: list[StepScorer] = []  # every PRM built here: its remote cost is counted
        self._open: list[StepScorer] = []  # those not closed yet

    def given(self) -> dict[str, Scorer | ProcessRewardModel]:
        """The scorers a sub-context starts with (what this one knows now)."""
        return dict(self._by_name)

    def scorer(self, name: str) -> Scorer:
        found = self._by_name.get(name)
        if found is None:
            found = self._by_name[name] = make_scorer(name, self.engine)
        return found

    def prm(self, spec: str) -> ProcessRewardModel:
        found = self._by_name.get(spec)
        if found is not None:
            if not hasattr(found, "score_steps"):
                raise InvalidInputError(f"scorer {spec!r} is not a process reward model (it cannot score steps)")
            return cast(ProcessRewardModel, found)
        built = make_prm(spec, self.engine)
        self._by_name[spec] = built
        self._built.append(built)
        self._open.append(built)
        return built

    def remote_usage(self) -> Usage:
        """What the PRMs built here spent by their own count (remote servers)."""
        return total([getattr(prm, "usage", Usage()) for prm in self._built])

    async def aclose(self) -> None:
        opened, self._open = self._open, []
        for prm in opened:
            await prm.aclose()
