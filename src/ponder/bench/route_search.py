"""Searching trajectories on a dev set (DOTS, Yue et al. 2024): which one works best per question type.

This is an evaluation over a data set, so it lives in the bench layer, above ``ponder.api``;
``ponder.route`` / ``ponder.aroute`` are its front door, and the router it returns is
:class:`ponder.routing.Router`.

Every trajectory runs on every dev problem with the same seed (the ``routed`` strategy with that
trajectory fixed, budget = the generations it needs); the answer is graded by the data set's
grader. Per question type and trajectory the evidence records problems, correct answers,
accuracy, mean completion and prompt tokens, mean engine calls and errors. The route for a type
is the most accurate trajectory, ties going to fewer mean completion tokens, then to fewer
actions; the fallback is chosen the same way over all problems pooled.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from ponder.api import asolve
from ponder.bench.datasets import load_problems
from ponder.bench.graders import grade, task_for
from ponder.bench.types import Problem
from ponder.core.errors import BackendUnavailableError, EngineTimeoutError, InvalidInputError, PonderError
from ponder.engines.base import Engine
from ponder.engines.registry import DEFAULT_ENGINE, create_engine
from ponder.routing.question_types import HEURISTIC, check_scheme, typer
from ponder.routing.router import Router
from ponder.routing.trajectory import Trajectory, all_trajectories, parse_trajectories


@dataclass(frozen=True)
class Outcome:
    """One trajectory run on one problem: whether it was right, what it cost, the error if it failed."""

    correct: bool
    completion_tokens: int = 0
    prompt_tokens: int = 0
    engine_calls: int = 0
    error: str | None = None


async def run_trajectory(
    engine: Engine,
    problem: Problem,
    trajectory: Trajectory,
    *,
    seed: int,
    max_tokens: int,
    samples: int,
    temperature: float | None,
) -> Outcome:
    """One trajectory on one problem: whether it was right and what it cost (an input error
    counts as wrong; an engine that cannot serve stops the search)."""
    try:
        result = await asolve(
            problem.question,
            engine=engine,
            strategy="routed",
            options={"trajectory": trajectory.name, "samples": samples},
            budget=trajectory.calls(samples),
            seed=seed,
            max_tokens=max_tokens,
            temperature=temperature,
            task=task_for(problem.grader),
        )
    except (BackendUnavailableError, EngineTimeoutError):
        raise
    except PonderError as exc:
        return Outcome(correct=False, error=str(exc))
    text = next((c.text for c in result.candidates if c.answer == result.answer), None)
    usage = result.usage
    return Outcome(
        correct=bool(await asyncio.to_thread(grade, problem, result.answer, text)),
        completion_tokens=usage.completion_tokens,
        prompt_tokens=usage.prompt_tokens,
        engine_calls=usage.engine_calls,
    )


def _mean(values: Sequence[int]) -> float:
    return round(sum(values) / len(values), 2) if values else 0.0


def summarise(outcomes: Sequence[Outcome]) -> dict[str, Any]:
    """Problems, correct, accuracy, mean tokens and calls, errors of one trajectory's outcomes: one
    entry of a router's ``evidence`` (plain JSON, as the router file stores it)."""
    n = len(outcomes)
    correct = sum(o.correct for o in outcomes)
    return {
        "n": n,
        "correct": correct,
        "accuracy": round(correct / n, 4) if n else 0.0,
        "completion_tokens": _mean([o.completion_tokens for o in outcomes]),
        "prompt_tokens": _mean([o.prompt_tokens for o in outcomes]),
        "engine_calls": _mean([o.engine_calls for o in outcomes]),
        "errors": sum(o.error is not None for o in outcomes),
    }


def best(stats: Mapping[str, Mapping[str, Any]], order: Sequence[str]) -> str:
    """The most accurate trajectory; ties: fewer mean completion tokens, then earlier in ``order``."""
    return min(
        order,
        key=lambda name: (
            -stats[name]["correct"] / max(stats[name]["n"], 1),
            stats[name]["completion_tokens"],
            order.index(name),
        ),
    )


