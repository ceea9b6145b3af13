"""Finding strategies by name: built-ins plus any package's ``ponder.strategies`` entry points."""

from __future__ import annotations

from importlib.metadata import entry_points

from ponder.errors import UnknownNameError
from ponder.strategies.base import Strategy
from ponder.strategies.greedy import Greedy
from ponder.strategies.self_consistency import SelfConsistency

BUILTIN: dict[str, type] = {cls.name: cls for cls in (Greedy, SelfConsistency)}


def available() -> dict[str, type]:
    """Every registered strategy class by name (entry points cannot shadow built-ins)."""
    found = {ep.name: ep for ep in entry_points(group="ponder.strategies")}
    classes = {name: ep.load() for name, ep in found.items() if name not in BUILTIN}
    return {**BUILTIN, **classes}


def get_strategy(name: str) -> Strategy:
    """A fresh instance of the strategy registered as ``name``."""
    cls = BUILTIN.get(name) or available().get(name)
    if cls is None:
        raise UnknownNameError(f"unknown strategy {name!r}; available: {', '.join(sorted(available()))}")
    return cls()
