"""Action routing (DOTS: Yue et al. 2024, "DOTS: Learning to Reason Dynamically in LLMs via
Optimal Reasoning Trajectories Search"): run the reasoning trajectory chosen for the question.

Algorithm: pick a trajectory (an analysis action or none, a solution action, a verification
action or none; see :mod:`ponder.routing.actions`): the ``trajectory`` option when given, else
the router file's route for the question's type (its fallback for an unseen type), else plain
chain-of-thought. Then run its actions in layer order, one step each: an analysis note is shown to
the solution prompt; the solution draws ``samples`` answers, majority-voted; a verifier reads the
voted solution and confirms or corrects it, and its answer, when it gives one, decides.

The router is made on a dev set by ``ponder route`` (:func:`ponder.routing.search_router`). Where
the budget is too small for the whole trajectory, verification is dropped first, then analysis,
then solution samples (the trace says so). Each step's trace entry has the action and its usage.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, ClassVar

from ponder.context import StepContext
from ponder.core.decision import Decision
from ponder.core.params import check, param
from ponder.core.voting import vote
from ponder.routing.actions import Action, Work
from ponder.routing.router import Router, load_router
from ponder.routing.trajectory import NONE, Trajectory, parse_trajectory
from ponder.strategies.base import StepInfo, Strategy

DEFAULT_TRAJECTORY = "cot"


@dataclass(frozen=True)
class RoutedParams:
    router: str = param("", "a router file made by `ponder route` (JSON)", local=True)
    trajectory: str = param("", "run this trajectory instead, e.g. plan+cot+verify [default: the router's, else cot]")
    type: str = param("", "the question's type, for routers not built on heuristic types")
    samples: int = param(1, "solution samples, majority-voted")

    def __post_init__(self) -> None:
        check(self.samples >= 1, f"samples must be >= 1, got {self.samples}")


@dataclass(frozen=True)
class RouteState:
    """The trajectory, the actions still to run, what they produced, and why it was chosen."""

    trajectory: Trajectory
    todo: tuple[Action, ...]
    samples: int
    work: Work = Work()
    chosen: dict[str, Any] | None = None


def fit(trajectory: Trajectory, samples: int, budget: int) -> tuple[Trajectory, int, list[str]]:
    """The trajectory and sample count that fit ``budget`` generations, and what was dropped:
    verification first, then analysis, then solution samples."""
    dropped: list[str] = []
    if trajectory.calls(samples) > budget and trajectory.verification != NONE:
        dropped.append(trajectory.verification)
        trajectory = replace(trajectory, verification=NONE)
    if trajectory.calls(samples) > budget and trajectory.analysis != NONE:
        dropped.append(trajectory.analysis)
        trajectory = replace(trajectory, analysis=NONE)
    if trajectory.calls(samples) > budget:
        dropped.append(f"{samples - budget} of {samples} samples")
        samples = budget
    return trajectory, samples, dropped


class Routed(Strategy[RoutedParams, RouteState]):
    """Run the trajectory a router (or the ``trajectory`` option) picks (see the module docstring)."""

    name: ClassVar[str] = "routed"
    summary: ClassVar[str] = "DOTS action routing: the best trajectory for the question's type (ponder route)"
    Params: ClassVar[type] = RoutedParams

    def __init__(self, params: RoutedParams | None = None) -> None:
        super().__init__(params)
        self.fixed = parse_trajectory(self.params.trajectory) if self.params.trajectory else None
        self.router: Router | None = load_router(self.params.router) if self.params.router else None

    def choose(self, question: str) -> tuple[Trajectory, dict[str, Any]]:
        """The trajectory for ``question`` and a record of why."""
        if self.fixed is not None:
            return self.fixed, {"by": "option"}
        if self.router is not None:
            trajectory, kind, why = self.router.choose(question, self.params.type)
            return trajectory, {"by": why, "type": kind}
        return parse_trajectory(DEFAULT_TRAJECTORY), {"by": "default"}

    def init(self, ctx: StepContext) -> RouteState:
        wanted, chosen = self.choose(ctx.question)
        trajectory, samples, dropped = fit(wanted, self.params.samples, ctx.budget.generations)
        chosen = {**chosen, "trajectory": trajectory.name, **({"dropped": dropped} if dropped else {})}
        return RouteState(trajectory, tuple(trajectory.actions()), samples, chosen=chosen)

    async def step(self, state: RouteState, ctx: StepContext) -> tuple[RouteState, StepInfo]:
        action, rest = state.todo[0], state.todo[1:]
        solution = action.layer == "solution"
        n = state.samples if solution else 1
        temperature = self.temperature(ctx, n=n)  # several solution samples are voted; one is greedy
        work = await action.run(ctx, state.work, n, temperature)
        info: dict[str, Any] = {"layer": action.layer, "n": n, "temperature": temperature}
        if state.chosen is not None:  # the first step says which trajectory runs, and why
            info["route"] = state.chosen
        if work.notes != state.work.notes:
            info["note"] = work.notes[-1][1]
        if solution:
            info["votes"] = vote(work.solutions, ctx.task).votes
        if work.verdict is not None:
            info["verdict"] = work.verdict.answer
        return RouteState(state.trajectory, rest, state.samples, work), StepInfo(action.name, info)

    def done(self, state: RouteState, ctx: StepContext) -> bool:
        return not state.todo

    def decide(self, state: RouteState, ctx: StepContext) -> Decision:
        """The solutions' vote; a verifier's answer outweighs all of them together."""
        work = state.work
        if work.verdict is None or work.verdict.answer is None:
            return vote(work.solutions, ctx.task)
        candidates = work.solutions + (work.verdict,)
        weights = [1.0] * len(work.solutions) + [len(work.solutions) + 1.0]
        return vote(candidates, ctx.task, weights)
