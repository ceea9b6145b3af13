"""Action routing (DOTS, Yue et al. 2024): reasoning actions, trajectories, routers and their search.

    from ponder.routing import route, load_router
    router = route("mawps-singleop", limit=20, out="router.json")  # search on a dev set
    ponder.solve(question, strategy="routed", options={"router": "router.json"})

:mod:`~ponder.routing.actions` holds the actions by layer, :mod:`~ponder.routing.trajectory` their
compositions, :mod:`~ponder.routing.question_types` what a router keys on,
:mod:`~ponder.routing.router` the saved router and :mod:`~ponder.routing.search` the search.
The search functions are imported on first use: they run strategies, and the strategies import
this package.
"""

from __future__ import annotations

from typing import Any

from ponder.routing.actions import ACTIONS, LAYERS, Action, Work
from ponder.routing.question_types import classify
from ponder.routing.router import Router, load_router, router_from_dict
from ponder.routing.trajectory import Trajectory, all_trajectories, parse_trajectory

_SEARCH = ("aroute", "route", "search_router")


def __getattr__(name: str) -> Any:
    """``aroute``, ``route`` and ``search_router``, from :mod:`ponder.routing.search` on first use."""
    if name in _SEARCH:
        from ponder.routing import search

        return getattr(search, name)
    raise AttributeError(f"module 'ponder.routing' has no attribute {name!r}")


__all__ = ["ACTIONS", "LAYERS", "Action", "Router", "Trajectory", "Work", "all_trajectories", "aroute", "classify",
           "load_router", "parse_trajectory", "route", "router_from_dict", "search_router"]
