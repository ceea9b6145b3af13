"""Many callers on one embedded engine: continuous batching against one caller at a time.

Prints one JSON object:
- ``callers``: for 1, 2, 4, 8 callers at once, each running self-consistency with budget 4 on a
  different MAWPS SingleOp question (the same --problems questions at every level, that many at a
  time), aggregate completion tokens/s, its ratio to one caller at a time, and the p50 / p95
  latency of one call;
- ``bench``: ``ponder bench`` on --bench-problems MAWPS SingleOp problems, SC@4, ``--workers 1``
  against ``--workers 4``: wall seconds, their ratio, and accuracy of each.
Speed is a ratio within one run on one machine (timings here are noisy; run it on an idle machine).

    python benchmarks/concurrency.py [--problems 8] [--max-tokens 128] [--bench-problems 30]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import ponder
from ponder.bench.api import abench
from ponder.bench.datasets import load_problems
from ponder.engines.llama import LlamaEngine

LEVELS = (1, 2, 4, 8)


async def callers(engine: LlamaEngine, questions: list[str], at_once: int, max_tokens: int) -> dict[str, Any]:
    """Every question solved (SC@4), ``at_once`` callers at a time."""
    gate = asyncio.Semaphore(at_once)
    latencies: list[float] = []

    async def one(question: str) -> int:
        async with gate:
            started = time.perf_counter()
            result = await ponder.asolve(
                question, engine=engine, strategy="self-consistency", budget=4, max_tokens=max_tokens, seed=0
            )
            latencies.append(time.perf_counter() - started)
            return result.usage.completion_tokens

    engine.reset_cache()
    started = time.perf_counter()
    tokens = sum(await asyncio.gather(*(one(q) for q in questions)))
    seconds = time.perf_counter() - started
    ranked = sorted(latencies)
    return {
        "callers": at_once,
        "completion_tokens": tokens,
        "seconds": round(seconds, 2),
        "tokens_per_second": round(tokens / seconds, 1),
        "latency_p50": round(statistics.median(ranked), 2),
        "latency_p95": round(ranked[min(len(ranked) - 1, round(0.95 * (len(ranked) - 1)))], 2),
    }


async def bench_point(
    engine: LlamaEngine, problems: int, workers: int, max_tokens: int, folder: Path
) -> dict[str, Any]:
    """``ponder bench mawps-singleop`` (SC@4) with ``workers`` problems at once, into a fresh store."""
    engine.reset_cache()
    started = time.perf_counter()
    [totals] = await abench(
        "mawps-singleop",
        strategies=["self-consistency"],
        budgets=[4],
        limit=problems,
        db=folder / f"workers{workers}.db",
        engine=engine,
        workers=workers,
        max_tokens=max_tokens,
        progress=False,
    )
    seconds = time.perf_counter() - started
    return {
        "workers": workers,
        "seconds": round(seconds, 1),
        "accuracy": round(totals.accuracy, 4),
        "correct": totals.correct,
        "solved": totals.solved,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--bench-problems", type=int, default=30)
    parser.add_argument("--skip-bench", action="store_true")
    args = parser.parse_args()
    questions = [p.question for p in load_problems("mawps-singleop", limit=args.problems)]
    with LlamaEngine(n_ctx=8192, n_seq_max=40) as engine:
        await ponder.asolve(questions[0], engine=engine, budget=1, max_tokens=8)  # warm-up
        points = [await callers(engine, questions, k, args.max_tokens) for k in LEVELS]
        base = points[0]["tokens_per_second"]
        for point in points:
            point["ratio_to_one_at_a_time"] = round(point["tokens_per_second"] / base, 2)
        report: dict[str, Any] = {
            "model": engine.info.model,
            "max_tokens": args.max_tokens,
            "problems": args.problems,
            "callers": points,
        }
        if not args.skip_bench:
            with tempfile.TemporaryDirectory() as folder:
                one = await bench_point(engine, args.bench_problems, 1, args.max_tokens, Path(folder))
                four = await bench_point(engine, args.bench_problems, 4, args.max_tokens, Path(folder))
            report["bench"] = {
                "problems": args.bench_problems,
                "workers_1": one,
                "workers_4": four,
                "wall_ratio_4_to_1": round(four["seconds"] / one["seconds"], 2),
            }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
