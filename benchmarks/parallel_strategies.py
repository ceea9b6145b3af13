"""Parallel strategies on MAWPS SingleOp with the embedded model: accuracy against samples.

For each problem: greedy; then, per temperature, 16 samples drawn once (identities 0..15).
Self-consistency@k for k = 4, 8, 16 votes over samples 0..k-1 - exactly the samples a run with
budget k draws, since sample i is seeded by (seed, i). pass@k asks whether any of them is right.
Adaptive self-consistency runs its real code on a replay of those same samples (it draws
samples 0, 1, 2, ... in batches and stops early), so it is compared on identical draws.
Per-problem records go to a JSONL file; a rerun resumes where the last one stopped.

    python benchmarks/parallel_strategies.py [--limit 200] [--max-tokens 96] [--thresholds 0.95,0.8,0.6]
        [--out benchmarks/results/mawps_parallel.jsonl] [--replay-only --batch 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path
from typing import Any

import ponder
from ponder.answers import get_task
from ponder.bench.catalog import builtin_file
from ponder.core.jsonl import read_jsonl
from ponder.engines import FakeEngine
from ponder.engines.llama import LlamaEngine
from ponder.scorers import ExactChecker

ROOT = Path(__file__).resolve().parent.parent
TEMPERATURES = (0.3, 0.8)
SIZES = (4, 8, 16)


def load(limit: int) -> list[dict[str, Any]]:
    rows = [row for _, row in read_jsonl(builtin_file("mawps-singleop"))][:limit]
    return [{"id": i, "question": r["input"], "gold": format(float(r["target"]), "g")} for i, r in enumerate(rows)]


def replay_engine(texts: list[str]) -> FakeEngine:
    """An engine that returns recorded sample ``first_index + i`` for sample i of a request."""
    return FakeEngine(lambda request, index: texts[request.first_index + index])


async def solve_problem(engine: LlamaEngine, row: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    checker = ExactChecker(row["gold"], get_task("math"))
    common = {"max_tokens": args.max_tokens, "seed": args.seed}
    record: dict[str, Any] = {"id": row["id"], "gold": row["gold"]}
    greedy = await ponder.asolve(row["question"], engine=engine, strategy="greedy", **common)
    record["greedy"] = {"correct": checker.is_correct(greedy.answer), "tokens": greedy.usage.completion_tokens}
    for temperature in TEMPERATURES:
        sc = await ponder.asolve(row["question"], engine=engine, budget=max(SIZES), temperature=temperature, **common)
        answers = [c.answer for c in sc.candidates]
        tokens = [c.completion_tokens for c in sc.candidates]
        entry: dict[str, Any] = {"answers": answers, "tokens": tokens}
        for k in SIZES:
            voted = ponder.core.voting.winner(ponder.core.voting.tally(answers[:k], equivalent=checker.task.equivalent))
            entry[f"sc@{k}"] = checker.is_correct(voted)
            entry[f"pass@{k}"] = any(checker.is_correct(a) for a in answers[:k])
        await replay_adaptive(entry, [c.text for c in sc.candidates], row, checker, temperature, args)
        record[f"t{temperature}"] = entry
    return record


async def replay_adaptive(
    entry: dict[str, Any],
    texts: list[str],
    row: dict[str, Any],
    checker: ExactChecker,
    temperature: float,
    args: argparse.Namespace,
) -> None:
    """Adaptive self-consistency's real code on a replay of the recorded samples, per threshold."""
    for threshold in args.thresholds:
        adaptive = await ponder.asolve(
            row["question"],
            engine=replay_engine(texts),
            strategy="adaptive-self-consistency",
            budget=max(SIZES),
            temperature=temperature,
            options={"batch": args.batch, "threshold": threshold},
            max_tokens=args.max_tokens,
            seed=args.seed,
        )
        used = len(adaptive.candidates)
        entry[f"adaptive@{threshold}"] = {
            "correct": checker.is_correct(adaptive.answer),
            "samples": used,
            "tokens": sum(entry["tokens"][:used]),
        }


async def replay_only(records: dict[int, dict[str, Any]], rows: list[dict[str, Any]], args: argparse.Namespace) -> None:
    """Recompute the adaptive rows from stored answers (no model): texts that state each answer."""
    for row in rows:
        checker = ExactChecker(row["gold"], get_task("math"))
        for temperature in TEMPERATURES:
            entry = records[row["id"]][f"t{temperature}"]
            texts = [f"The answer is {a}." if a is not None else "No answer." for a in entry["answers"]]
            await replay_adaptive(entry, texts, row, checker, temperature, args)


