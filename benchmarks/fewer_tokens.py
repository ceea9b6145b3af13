"""Fewer tokens for the same answer: DeepConf against self-consistency, on the embedded model.

For each data set (MAWPS SingleOp, first --mawps problems, max_tokens 96; GSM8K, first --gsm8k,
max_tokens 192), per problem:
- ``deepconf`` offline at budget 16: 16 traces with top-20 logprobs. These are exactly the samples
  self-consistency@16 draws (sample i is seeded by (seed, i); asking for logprobs changes no draw),
  so SC@16 is the plain majority over the same traces: the two share their tokens and wall time;
- ``deepconf`` online at budget 16, DeepConf-low (warm-up 4, eta 10: the paper's aggressive
  setting, the one that saves tokens; tau 0.95): its own run.
Reports accuracy with a 95% bootstrap CI, completion tokens, wall seconds, the paired difference
online - SC@16 with its 95% CI, and the AUROC of trace confidence (lowest group) for correct
against wrong traces: how well a 135M model's confidence tracks correctness.
Then, with --judges N, best-of-n@8 with the self-eval judge on the first N MAWPS problems, the
judge asking in a fresh prompt (``self-eval:fresh``, how judges worked before) against the judge
asking as the next turn of the sample's own chat (``self-eval``, its prefix already cached):
judge prompt tokens computed and wall seconds, same problems, same samples.
Per-problem records go to --out (JSONL); a rerun resumes. Prints one JSON object; --markdown
writes the table.

    python benchmarks/fewer_tokens.py [--mawps 100] [--gsm8k 30] [--out benchmarks/results/fewer_tokens.jsonl]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

import ponder
from ponder.answers import get_task
from ponder.bench.datasets import load_problems
from ponder.bench.graders import grade, task_for
from ponder.bench.report import bootstrap_ci, paired_difference
from ponder.bench.types import Problem
from ponder.core.confidence import default_window, group_confidences
from ponder.core.voting import vote
from ponder.engines.llama import LlamaEngine

ROOT = Path(__file__).resolve().parent.parent
SETS = {"mawps-singleop": 96, "gsm8k": 192}  # data set -> max_tokens


def auroc(scores: list[float], labels: list[bool]) -> float | None:
    """P(a correct trace outranks a wrong one), ties counted half; None without both kinds."""
    right = [s for s, ok in zip(scores, labels, strict=True) if ok]
    wrong = [s for s, ok in zip(scores, labels, strict=True) if not ok]
    if not right or not wrong:
        return None
    wins = sum((r > w) + 0.5 * (r == w) for r in right for w in wrong)
    return wins / (len(right) * len(wrong))


async def solve(engine: LlamaEngine, problem: Problem, max_tokens: int) -> dict[str, Any]:
    task = task_for(problem.grader)
    engine.reset_cache()
    started = time.perf_counter()
    offline = await ponder.asolve(
        problem.question,
        engine=engine,
        strategy="deepconf",
        budget=16,
        task=task,
        max_tokens=max_tokens,
        options={"mode": "offline"},
    )
    offline_seconds = time.perf_counter() - started
    engine.reset_cache()
    started = time.perf_counter()
    online = await ponder.asolve(
        problem.question,
        engine=engine,
        strategy="deepconf",
        budget=16,
        task=task,
        max_tokens=max_tokens,
        options={"eta": 10},
    )
    online_seconds = time.perf_counter() - started
    majority = vote(offline.candidates, get_task(task)).answer
    window = default_window(max_tokens)
    traces = [
        (min(group_confidences(c.confidences or (), window) or [0.0]), grade(problem, c.answer, c.text))
        for c in offline.candidates
        if c.answer is not None
    ]
    return {
        "id": problem.id,
        "sc16": {
            "correct": grade(problem, majority),
            "tokens": offline.usage.completion_tokens,
            "seconds": round(offline_seconds, 3),
        },
        "offline": {
            "correct": grade(problem, offline.answer),
            "tokens": offline.usage.completion_tokens,
            "seconds": round(offline_seconds, 3),
        },
        "online": {
            "correct": grade(problem, online.answer),
            "tokens": online.usage.completion_tokens,
            "seconds": round(online_seconds, 3),
            "traces": len(online.candidates),
            "stopped": sum(c.finish_reason == "cancelled" for c in online.candidates),
        },
        "traces": traces,
    }


async def judge(engine: LlamaEngine, problem: Problem) -> dict[str, Any]:
    """best-of-n@8 with the self-eval judge, fresh prompt against cache reuse (each from a cold cache)."""
    row: dict[str, Any] = {"id": problem.id}
    for scorer in ("self-eval:fresh", "self-eval"):
        engine.reset_cache()
        started = time.perf_counter()
        result = await ponder.asolve(
            problem.question,
            engine=engine,
            strategy="best-of-n",
            budget=8,
            max_tokens=SETS["mawps-singleop"],
            options={"scorer": scorer},
        )
        row[scorer] = {
            "seconds": round(time.perf_counter() - started, 3),
            "judge_prompt_tokens_computed": result.usage.scorer_prompt_tokens_computed,
            "judge_tokens": result.usage.scorer_tokens,
            "correct": grade(problem, result.answer),
        }
    return row


def summarize_judges(records: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"problems": len(records)}
    for scorer in ("self-eval:fresh", "self-eval"):
        out[scorer] = {
            name: round(sum(r[scorer][name] for r in records), 1)
            for name in ("seconds", "judge_prompt_tokens_computed", "judge_tokens")
        }
        out[scorer]["accuracy"] = round(float(np.mean([r[scorer]["correct"] for r in records])), 4)
    fresh, reused = out["self-eval:fresh"], out["self-eval"]
    out["computed_ratio"] = round(
        reused["judge_prompt_tokens_computed"] / max(fresh["judge_prompt_tokens_computed"], 1), 3
    )
    out["wall_ratio"] = round(reused["seconds"] / max(fresh["seconds"], 1e-9), 3)
    return out


def summarize(records: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"problems": len(records)}
    for name in ("sc16", "offline", "online"):
        correct = [float(r[name]["correct"]) for r in records]
        low, high = bootstrap_ci(correct, resamples=2000, seed=0)
        out[name] = {
            "accuracy": round(float(np.mean(correct)), 4),
            "ci95": [round(low, 4), round(high, 4)],
            "completion_tokens": sum(r[name]["tokens"] for r in records),
            "seconds": round(sum(r[name]["seconds"] for r in records), 1),
        }
    diff = paired_difference(
        {r["id"]: float(r["online"]["correct"]) for r in records},
        {r["id"]: float(r["sc16"]["correct"]) for r in records},
        resamples=2000,
        seed=0,
    )
    out["online_minus_sc16"] = {
        "estimate": round(diff.difference, 4),
        "ci95": [round(diff.low, 4), round(diff.high, 4)],
    }
    out["online_tokens_ratio"] = round(out["online"]["completion_tokens"] / max(out["sc16"]["completion_tokens"], 1), 3)
    out["online_stopped_traces"] = sum(r["online"]["stopped"] for r in records)
    out["online_traces"] = sum(r["online"]["traces"] for r in records)
    traces = [t for r in records for t in r["traces"]]
    score = auroc([s for s, _ in traces], [ok for _, ok in traces])
    out["confidence_auroc"] = None if score is None else round(score, 3)
    return out


def markdown(report: dict[str, Any]) -> str:
    lines = [
        "| data set | method | accuracy (95% CI) | completion tokens | wall s |",
        "| --- | --- | --- | --- | --- |",
    ]
    for dataset, summary in report["sets"].items():
        for name, label in (
            ("sc16", "self-consistency@16"),
            ("offline", "deepconf offline @16"),
            ("online", "deepconf online @16"),
        ):
            row = summary[name]
            lines.append(
                f"| {dataset} ({summary['problems']}) | {label} | {row['accuracy']:.1%} "
                f"({row['ci95'][0]:.1%}-{row['ci95'][1]:.1%}) | {row['completion_tokens']} | {row['seconds']} |"
            )
    lines.append("")
    judges = report.get("judges")
    if judges:
        lines += [
            "| best-of-n@8, self-eval judge | judge prompt tokens computed | judge tokens requested | wall s"
            " | accuracy |",
            "| --- | --- | --- | --- | --- |",
        ]
        for scorer, label in (
            ("self-eval:fresh", "fresh prompt (before)"),
            ("self-eval", "next turn of the sample's chat"),
        ):
            row = judges[scorer]
            lines.append(
                f"| {label} | {row['judge_prompt_tokens_computed']:.0f} | {row['judge_tokens']:.0f} | "
                f"{row['seconds']} | {row['accuracy']:.1%} |"
            )
        lines.append(
            f"\n{judges['problems']} MAWPS problems; computed ratio {judges['computed_ratio']}, "
            f"wall ratio {judges['wall_ratio']}.\n"
        )
    for dataset, summary in report["sets"].items():
        diff = summary["online_minus_sc16"]
        lines.append(
            f"- {dataset}: online/SC@16 tokens {summary['online_tokens_ratio']}; accuracy difference "
            f"{diff['estimate']:+.1%} (95% CI {diff['ci95'][0]:+.1%} to {diff['ci95'][1]:+.1%}); "
            f"{summary['online_stopped_traces']} of {summary['online_traces']} online traces stopped early; "
            f"AUROC of trace confidence for correct vs wrong traces: {summary['confidence_auroc']}"
        )
    return "\n".join(lines) + "\n"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mawps", type=int, default=100)
    parser.add_argument("--gsm8k", type=int, default=30)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "fewer_tokens.jsonl")
    parser.add_argument("--markdown", type=Path, default=None)
    parser.add_argument("--judges", type=int, default=0, help="best-of-n judge comparison on this many problems")
    args = parser.parse_args()
    done: dict[tuple[str, str], dict[str, Any]] = {}
    if args.out.exists():
        for line in args.out.read_text().splitlines():
            record = json.loads(line)
            done[(record["set"], str(record["id"]))] = record
    report: dict[str, Any] = {"model": "smollm2-135m", "sets": {}}
    with LlamaEngine(n_ctx=8192, n_seq_max=20) as engine, args.out.open("a") as sink:
        for dataset, limit in (("mawps-singleop", args.mawps), ("gsm8k", args.gsm8k)):
            if not limit:
                continue
            records = []
            for problem in load_problems(dataset, limit=limit):
                key = (dataset, str(problem.id))
                if key not in done:
                    done[key] = {"set": dataset, **await solve(engine, problem, SETS[dataset])}
                    sink.write(json.dumps(done[key]) + "\n")
                    sink.flush()
                records.append(done[key])
            report["sets"][dataset] = summarize(records)
        if args.judges:
            rows = []
            for problem in load_problems("mawps-singleop", limit=args.judges):
                key = ("judges", str(problem.id))
                if key not in done:
                    done[key] = {"set": "judges", **await judge(engine, problem)}
                    sink.write(json.dumps(done[key]) + "\n")
                    sink.flush()
                rows.append(done[key])
            report["judges"] = summarize_judges(rows)
    print(json.dumps(report, indent=2))
    if args.markdown:
        args.markdown.write_text(markdown(report))


if __name__ == "__main__":
    asyncio.run(main())
