"""pass@k on HumanEval with the embedded model and the sandboxed unit-test verifier.

For each problem, n samples of a completion are drawn in one forked batch and each is run
against the problem's tests in the sandbox; pass@k for k <= n uses the unbiased estimator of
Chen et al. 2021, 1 - C(n - c, k) / C(n, k), with c the number of passing samples. Prints one
JSON object (per-k pass rates, samples, tokens, seconds) and writes per-problem records.

    python benchmarks/humaneval_passk.py [--limit 164] [--n 4] [--max-tokens 256]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from math import comb
from pathlib import Path

import ponder
from ponder.bench.catalog import builtin_file
from ponder.core.jsonl import read_jsonl
from ponder.engines.llama import LlamaEngine
from ponder.verifiers import UnitTestVerifier

ROOT = Path(__file__).resolve().parent.parent
SYSTEM = "Complete the Python function. Reply with the whole function in one ```python code block."


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from n samples with c correct."""
    return 1.0 if n - c < k else 1.0 - comb(n - c, k) / comb(n, k)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=164)
    parser.add_argument("--n", type=int, default=4)
    parser.add_argument("--max-tokens", type=int, default=256)
    parser.add_argument("--temperature", type=float, default=0.8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "humaneval_passk.jsonl")
    args = parser.parse_args()
    problems = [row for _, row in read_jsonl(builtin_file("humaneval"))][: args.limit]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    records, started = [], time.perf_counter()
    with LlamaEngine(n_ctx=8192, n_seq_max=args.n + 1) as engine, args.out.open("w") as sink:
        for problem in problems:
            verifier = UnitTestVerifier.from_problem(problem)
            result = await ponder.asolve(
                problem["prompt"],
                engine=engine,
                strategy="best-of-n",
                budget=args.n,
                task="code",
                options={"scorer": "unit-tests"},
                scorers={"unit-tests": verifier},
                system_prompt=SYSTEM,
                max_tokens=args.max_tokens,
                temperature=args.temperature,
                seed=args.seed,
            )
            passed = sum(c.score == 1.0 for c in result.candidates)
            record = {
                "task_id": problem["task_id"],
                "n": len(result.candidates),
                "passed": passed,
                "tokens": result.usage.completion_tokens,
                "seconds": round(result.usage.wall_seconds, 2),
            }
            records.append(record)
            sink.write(json.dumps(record) + "\n")
    summary = {
        "problems": len(records),
        "samples_per_problem": args.n,
        "temperature": args.temperature,
        "max_tokens": args.max_tokens,
        "pass_at": {
            k: round(sum(pass_at_k(r["n"], r["passed"], k) for r in records) / len(records), 4)
            for k in range(1, args.n + 1)
        },
        "tokens": sum(r["tokens"] for r in records),
        "seconds": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
