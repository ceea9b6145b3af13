"""Trajectories: one choice of action per layer (analysis, solution, verification), as in DOTS.

A trajectory is written as its actions joined by ``+`` in layer order, skipped layers left out:
``cot``, ``plan+cot``, ``rewrite+pot+verify``. Every trajectory has exactly one solution action.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product

from ponder.core.errors import InvalidInputError
from ponder.routing.actions import ACTIONS, LAYERS, Action, layer_actions

NONE = "none"


@dataclass(frozen=True)
class Trajectory:
    """One action per layer (``none`` skips the analysis or verification layer)."""

    analysis: str = NONE
    solution: str = "cot"
    verification: str = NONE

    def __post_init__(self) -> None:
        for layer in LAYERS:
            name = getattr(self, layer)
            allowed = layer_actions(layer) + ([] if layer == "solution" else [NONE])
            if name not in allowed:
                raise InvalidInputError(f"{layer} action {name!r}: choose one of {', '.join(allowed)}")

    @property
    def name(self) -> str:
        """The ``+``-joined form (``plan+cot+verify``)."""
        return "+".join(a for a in (self.analysis, self.solution, self.verification) if a != NONE)

    def actions(self) -> list[Action]:
        """The actions to run, in layer order (skipped layers left out)."""
        return [ACTIONS[a] for a in (self.analysis, self.solution, self.verification) if a != NONE]

    def calls(self, samples: int = 1) -> int:
        """Generations the trajectory needs with ``samples`` solution samples."""
        return samples + sum(a != NONE for a in (self.analysis, self.verification))

    def __str__(self) -> str:
        return self.name


def parse_trajectory(text: str) -> Trajectory:
    """A trajectory from its ``+``-joined form; the error names the bad part."""
    parts = [p.strip() for p in text.split("+")]
    if not text.strip() or not all(parts):
        raise InvalidInputError(f"bad trajectory {text!r}: write actions joined by '+', e.g. plan+cot+verify")
    chosen: dict[str, str] = {}
    for part in parts:
        action = ACTIONS.get(part)
        if action is None:
            raise InvalidInputError(f"unknown action {part!r} in trajectory {text!r}; actions: {', '.join(ACTIONS)}")
        if action.layer in chosen:
            raise InvalidInputError(
                f"trajectory {text!r} has two {action.layer} actions ({chosen[action.layer]} and {part})"
            )
        chosen[action.layer] = part
    if "solution" not in chosen:
        choices = " or ".join(layer_actions("solution"))
        raise InvalidInputError(f"trajectory {text!r} has no solution action ({choices})")
    return Trajectory(**chosen)


def all_trajectories() -> list[Trajectory]:
    """Every trajectory (3 analysis x 2 solution x 2 verification = 12), fewest actions first."""
    options = [([NONE] if layer != "solution" else []) + layer_actions(layer) for layer in LAYERS]
    found = [Trajectory(a, s, v) for a, s, v in product(*options)]
    return sorted(found, key=lambda t: t.calls())  # stable: declaration order within the same length


def parse_trajectories(text: str) -> list[Trajectory]:
    """``all`` or a comma-separated list of trajectories (duplicates refused)."""
    if text.strip() == "all":
        return all_trajectories()
    found = [parse_trajectory(part) for part in text.split(",") if part.strip()]
    if not found:
        raise InvalidInputError("give at least one trajectory, or 'all'")
    names = [t.name for t in found]
    repeated = next((n for n in names if names.count(n) > 1), None)
    if repeated:
        raise InvalidInputError(f"trajectory {repeated!r} is listed twice")
    return found
