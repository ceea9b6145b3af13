"""Which runs execute code the model wrote, for ``ponder serve --code-execution off``.

A program's printout becomes the answer a client reads, so code the model writes can carry the
server's files to clients (a program that prints ``/etc/passwd``). With code execution off, a
request whose run would execute model-written code is refused with a 400 naming the option:
strategies with ``program=true`` (``program-of-thought``, and ``self-consistency``, ``best-of-n``,
... given that option), a routed trajectory with the program-of-thought action ``pot``, and
pipelines with a unit-test evaluator or such a strategy component.
"""

from __future__ import annotations

from typing import Any

from ponder.api import RunPlan
from ponder.core.errors import InvalidInputError
from ponder.pipelines.pipeline import Pipeline
from ponder.strategies.base import Algorithm
from ponder.strategies.routed import Routed

OPTION = "--code-execution off"


def code_runner(algorithm: Algorithm[Any], question: str) -> str | None:
    """What in ``algorithm`` executes model-written code, or ``None`` when nothing does."""
    if getattr(algorithm.params, "program", False):
        return f"strategy {algorithm.name!r} runs the model's programs (program=true)"
    if isinstance(algorithm, Routed):
        trajectory, _ = algorithm.choose(question)
        if any(action.name == "pot" for action in trajectory.actions()):
            return f"trajectory {str(trajectory)!r} runs the model's programs (action 'pot')"
    if isinstance(algorithm, Pipeline):
        for layer in algorithm.config.layers:
            for component in layer.components:
                if component.kind == "test_evaluator":
                    return f"pipeline {algorithm.config.name!r} runs candidates' code against unit tests"
                inner = getattr(component, "algorithm", None)
                found = code_runner(inner, question) if inner is not None else None
                if found is not None:
                    return f"pipeline {algorithm.config.name!r}: {found}"
    return None


def refuse_code_execution(plan: RunPlan) -> None:
    """Raise :class:`InvalidInputError` when ``plan`` would execute model-written code."""
    found = code_runner(plan.algorithm, plan.question)
    if found is not None:
        raise InvalidInputError(f"{found}, and this server runs no code ({OPTION})")
