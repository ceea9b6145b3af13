"""Running one configuration (system x strategy x budget x concurrency) over the problems and measuring it.

Up to ``concurrency`` problems are in flight at once, for every system alike (1: one at a time,
as before; a system may still send its own samples concurrently): each is an asyncio task calling
the system's solver, the next problem starting as soon as one finishes; records stay in problem
order. Wall time covers the solves only - not starting engines or optillm's proxy. Tokens and
upstream requests come from the counting proxy when the system talks HTTP, from ponder's own usage
for the embedded engine. A problem whose solve raises is recorded with its error and graded wrong;
a configuration in which every problem failed is ``failed``, one the system cannot run is
``unavailable``. A system's note on how it ran a strategy (ponder's DeepConf setting) and, above
concurrency 1, how it ran problems at once go into the record.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

from ponder.bench.datasets import Problem
from ponder.bench.graders import grade

from .proxy import CountingProxy
from .systems import Solver, System, Unavailable


def unavailable(system: System, strategy: str, budget: int, reason: str, concurrency: int = 1) -> dict[str, Any]:
    """The record of a configuration the system cannot run."""
    return {
        "system": system.name,
        "strategy": strategy,
        "budget": budget,
        "concurrency": concurrency,
        "status": "unavailable",
        "reason": reason,
    }


def engine_usage(records: list[dict[str, Any]]) -> dict[str, int]:
    """ponder's own usage summed over problems (prompt, computed prefill, completion, scorer tokens)."""
    keys = (
        "prompt_tokens",
        "prompt_tokens_computed",
        "completion_tokens",
        "engine_calls",
        "scorer_calls",
        "scorer_tokens",
    )
    return {key: int(sum((r.get("usage") or {}).get(key, 0) for r in records)) for key in keys}


async def solve_one(solve: Solver, problem: Problem) -> dict[str, Any]:
    """One problem's record: the answer, graded, and its own seconds (or the error)."""
    t0 = time.perf_counter()
    record: dict[str, Any] = {"id": problem.id, "gold": problem.gold}
    try:
        reply = await solve(problem)
        record.update(answer=reply.answer, correct=grade(problem, reply.answer), text=reply.text)
        if reply.usage is not None:
            record["usage"] = reply.usage
    except Exception as exc:
        record.update(answer=None, correct=False, error=f"{type(exc).__name__}: {exc}"[:500])
    record["seconds"] = round(time.perf_counter() - t0, 4)
    return record


async def solve_all(solve: Solver, problems: Sequence[Problem], concurrency: int) -> list[dict[str, Any]]:
    """Every problem's record, in problem order, with at most ``concurrency`` solves in flight."""
    slots = asyncio.Semaphore(concurrency)

    async def one(problem: Problem) -> dict[str, Any]:
        async with slots:
            return await solve_one(solve, problem)

    return list(await asyncio.gather(*(one(problem) for problem in problems)))


async def run_config(
    system: System,
    strategy: str,
    budget: int,
    problems: Sequence[Problem],
    proxy: CountingProxy | None,
    concurrency: int = 1,
) -> dict[str, Any]:
    """Measure one configuration; the returned dict holds every raw number (see the module docstring)."""
    try:
        solve = await system.prepare(strategy, budget)
    except Unavailable as exc:
        return unavailable(system, strategy, budget, str(exc), concurrency)
    except Exception as exc:  # a peer that cannot even start is reported, not fatal to the benchmark
        return {
            **unavailable(system, strategy, budget, f"could not start: {type(exc).__name__}: {exc}", concurrency),
            "status": "failed",
        }
    note = system.note(strategy)
    before = proxy.snapshot() if proxy is not None else None
    started = time.perf_counter()
    records = await solve_all(solve, problems, concurrency)
    wall = time.perf_counter() - started
    result: dict[str, Any] = {
        "system": system.name,
        "strategy": strategy,
        "budget": budget,
        "concurrency": concurrency,
        "status": "ok",
        "reason": None,
        "problems": len(records),
        "correct": sum(bool(r["correct"]) for r in records),
        "errors": sum("error" in r for r in records),
        "wall_seconds": round(wall, 4),
        "records": records,
    }
    if note:
        result["note"] = note
    if concurrency > 1 and system.concurrent:
        result["concurrent"] = system.concurrent
    result["accuracy"] = result["correct"] / len(records) if records else 0.0
    if any("usage" in r for r in records):
        result["ponder_usage"] = engine_usage(records)
    if proxy is not None and before is not None:
        tally = proxy.snapshot().minus(before)
        result.update(
            tokens_source="counting proxy",
            prompt_tokens=tally.prompt_tokens,
            completion_tokens=tally.completion_tokens,
            upstream_requests=tally.upstream_requests,
            proxy=tally.to_dict(),
        )
        if tally.streams_without_usage:  # the server sent no usage chunk: completion tokens read off the events
            result["tokens_source"] = (
                "counting proxy; completion tokens of streamed requests counted from their "
                "events, their prompt tokens unreported by the server"
            )
    else:
        usage = result.get("ponder_usage", {})
        result.update(
            tokens_source="ponder usage (embedded engine; scorer tokens apart)",
            prompt_tokens=usage.get("prompt_tokens", 0),
            completion_tokens=usage.get("completion_tokens", 0),
            upstream_requests=None,
        )
    if records and result["errors"] == len(records):
        result.update(status="failed", reason=f"every problem failed; first error: {records[0]['error']}")
    return result
