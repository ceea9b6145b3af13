"""``ponder tune`` on MAWPS SingleOp with the embedded model (issue #22 item 4, the real search).

A small space for a 135M model (greedy; self-consistency at budgets 2, 4, 8 and temperatures 0.5,
0.9; a generate-and-fuse pipeline of 3 drafts), 24 trials by default, under a token constraint
(400 completion tokens per problem: self-consistency at 8 is explored but infeasible), on the
first 140 problems split 40 / 40 / 60 (train / holdout / test). Every evaluation goes through the
bench store, so repeated configurations cost nothing and a killed run resumes where it stopped
(rerun the same command). Sized for about 15 minutes on 2 CPU cores: at ~80 completion tokens
per answer it generates about 180k tokens at ~250 tokens/s (``--workers 4`` keeps batches full).

Writes into --out (default benchmarks/results/tune_mawps/): ``chosen.yaml`` (the chosen
configuration, runnable with ``ponder solve --pipeline``), ``tune.md`` / ``tune.json`` /
``tune.png`` / ``tune.html`` (the report), ``space.yaml`` (the space searched) and
``tune_mawps.json`` (the settings, the outcome's scores and the wall time); the bench store and
the optuna study go to ``tune.db`` / ``tune.optuna.db`` there.

    flock /tmp/ponder-model.lock python benchmarks/tune_mawps.py [--trials 24] [--workers 4]
        [--engine llama] [-E model=smollm2-135m] [--out benchmarks/results/tune_mawps]

``--dry-run`` runs everything on a scripted engine that knows the answers (right on about half the
problems, on all with 4 samples or more), into a temporary folder unless --out is given, in
seconds and without loading a model: a check of the script, its numbers mean nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from ponder.bench.datasets import load_problems
from ponder.engines.base import Engine, GenerationRequest
from ponder.engines.fake import FakeEngine, prompt_text
from ponder.engines.registry import create_engine
from ponder.tune import TuneOutcome, atune

ROOT = Path(__file__).resolve().parent.parent
DATASET = "mawps-singleop"
SPACE: dict[str, Any] = {
    "name": "mawps-small",
    "architectures": [
        {"name": "greedy", "strategy": "greedy", "params": {"budget": 1}},
        {
            "name": "self-consistency",
            "strategy": "self-consistency",
            "params": {"budget": [2, 4, 8], "temperature": [0.5, 0.9]},
        },
        {
            "name": "drafts-fuse",
            "pipeline": {"samples": [3], "temperature": [0.8], "critic": [False], "fuser_layers": [1]},
        },
    ],
}
FRACTIONS = (2 / 7, 2 / 7, 3 / 7)  # 40 / 40 / 60 of 140


def fake_engine(limit: int) -> FakeEngine:
    """A scripted stand-in that knows MAWPS's answers: right on problems whose question hashes even,
    and on every problem when asked for 4 samples or more at once; otherwise off by one."""
    gold = {p.question: p.gold for p in load_problems(DATASET, limit=limit)}

    def script(request: GenerationRequest, index: int) -> str:
        text = prompt_text(request)
        question = next((q for q in gold if q in text), "")
        answer = gold.get(question, "0")
        lucky = int(hashlib.sha256(question.encode()).hexdigest(), 16) % 2 == 0
        right = lucky or request.n >= 4
        return f"Working it out step by step. The answer is {answer if right else str(float(answer) + 1)}."

    return FakeEngine(script)


def make_engine(args: argparse.Namespace) -> Engine:
    if args.dry_run:
        return fake_engine(args.limit)
    options: dict[str, Any] = dict(option.split("=", 1) for option in args.engine_option)
    return create_engine(args.engine, **options)


async def run(args: argparse.Namespace) -> tuple[TuneOutcome, dict[str, Any]]:
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "space.yaml").write_text(yaml.safe_dump(SPACE, sort_keys=False), encoding="utf-8")
    engine = make_engine(args)
    started = time.perf_counter()
    try:
        outcome = await atune(
            DATASET,
            space=args.out / "space.yaml",
            trials=args.trials,
            max_tokens_per_problem=args.max_tokens_per_problem,
            fractions=FRACTIONS,
            seed=args.seed,
            limit=args.limit,
            max_tokens=args.max_tokens,
            db=args.out / "tune.db",
            out=args.out,
            engine=engine,
            workers=args.workers,
            progress=not args.quiet,
        )
    finally:
        await engine.aclose()
    summary = {
        "dataset": DATASET,
        "engine": engine.info.name,
        "model": engine.info.model,
        "dry_run": args.dry_run,
        "trials": args.trials,
        "limit": args.limit,
        "split_sizes": list(outcome.split_sizes),
        "max_tokens": args.max_tokens,
        "max_tokens_per_problem": args.max_tokens_per_problem,
        "workers": args.workers,
        "seed": args.seed,
        "seconds": round(time.perf_counter() - started, 1),
        "chosen": None if outcome.chosen is None else outcome.chosen.to_dict(),
        "scores": None if outcome.scores is None else outcome.scores.to_dict(),
        "holdout": {
            "queries": outcome.holdout_queries,
            "spent": outcome.holdout_spent,
            "budget": outcome.holdout_budget,
        },
        "distinct_configurations": len({json.dumps(dict(t.params), sort_keys=True) for t in outcome.trials}),
    }
    (args.out / "tune_mawps.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return outcome, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=24)
    parser.add_argument("--limit", type=int, default=140, help="the first N problems (split 40/40/60 at 140)")
    parser.add_argument("--max-tokens", type=int, default=160, help="tokens per generation")
    parser.add_argument("--max-tokens-per-problem", type=float, default=400.0, help="the constraint")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--engine", default="llama")
    parser.add_argument("-E", "--engine-option", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--out", type=Path, default=None, help="[default: benchmarks/results/tune_mawps]")
    parser.add_argument("--dry-run", action="store_true", help="a scripted engine, no model (a check of the script)")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args()
    if args.out is None:
        args.out = (
            Path(tempfile.mkdtemp(prefix="tune_mawps-")) if args.dry_run else ROOT / "benchmarks/results/tune_mawps"
        )
    _, summary = asyncio.run(run(args))
    print(json.dumps({k: summary[k] for k in ("seconds", "chosen", "scores", "holdout")}, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