async def search_router(
    problems: Sequence[Problem],
    engine: Engine,
    *,
    trajectories: Sequence[Trajectory] | None = None,
    types: str = HEURISTIC,
    dataset: str = "",
    seed: int = 0,
    max_tokens: int = 512,
    samples: int = 1,
    temperature: float | None = None,
    progress: bool = False,
    on_outcome: Callable[[Problem, Trajectory, Outcome], None] | None = None,
) -> Router:
    """The router that the dev ``problems`` support: every trajectory (default: all 12) run on
    every problem through ``engine``; question types by ``types`` (``heuristic``, ``dataset`` or
    ``field:NAME``, see :mod:`ponder.routing.question_types`). ``on_outcome`` sees each run."""
    if not problems:
        raise InvalidInputError("the dev set is empty")
    if max_tokens < 1 or samples < 1:
        raise InvalidInputError("max_tokens and samples must be >= 1")
    chosen = list(trajectories) if trajectories else all_trajectories()
    type_of = typer(check_scheme(types), dataset)
    kinds: dict[str, str] = {}
    for problem in problems:
        try:
            kinds[problem.id] = type_of(problem.question, problem.data)
        except InvalidInputError as exc:
            raise InvalidInputError(f"problem {problem.id}: {exc}") from None
    outcomes: dict[str, dict[str, list[Outcome]]] = defaultdict(lambda: defaultdict(list))
    pooled: dict[str, list[Outcome]] = defaultdict(list)
    runs = [(p, t) for p in problems for t in chosen]
    for problem, trajectory in tqdm(runs, desc="route", unit="run", disable=not progress):
        outcome = await run_trajectory(
            engine, problem, trajectory, seed=seed, max_tokens=max_tokens, samples=samples, temperature=temperature
        )
        outcomes[kinds[problem.id]][trajectory.name].append(outcome)
        pooled[trajectory.name].append(outcome)
        if on_outcome is not None:
            on_outcome(problem, trajectory, outcome)
    order = [t.name for t in chosen]
    evidence = {kind: {name: summarise(by_name[name]) for name in order} for kind, by_name in sorted(outcomes.items())}
    overall = {name: summarise(pooled[name]) for name in order}
    info = engine.info
    return Router(
        routes={kind: best(stats, order) for kind, stats in evidence.items()},
        fallback=best(overall, order),
        types=types,
        evidence=evidence,
        overall=overall,
        search={
            "dataset": dataset,
            "problems": len(problems),
            "trajectories": order,
            "seed": seed,
            "max_tokens": max_tokens,
            "samples": samples,
            "temperature": temperature,
            "engine": info.name,
            "model": info.model,
        },
    )


def check_out(out: str) -> None:
    """Refuse, before a long search, a router path that cannot be written."""
    target = Path(out).expanduser()
    if target.is_dir():
        raise InvalidInputError(f"--out {out} is a folder; give a file name such as router.json")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidInputError(f"cannot create the folder for {out}: {exc}") from None


async def aroute(
    dataset: str,
    *,
    out: str | None = None,
    limit: int | None = None,
    trajectories: str | Sequence[str] = "all",
    types: str = HEURISTIC,
    seed: int = 0,
    max_tokens: int = 512,
    samples: int = 1,
    temperature: float | None = None,
    engine: Engine | str | None = None,
    model: str | None = None,
    engine_options: Mapping[str, Any] | None = None,
    fields: Mapping[str, str] | None = None,
    progress: bool = False,
) -> Router:
    """Search a router on ``dataset`` (a built-in name, a JSONL path or ``hf:NAME``, read as
    ``ponder bench`` reads it; ``fields`` maps ``question_field`` etc.), saving it to ``out``
    when given. ``trajectories`` is ``all``, a comma-separated string or a list of names.
    ``engine``: an engine instance (not closed) or a name (created and closed here)."""
    wanted = parse_trajectories(trajectories if isinstance(trajectories, str) else ",".join(trajectories))
    check_scheme(types)
    if max_tokens < 1 or samples < 1:
        raise InvalidInputError("max_tokens and samples must be >= 1")
    if out:
        check_out(out)
    named: dict[str, Any] = dict(fields or {})  # question_field, answer_field, id_field, grader
    problems = load_problems(dataset, limit=limit, **named)
    owned = engine is None or isinstance(engine, str)
    backend: Engine
    if engine is None or isinstance(engine, str):
        options = {**({"model": model} if model else {}), **dict(engine_options or {})}
        backend = create_engine(engine or DEFAULT_ENGINE, **options)
    else:
        if model is not None or engine_options:
            raise InvalidInputError("`model` and `engine_options` apply when ponder creates the engine")
        backend = engine
    try:
        router = await search_router(
            problems,
            backend,
            trajectories=wanted,
            types=types,
            dataset=dataset,
            seed=seed,
            max_tokens=max_tokens,
            samples=samples,
            temperature=temperature,
            progress=progress,
        )
    finally:
        if owned:
            await backend.aclose()
    if out:
        router.save(out)
    return router


def route(dataset: str, **options: Any) -> Router:
    """Synchronous :func:`aroute` (same arguments); for use outside an event loop."""
    return asyncio.run(aroute(dataset, **options))
