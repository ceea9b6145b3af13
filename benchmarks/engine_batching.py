"""Throughput of the embedded engine: one sequence against n samples forked from one prompt.

Prints one JSON object: tokens/s of one sequence; for n = 4, 8, 16 forked samples of one prompt,
aggregate tokens/s, its ratio to one sequence, and prompt tokens computed against requested.
Each point is the median of --repeats runs, each on an emptied cache (cold prompt).

    python benchmarks/engine_batching.py [--model NAME_OR_PATH] [--max-tokens 128] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import time

from ponder.engines.base import GenerationRequest
from ponder.engines.llama import LlamaEngine

PROMPT = "Write a long, detailed story about a lighthouse keeper who finds a map in a bottle."


def measure(engine: LlamaEngine, n: int, max_tokens: int, repeats: int) -> dict[str, float | int]:
    runs = []
    for repeat in range(repeats):
        request = GenerationRequest.chat(PROMPT, n=n, max_tokens=max_tokens, temperature=0.8, seed=repeat)
        engine.reset_cache()
        started = time.perf_counter()
        completions = engine.generate_sync([request])[0]
        seconds = time.perf_counter() - started
        tokens = sum(c.completion_tokens for c in completions)
        runs.append((tokens / seconds, tokens, seconds, completions))
    rate, tokens, seconds, completions = sorted(runs, key=lambda r: r[0])[len(runs) // 2]
    return {
        "n": n,
        "tokens_per_second": round(rate, 1),
        "completion_tokens": tokens,
        "seconds": round(seconds, 3),
        "prompt_tokens_requested": sum(c.usage.prompt_tokens for c in completions),
        "prompt_tokens_computed": sum(c.usage.prompt_tokens_computed for c in completions),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sizes", default="4,8,16")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    with LlamaEngine(args.model, n_ctx=8192, n_seq_max=max(sizes) + 1) as engine:
        measure(engine, 1, 16, 1)  # warm-up
        single = measure(engine, 1, args.max_tokens, args.repeats)
        forked = []
        for n in sizes:
            point = measure(engine, n, args.max_tokens, args.repeats)
            point["ratio_to_one_sequence"] = round(point["tokens_per_second"] / single["tokens_per_second"], 2)
            forked.append(point)
        print(
            json.dumps(
                {
                    "model": engine.info.model,
                    "threads": engine.info.details["n_threads"],
                    "max_tokens": args.max_tokens,
                    "repeats": args.repeats,
                    "one_sequence": single,
                    "forked": forked,
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
