"""Throughput of a local engine: one sequence against n samples forked from one prompt.

Prints one JSON object: tokens/s of one sequence; for n = 4, 8, 16 forked samples of one prompt,
aggregate tokens/s, its ratio to one sequence, and prompt tokens computed against requested.
Each point is the median of --repeats runs, each on an emptied cache (cold prompt).

    python benchmarks/engine_batching.py [--model NAME_OR_PATH] [--max-tokens 128] [--repeats 3]
    python benchmarks/engine_batching.py --engine vllm --model HF_MODEL   # on a GPU, with ponder[vllm]

``--engine llama`` (the default) is the embedded engine; ``--engine vllm`` the in-process vLLM
engine (its prefix cache emptied between runs; the samples share the prompt through it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

from ponder.engines.base import Engine, GenerationRequest
from ponder.engines.llama import LlamaEngine
from ponder.engines.registry import create_engine

PROMPT = "Write a long, detailed story about a lighthouse keeper who finds a map in a bottle."


async def empty_cache(engine: Engine) -> None:
    """The engine's prefix cache emptied, so that each run computes its prompt."""
    if isinstance(engine, LlamaEngine):
        engine.reset_cache()
    elif hasattr(engine, "reset_prefix_cache"):
        await engine.reset_prefix_cache()


async def measure(engine: Engine, n: int, max_tokens: int, repeats: int) -> dict[str, float | int]:
    runs = []
    for repeat in range(repeats):
        request = GenerationRequest.chat(PROMPT, n=n, max_tokens=max_tokens, temperature=0.8, seed=repeat)
        await empty_cache(engine)
        started = time.perf_counter()
        completions = (await engine.generate([request]))[0]
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


def create(args: argparse.Namespace, sizes: list[int]) -> Engine:
    if args.engine == "llama":
        return LlamaEngine(args.model, n_ctx=8192, n_seq_max=max(sizes) + 1)
    if not args.model:
        raise SystemExit("--engine vllm needs --model (a Hugging Face model id or folder)")
    return create_engine("vllm", model=args.model, max_model_len=4096)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    sizes = [int(s) for s in args.sizes.split(",")]
    engine = create(args, sizes)
    try:
        await measure(engine, 1, 16, 1)  # warm-up
        single = await measure(engine, 1, args.max_tokens, args.repeats)
        forked = []
        for n in sizes:
            point = await measure(engine, n, args.max_tokens, args.repeats)
            point["ratio_to_one_sequence"] = round(point["tokens_per_second"] / single["tokens_per_second"], 2)
            forked.append(point)
        return {
            "engine": engine.info.name,
            "model": engine.info.model,
            "threads": engine.info.details.get("n_threads"),
            "max_tokens": args.max_tokens,
            "repeats": args.repeats,
            "one_sequence": single,
            "forked": forked,
        }
    finally:
        await engine.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", choices=("llama", "vllm"), default="llama")
    parser.add_argument("--model", default=None)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sizes", default="4,8,16")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args)), indent=2))


if __name__ == "__main__":
    main()
