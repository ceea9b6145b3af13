"""Finding strategies by name: built-ins plus any package's ``ponder.strategies`` entry points."""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any, Mapping

from ponder.errors import UnknownNameError
from ponder.strategies.adaptive import AdaptiveSelfConsistency
from ponder.strategies.core import Algorithm
from ponder.strategies.greedy import Greedy
from ponder.strategies.linc import Linc
from ponder.strategies.params import build_params
from ponder.strategies.scored import BestOfN, WeightedBestOfN, WeightedMajority
from ponder.strategies.self_consistency import ProgramOfThought, SelfConsistency

BUILTIN: dict[str, type] = {
    cls.name: cls
    for cls in (Greedy, SelfConsistency, AdaptiveSelfConsistency, BestOfN, WeightedBestOfN, WeightedMajority, Linc,
                ProgramOfThought)
}


def available() -> dict[str, type]:
    """Every registered strategy class by name (entry points cannot shadow built-ins)."""
    found = {ep.name: ep for ep in entry_points(group="ponder.strategies") if ep.name not in BUILTIN}
    return {**BUILTIN, **{name: ep.load() for name, ep in found.items()}}


def strategy_class(name: str) -> type:
    cls = BUILTIN.get(name) or available().get(name)
    if cls is None:
        raise UnknownNameError(f"unknown strategy {name!r}; available: {', '.join(sorted(available()))}")
    return cls


def get_strategy(name: str, options: Mapping[str, Any] | None = None) -> Algorithm[Any]:
    """The strategy registered as ``name`` with its parameters set from ``options`` (validated)."""
    cls = strategy_class(name)
    return cls(build_params(cls.Params, options))
