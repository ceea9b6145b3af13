"""Hogwild! Inference on the embedded model (issue #23): collaborating workers against their baselines.

On the first --problems problems of ``mawps-singleop`` (in file order), every problem is solved
one method at a time (each alone on the engine, from an empty cache, so wall times and prompt
tokens computed are comparable), with per-worker cap L = --max-tokens:

- ``hogwild-W`` for W in --workers (default 2 and 4): W workers on the shared KV cache, total
  token budget T = W * L;
- ``hogwild-W-resent``: the same with ``shared=false`` (the history re-sent as each step's
  prompt, ponder's path for engines without the primitive), to measure what the shared cache saves;
- ``self-consistency-W``: W independent samples of L tokens, majority vote (the same generations);
- ``one-worker-T``: hogwild with one worker and the same total budget T (L' = T), the baseline
  of the issue's wall-time target (hogwild with W workers and budget T <= 0.7x one worker with T).

Per method: accuracy with its 95% Wilson interval, mean wall seconds, completion tokens, prompt
tokens requested and computed, and (hogwild) the engine's counters: prompt tokens recomputed,
history tokens shared, cells shifted, steps, how runs ended, how often a worker stated the final
answer. The target ratio: mean wall time of ``hogwild-W`` over ``one-worker-T``, with the tokens
each generated (a ratio of wall times means little if one side stops early: tokens per second
are reported too).

Writes OUT/hogwild.md and OUT/hogwild.json.

    flock /tmp/ponder-model.lock python benchmarks/hogwild.py [--problems 30] [--max-tokens 128]
        [--workers 2 4] [--seed 0] [--n-ctx 2048] [--out benchmarks/results]

The engine runs with --n-ctx KV cells (2048: the largest run, 4 x 128 tokens and a ~300-token
prompt, fits with room): llama.cpp applies a position shift by re-rotating the keys of every cell
of the cache, so each step moved into the history costs time in proportion to the cache's size
(measured here, 2 threads: ~20 ms at 2,048 cells, ~80 ms at 8,192, against ~8 ms for a decode step).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import statistics
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ponder
from ponder.bench.datasets import load_problems
from ponder.bench.graders import grade
from ponder.bench.types import Problem
from ponder.core.result import SolveResult
from ponder.engines.llama import LlamaEngine

ROOT = Path(__file__).resolve().parent.parent
DATASET = "mawps-singleop"


def wilson(correct: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The 95% Wilson score interval of ``correct`` out of ``n``."""
    if n == 0:
        return 0.0, 0.0
    p = correct / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class Method:
    name: str
    strategy: str
    budget: int
    max_tokens: int
    token_budget: int | None = None
    options: dict[str, Any] = field(default_factory=dict)


def methods(workers: list[int], length: int) -> list[Method]:
    made: list[Method] = []
    for w in workers:
        total = w * length
        made += [
            Method(f"hogwild-{w}", "hogwild", w, length, total, {"workers": w}),
            Method(f"hogwild-{w}-resent", "hogwild", w, length, total, {"workers": w, "shared": False}),
            Method(f"self-consistency-{w}", "self-consistency", w, length),
            Method(f"one-worker-{total}", "hogwild", 1, total, total, {"workers": 1}),
        ]
    return made


@dataclass
class Row:
    method: str
    problem: str
    correct: bool
    answer: str | None
    wall: float
    completion_tokens: int
    prompt_tokens: int
    prompt_tokens_computed: int
    end: dict[str, Any] = field(default_factory=dict)


def end_of(result: SolveResult) -> dict[str, Any]:
    ends = [e for e in result.trace if e.get("action") == "end"]
    steps = sum(1 for e in result.trace if e.get("action") == "step") + sum(len(e.get("steps", [])) for e in ends)
    if not ends:  # a time budget or an interrupt cut the run between two steps
        return {"reason": result.stop_reason, "answer_from": "vote", "steps": steps}
    return {
        "reason": ends[-1]["reason"],
        "answer_from": ends[-1]["answer_from"],
        "steps": steps,
        "counters": ends[-1]["counters"],
    }


async def solve(engine: LlamaEngine, method: Method, problem: Problem, seed: int) -> Row:
    engine.reset_cache()  # every method computes its prompt itself: no method serves another's
    start = time.perf_counter()
    result = await ponder.asolve(
        problem.question,
        engine=engine,
        strategy=method.strategy,
        options=method.options,
        budget=method.budget,
        token_budget=method.token_budget,
        max_tokens=method.max_tokens,
        seed=seed,
    )
    wall = time.perf_counter() - start
    usage = result.usage
    return Row(
        method.name,
        problem.id,
        grade(problem, result.answer),
        result.answer,
        wall,
        usage.completion_tokens,
        usage.prompt_tokens,
        usage.prompt_tokens_computed,
        end_of(result) if method.strategy == "hogwild" else {},
    )


