"""Step-level search against best-of-N on MAWPS SingleOp, embedded model, self-evaluation PRM.

For every strategy at every budget: accuracy, completion tokens per problem, prompt tokens
computed / requested (the generator's: how much of the prompts the engine's prefix cache and
forks saved), scorer tokens, and wall time relative to best-of-N at the same budget (summed over
the same problems, in this one run). Best-of-N scores its samples with the same self-evaluation
PRM (``scorer=self-eval-prm``), so the comparison is search against sample-then-score.

Results go to a bench SQLite store (``--db``; a rerun resumes: nothing solved is solved again)
and to ``benchmarks/results/step_search.{md,json}``.

    python benchmarks/step_search.py --limit 100 --budgets 4 8

The table covers every configuration in the store, each over the problems it has solved; the
wall-time ratio compares the same problems.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path
from typing import Any

from ponder.bench.api import abench
from ponder.bench.store import BenchStore
from ponder.engines.llama import LlamaEngine

DATASET = "mawps-singleop"
RESULTS = Path(__file__).parent / "results"
BASELINE = "best-of-n"
STRATEGIES: dict[str, dict[str, Any]] = {
    "best-of-n": {"scorer": "self-eval-prm"},
    "beam-search": {},
    "dvts": {},
    "particle-filtering": {},
    "particle-gibbs": {},
    "a-star": {},
}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=100)
    parser.add_argument("--budgets", type=int, nargs="+", default=[4, 8])
    parser.add_argument("--strategies", nargs="+", default=list(STRATEGIES), choices=list(STRATEGIES))
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--temperature",
        type=float,
        default=0.3,
        help="sampling temperature of every strategy (0.3 suits the 135M model best: see README)",
    )
    parser.add_argument("--db", default=str(RESULTS / "step_search.db"))
    parser.add_argument("--out", default=str(RESULTS / "step_search"))
    return parser.parse_args()


def summarize(db: str, max_tokens: int, seed: int, temperature: float) -> list[dict[str, Any]]:
    """One row per (strategy, budget) from the store, over every problem it holds."""
    store = BenchStore(db)
    try:
        rows = []
        for config in store.configs():
            key = json.loads(config.key)
            if (key["dataset"], key["max_tokens"], key["seed"], key["temperature"]) != (
                DATASET,
                max_tokens,
                seed,
                temperature,
            ):
                continue
            results = list(store.results(config.id))
            if not results:
                continue
            n = len(results)
            rows.append(
                {
                    "strategy": key["strategy"],
                    "budget": key["budget"],
                    "options": key["options"],
                    "problems": n,
                    "accuracy": sum(r.correct for r in results) / n,
                    "completion_tokens": sum(r.completion_tokens for r in results) / n,
                    "prompt_tokens": sum(r.prompt_tokens for r in results) / n,
                    "prompt_tokens_computed": sum(r.prompt_tokens_computed for r in results) / n,
                    "scorer_tokens": sum(r.scorer_tokens for r in results) / n,
                    "seconds": sum(r.seconds for r in results) / n,
                    "errors": sum(r.stop_reason.startswith("error") for r in results),
                    "seconds_by_problem": {r.problem_id: r.seconds for r in results},
                }
            )
        return rows
    finally:
        store.close()


def add_ratios(rows: list[dict[str, Any]]) -> None:
    """Prompt tokens computed / requested, and wall time relative to best-of-N at the same budget
    over the same problems (None when best-of-N has not solved them all)."""
    for row in rows:
        row["computed_over_requested"] = row["prompt_tokens_computed"] / max(row["prompt_tokens"], 1)
        base = next((b for b in rows if b["strategy"] == BASELINE and b["budget"] == row["budget"]), None)
        ids = row["seconds_by_problem"]
        if base is None or not set(ids) <= set(base["seconds_by_problem"]):
            row["wall_vs_best_of_n"] = None
            continue
        row["wall_vs_best_of_n"] = sum(ids.values()) / sum(base["seconds_by_problem"][i] for i in ids)


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = [
        f"# Step-level search on {DATASET} (embedded SmolLM2-135M, self-evaluation PRM)",
        "",
        (
            "| strategy | budget | problems | accuracy | completion tok | prompt computed / requested | scorer tok "
            "| s/problem | wall vs best-of-N |"
        ),
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in sorted(rows, key=lambda r: (r["budget"], r["strategy"] != BASELINE, r["strategy"])):
        ratio = "-" if r.get("wall_vs_best_of_n") is None else f"{r['wall_vs_best_of_n']:.2f}x"
        computed = f"{r['prompt_tokens_computed']:.0f} / {r['prompt_tokens']:.0f} ({r['computed_over_requested']:.2f})"
        lines.append(
            f"| {r['strategy']} | {r['budget']} | {r['problems']} | {r['accuracy']:.1%} | "
            f"{r['completion_tokens']:.0f} | {computed} | {r['scorer_tokens']:.0f} | {r['seconds']:.2f} | {ratio} |"
        )
    return "\n".join(lines) + "\n"


async def main() -> None:
    args = parse_args()
    engine = LlamaEngine()
    try:
        for budget in args.budgets:
            for strategy in args.strategies:
                await abench(
                    DATASET,
                    strategies=[strategy],
                    budgets=[budget],
                    seeds=[args.seed],
                    temperatures=[args.temperature],
                    options=STRATEGIES[strategy],
                    limit=args.limit,
                    max_tokens=args.max_tokens,
                    db=args.db,
                    engine=engine,
                )
    finally:
        await engine.aclose()
    rows = summarize(args.db, args.max_tokens, args.seed, args.temperature)
    add_ratios(rows)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps({"args": vars(args), "rows": rows}, indent=2) + "\n")
    out.with_suffix(".md").write_text(markdown(rows))
    print(markdown(rows))


if __name__ == "__main__":
    asyncio.run(main())