def summarize(records: list[dict[str, Any]], args: argparse.Namespace) -> dict[str, Any]:
    n = len(records)
    rows = [
        {
            "strategy": "greedy",
            "temperature": 0.0,
            "accuracy": sum(r["greedy"]["correct"] for r in records) / n,
            "samples_per_problem": 1.0,
            "tokens_per_problem": sum(r["greedy"]["tokens"] for r in records) / n,
        }
    ]
    for t in TEMPERATURES:
        key = f"t{t}"
        for k in SIZES:
            tokens = sum(sum(r[key]["tokens"][:k]) for r in records) / n
            rows.append(
                {
                    "strategy": f"self-consistency@{k}",
                    "temperature": t,
                    "accuracy": sum(r[key][f"sc@{k}"] for r in records) / n,
                    "samples_per_problem": float(k),
                    "tokens_per_problem": tokens,
                }
            )
        for threshold in args.thresholds:
            results = [r[key][f"adaptive@{threshold}"] for r in records]
            rows.append(
                {
                    "strategy": f"adaptive-self-consistency (batch {args.batch}, threshold {threshold})",
                    "temperature": t,
                    "accuracy": sum(a["correct"] for a in results) / n,
                    "samples_per_problem": sum(a["samples"] for a in results) / n,
                    "tokens_per_problem": sum(a["tokens"] for a in results) / n,
                }
            )
        for k in SIZES:
            rows.append(
                {
                    "strategy": f"pass@{k}",
                    "temperature": t,
                    "accuracy": sum(r[key][f"pass@{k}"] for r in records) / n,
                    "samples_per_problem": float(k),
                    "tokens_per_problem": None,
                }
            )
    return {"problems": n, "max_tokens": args.max_tokens, "seed": args.seed, "rows": rows}


def markdown(summary: dict[str, Any]) -> str:
    lines = [
        f"MAWPS SingleOp, first {summary['problems']} problems, smollm2-135m, max_tokens {summary['max_tokens']}",
        "",
        "| strategy | T | accuracy | samples/problem | tokens/problem |",
        "| --- | --- | --- | --- | --- |",
    ]
    for row in summary["rows"]:
        tokens = "" if row["tokens_per_problem"] is None else f"{row['tokens_per_problem']:.0f}"
        lines.append(
            f"| {row['strategy']} | {row['temperature']} | {100 * row['accuracy']:.1f}% | "
            f"{row['samples_per_problem']:.2f} | {tokens} |"
        )
    return "\n".join(lines)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=200)
    parser.add_argument("--max-tokens", type=int, default=96)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--thresholds", type=lambda v: [float(x) for x in v.split(",")], default=[0.95, 0.8, 0.6])
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "mawps_parallel.jsonl")
    parser.add_argument(
        "--replay-only",
        action="store_true",
        help="no model: recompute adaptive self-consistency from the recorded answers",
    )
    args = parser.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    done = {json.loads(line)["id"]: json.loads(line) for line in args.out.open()} if args.out.exists() else {}
    rows = load(args.limit)
    started = time.perf_counter()
    if args.replay_only:
        missing = [r["id"] for r in rows if r["id"] not in done]
        if missing:
            raise SystemExit(f"--replay-only needs recorded problems; {len(missing)} are missing from {args.out}")
        await replay_only(done, rows, args)
    pending = [row for row in rows if row["id"] not in done]
    if pending:
        await record_problems(pending, done, args, started)
    summary = summarize([done[r["id"]] for r in rows], args)
    suffix = f".batch{args.batch}" if args.replay_only else ""
    args.out.with_suffix(f"{suffix}.summary.json").write_text(json.dumps(summary, indent=2))
    table = markdown(summary)
    args.out.with_suffix(f"{suffix}.md").write_text(table + "\n")
    print(table)


async def record_problems(
    pending: list[dict[str, Any]], done: dict[int, dict[str, Any]], args: argparse.Namespace, started: float
) -> None:
    with LlamaEngine(n_ctx=8192, n_seq_max=32) as engine, args.out.open("a") as sink:
        for row in pending:
            record = await solve_problem(engine, row, args)
            sink.write(json.dumps(record) + "\n")
            sink.flush()
            done[row["id"]] = record
            print(f"{len(done)} problems, {time.perf_counter() - started:.0f} s", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