def summary(rows: list[Row]) -> dict[str, Any]:
    correct = sum(r.correct for r in rows)
    low, high = wilson(correct, len(rows))
    counters: Counter[str] = Counter()
    for r in rows:
        counters.update(r.end.get("counters", {}))
    ends = Counter(r.end["reason"] for r in rows if r.end)
    finals = sum(1 for r in rows if r.end and r.end.get("answer_from", "vote") != "vote")
    wall = statistics.mean(r.wall for r in rows)
    tokens = statistics.mean(r.completion_tokens for r in rows)
    return {
        "n": len(rows),
        "correct": correct,
        "accuracy": correct / len(rows),
        "ci95": [round(low, 3), round(high, 3)],
        "wall_seconds": round(wall, 3),
        "completion_tokens": round(tokens, 1),
        "tokens_per_second": round(sum(r.completion_tokens for r in rows) / sum(r.wall for r in rows), 1),
        "prompt_tokens": round(statistics.mean(r.prompt_tokens for r in rows), 1),
        "prompt_tokens_computed": round(statistics.mean(r.prompt_tokens_computed for r in rows), 1),
        "counters": {k: round(v / len(rows), 1) for k, v in sorted(counters.items())},
        "steps": round(statistics.mean(r.end.get("steps", 0) for r in rows), 1) if ends else None,
        "ends": dict(ends),
        "final_answer_stated": finals,
    }


def markdown(figures: dict[str, Any]) -> str:
    s = figures["settings"]
    lines = [
        "# Hogwild! Inference on the embedded model",
        "",
        f"`{s['dataset']}`, first {s['problems']} problems, model `{s['model']}`, per-worker cap L = "
        f"{s['max_tokens']} tokens, seed {s['seed']}; each method alone on the engine ({s['threads']} threads, "
        f"{s['n_ctx']} KV cells). "
        f"Run time {figures['wall_seconds']:.0f} s. Written by `benchmarks/hogwild.py`.",
        "",
        "| method | accuracy (95% CI) | wall s | completion tok | tok/s | prompt tok requested | "
        "prompt tok computed | recomputed (engine) | steps | ends | final answer stated |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, m in figures["methods"].items():
        recomputed = m["counters"].get("prompt_tokens_recomputed", "")
        ends = ", ".join(f"{k} {v}" for k, v in sorted(m["ends"].items())) or ""
        lines.append(
            f"| {name} | {m['accuracy']:.3f} ({m['ci95'][0]:.2f}-{m['ci95'][1]:.2f}) | {m['wall_seconds']:.2f} | "
            f"{m['completion_tokens']:.0f} | {m['tokens_per_second']:.0f} | {m['prompt_tokens']:.0f} | "
            f"{m['prompt_tokens_computed']:.0f} | {recomputed} | {m['steps'] if m['steps'] is not None else ''} | "
            f"{ends} | {m['final_answer_stated'] if m['ends'] else ''} |"
        )
    lines += [
        "",
        "Wall-time target (issue #23: hogwild with W workers and total budget T <= 0.7x one worker with T):",
        "",
    ]
    for ratio in figures["ratios"]:
        lines.append(
            f"- W={ratio['workers']}, T={ratio['total_tokens']}: {ratio['wall_ratio']:.2f}x the one worker's wall time "
            f"({ratio['hogwild_tokens']:.0f} vs {ratio['one_worker_tokens']:.0f} tokens generated; "
            f"{ratio['throughput_ratio']:.2f}x its tokens per second)"
        )
    return "\n".join(lines) + "\n"


async def main(args: argparse.Namespace) -> None:
    problems = load_problems(DATASET, limit=args.problems)
    engine = LlamaEngine(n_ctx=args.n_ctx, n_seq_max=16)
    chosen = methods(args.workers, args.max_tokens)
    rows: list[Row] = []
    began = time.perf_counter()
    try:
        for k, problem in enumerate(problems):
            for method in chosen:
                row = await solve(engine, method, problem, args.seed)
                rows.append(row)
            done = [r for r in rows if r.problem == problem.id]
            print(f"[{k + 1}/{len(problems)}] " + " ".join(f"{r.method}:{int(r.correct)}" for r in done), flush=True)
    finally:
        engine.close()
    per = {m.name: summary([r for r in rows if r.method == m.name]) for m in chosen}
    ratios = []
    for w in args.workers:
        hog, one = per[f"hogwild-{w}"], per[f"one-worker-{w * args.max_tokens}"]
        ratios.append(
            {
                "workers": w,
                "total_tokens": w * args.max_tokens,
                "wall_ratio": hog["wall_seconds"] / one["wall_seconds"],
                "hogwild_tokens": hog["completion_tokens"],
                "one_worker_tokens": one["completion_tokens"],
                "throughput_ratio": hog["tokens_per_second"] / one["tokens_per_second"],
            }
        )
    figures = {
        "settings": {
            "dataset": DATASET,
            "problems": len(problems),
            "max_tokens": args.max_tokens,
            "workers": args.workers,
            "seed": args.seed,
            "model": engine.info.model,
            "threads": engine.info.details["n_threads"],
            "n_ctx": args.n_ctx,
        },
        "wall_seconds": time.perf_counter() - began,
        "methods": per,
        "ratios": ratios,
        "rows": [r.__dict__ for r in rows],
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "hogwild.json").write_text(json.dumps(figures, indent=1) + "\n")
    (args.out / "hogwild.md").write_text(markdown(figures))
    print(markdown(figures))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--problems", type=int, default=30)
    parser.add_argument("--max-tokens", type=int, default=128, help="each worker's token cap L")
    parser.add_argument("--workers", type=int, nargs="+", default=[2, 4])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--n-ctx", type=int, default=2048, help="KV cells (a position shift re-rotates all of them: keep it small)"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    asyncio.run(main(parser.parse_args()))
