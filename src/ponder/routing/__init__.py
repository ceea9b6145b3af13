"""Action routing (DOTS, Yue et al. 2024): reasoning actions, trajectories and routers.

    router = ponder.route("mawps-singleop", limit=20, out="router.json")  # search on a dev set
    ponder.solve(question, strategy="routed", options={"router": "router.json"})

:mod:`~ponder.routing.actions` holds the actions by layer, :mod:`~ponder.routing.trajectory` their
compositions, :mod:`~ponder.routing.question_types` what a router keys on and
:mod:`~ponder.routing.router` the saved router. The search that makes a router runs strategies
over a dev set, so it lives in the bench layer: :mod:`ponder.bench.route_search`
(``ponder.route``, ``ponder.aroute``, ``search_router``).
"""

from __future__ import annotations

from ponder.routing.actions import ACTIONS, LAYERS, Action, Work
from ponder.routing.question_types import classify
from ponder.routing.router import Router, load_router, router_from_dict
from ponder.routing.trajectory import Trajectory, all_trajectories, parse_trajectory

__all__ = [
    "ACTIONS",
    "LAYERS",
    "Action",
    "Router",
    "Trajectory",
    "Work",
    "all_trajectories",
    "classify",
    "load_router",
    "parse_trajectory",
    "router_from_dict",
]
