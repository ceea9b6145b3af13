"""Concept memory across questions (ArcMemo) on the embedded model: MAWPS with and without memory
(issue #24 item 5).

The first --problems problems of a MAWPS set (``mawps-singleop`` by default) in a fixed order
shuffled with --order-seed are solved twice with the same strategy, budget, temperature and
seed (self-consistency@4 at T=0.3 by default, one problem at a time): once without memory, once
reading and writing a concept memory that starts empty (``ponder bench --memory``: each problem
reads the concepts that fit it before it is solved and, when the gold grader accepts its answer,
the model abstracts what it learned into concepts that later problems can read). Both arms go
through ``ponder.bench`` (resumable, in --db; the order is written to ``memory.sequence.jsonl``
beside it and recorded in the run's metadata).

Writes OUT/memory.md (the table and an honest note), OUT/memory.json (the figures, the per-problem
outcomes, the settings, wall time) and OUT/memory.png (running accuracy over the sequence for
both arms, and the memory's concept count).

    python benchmarks/memory.py [--problems 80] [--dataset mawps-singleop] [--budget 4]
        [--temperature 0.3] [--max-tokens 128] [--selection lexical] [--engine llama] [-E KEY=VALUE]
        [--db benchmarks/results/memory.bench.db] [--memory-file benchmarks/results/memory.concepts.db]
        [--out benchmarks/results]

Time on 2 CPU cores with the default 135M model (estimated from the earlier MAWPS runs, not
measured for this script): 2-4 s a problem and arm at these settings (four forked samples of up
to 128 tokens), plus an abstraction call (up to 384 tokens, ~2.5 s) per problem solved right in
the memory arm: 80 problems take about 6-12 minutes for both arms. ``--engine fake``
(``--dry-run``) runs everything on a scripted engine that knows the answers and answers more of
them when concepts are in its prompt, in seconds (a check of the pipeline; its numbers mean nothing).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import math
import random
import re
import time
from pathlib import Path
from typing import Any

from ponder.bench.api import abench
from ponder.bench.datasets import load_problems
from ponder.bench.store import BenchStore
from ponder.bench.types import BenchRow, Problem, StoredConfig
from ponder.engines.base import Engine, GenerationRequest
from ponder.engines.fake import FakeEngine
from ponder.engines.registry import create_engine
from ponder.memory import Memory
from ponder.memory.concepts import HEADER
from ponder.memory.prompts import ABSTRACT_SYSTEM

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"


def wilson(correct: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The 95% Wilson score interval of ``correct`` out of ``n``."""
    if n == 0:
        return 0.0, 0.0
    p = correct / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def sequence(dataset: str, problems: int, seed: int) -> list[Problem]:
    """The data set shuffled with ``seed`` (every problem, so a larger --problems extends the same
    order), its first ``problems``."""
    loaded = load_problems(dataset)
    random.Random(seed).shuffle(loaded)
    return loaded[:problems]


def write_sequence(path: Path, problems: list[Problem]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps({"id": p.id, "question": p.question, "answer": p.gold}) + "\n" for p in problems]
    path.write_text("".join(lines), encoding="utf-8")


def fake_engine(problems: list[Problem]) -> FakeEngine:
    """A scripted stand-in that knows the answers: right on a third of the problems without
    concepts in its prompt and on two thirds with them; its abstraction names the question's
    first long words, so the memory grows with the kinds of problems seen."""
    gold = {p.question: p.gold for p in problems}

    def script(request: GenerationRequest, index: int) -> str:
        assert request.messages is not None
        system, asked = request.messages[0].content, request.messages[-1].content
        if system == ABSTRACT_SYSTEM:
            question = asked.split("Problem:\n", 1)[-1].split("\n", 1)[0]
            words = [w for w in re.findall(r"[a-z]+", question.lower()) if len(w) > 5][:2] or ["items"]
            topic = " and ".join(words)
            reply = f"situation: a story about {topic} asks for a count\nsuggestion: apply the operation it describes"
            return reply.removeprefix(request.assistant_prefix)  # a primed reply continues the prefix
        bucket = int(hashlib.sha256(asked.encode()).hexdigest(), 16) % 3
        right = bucket == 0 or (HEADER in system and bucket == 1)
        return f"Reasoning. The answer is {gold.get(asked, '0') if right else '-1'}."

    return FakeEngine(script)


def make_engine(args: argparse.Namespace, problems: list[Problem]) -> Engine:
    if args.engine == "fake":
        return fake_engine(problems)
    return create_engine(args.engine, **dict(option.split("=", 1) for option in args.engine_option))


def arm_rows(db: Path, dataset: str, labels: dict[str, str]) -> dict[str, tuple[StoredConfig, dict[str, BenchRow]]]:
    """Each arm's configuration and rows by problem id (the latest configuration with its label)."""
    store = BenchStore(db, writable=False)
    try:
        found: dict[str, tuple[StoredConfig, dict[str, BenchRow]]] = {}
        for config in store.configs():
            for arm, label in labels.items():
                if config.dataset == dataset and config.label == label:
                    found[arm] = (config, {row.problem_id: row for row in store.results(config.id)})
        return found
    finally:
        store.close()


def memory_entries(row: BenchRow) -> tuple[dict[str, Any], dict[str, Any]]:
    """A memory row's ``memory.read`` and ``memory.write`` trace entries."""
    read = next((e for e in row.trace if e.get("action") == "memory.read"), {})
    write = next((e for e in reversed(row.trace) if e.get("action") == "memory.write"), {})
    return read, write


def spent(entry: dict[str, Any]) -> int:
    usage = entry.get("usage") or {}
    return int(usage.get("prompt_tokens", 0)) + int(usage.get("completion_tokens", 0))


def solving_prompt(row: BenchRow) -> int:
    """The prompt tokens a row's samples asked for, without those of memory's own calls."""
    read, write = memory_entries(row)
    usage = [entry.get("usage") or {} for entry in (read, write)]
    return row.prompt_tokens - sum(int(u.get("prompt_tokens", 0)) for u in usage)


def summarise(order: list[str], rows: dict[str, dict[str, BenchRow]]) -> dict[str, Any]:
    """The figures of both arms over the sequence (see the module docstring)."""
    arms: dict[str, Any] = {}
    for arm, by_id in rows.items():
        outcomes = [bool(by_id[p].correct) for p in order if p in by_id]
        correct = sum(outcomes)
        running = [sum(outcomes[: i + 1]) / (i + 1) for i in range(len(outcomes))]
        low, high = wilson(correct, len(outcomes))
        solved = [by_id[p] for p in order if p in by_id]
        arms[arm] = {
            "problems": len(outcomes),
            "correct": correct,
            "accuracy": correct / len(outcomes) if outcomes else 0.0,
            "wilson_95": [low, high],
            "running_accuracy": running,
            "outcomes": outcomes,
            "tokens_per_problem": sum(r.tokens for r in solved) / len(solved) if solved else 0.0,
            "prompt_tokens_per_problem": sum(solving_prompt(r) for r in solved) / len(solved) if solved else 0.0,
            "completion_tokens_per_problem": sum(r.completion_tokens for r in solved) / len(solved) if solved else 0.0,
        }
    memory = rows.get("memory", {})
    reads = [memory_entries(memory[p]) for p in order if p in memory]
    concepts, growth = 0, []
    for _, write in reads:
        concepts += len(write.get("added") or [])
        growth.append(concepts)
    given = [len(read.get("ids") or []) for read, _ in reads]
    arms.setdefault("memory", {}).update(
        {
            "read_tokens": sum(spent(read) for read, _ in reads),
            "write_tokens": sum(spent(write) for _, write in reads),
            "writes": sum(1 for _, write in reads if write.get("decision") == "write"),
            "concepts_added": concepts,
            "concept_growth": growth,
            "problems_given_concepts": sum(1 for n in given if n),
            "concepts_per_problem": sum(given) / len(given) if given else 0.0,
            "concept_block_tokens_per_problem": sum(int(r.get("tokens") or 0) for r, _ in reads) / len(reads)
            if reads
            else 0.0,
        }
    )
    both = [p for p in order if p in rows.get("memory", {}) and p in rows.get("baseline", {})]
    only_memory = sum(1 for p in both if rows["memory"][p].correct and not rows["baseline"][p].correct)
    only_baseline = sum(1 for p in both if rows["baseline"][p].correct and not rows["memory"][p].correct)
    return {"arms": arms, "paired": {"problems": len(both), "only_memory": only_memory, "only_baseline": only_baseline}}


def write_plot(path: Path, figures: dict[str, Any]) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8, 6.5))
    FigureCanvasAgg(figure)
    accuracy, growth = figure.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [2, 1]})
    for arm, colour in (("baseline", "C0"), ("memory", "C1")):
        running = figures["arms"].get(arm, {}).get("running_accuracy") or []
        label = "without memory" if arm == "baseline" else "with memory"
        accuracy.plot(range(1, len(running) + 1), running, color=colour, label=label)
    accuracy.set_ylabel("running accuracy")
    accuracy.legend(loc="best")
    accuracy.grid(alpha=0.3)
    counts = figures["arms"]["memory"].get("concept_growth") or []
    growth.step(range(1, len(counts) + 1), counts, where="post", color="C1")
    growth.set_ylabel("concepts in memory")
    growth.set_xlabel("problems solved, in order")
    growth.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def note(figures: dict[str, Any], primed: bool) -> str:
    """The honest reading of the figures, in words."""
    base, memory, paired = figures["arms"]["baseline"], figures["arms"]["memory"], figures["paired"]
    difference = memory["accuracy"] - base["accuracy"]
    overlap = memory["wilson_95"][0] <= base["wilson_95"][1] and base["wilson_95"][0] <= memory["wilson_95"][1]
    lines = [
        f"With memory the accuracy is {difference * 100:+.1f} points against without "
        f"({memory['correct']}/{memory['problems']} against {base['correct']}/{base['problems']}); "
        f"{paired['only_memory']} problems were solved only with memory and {paired['only_baseline']} only without. "
        + (
            "The 95% intervals overlap: on this many problems the difference is within noise."
            if overlap
            else "The 95% intervals do not overlap."
        ),
        f"Memory wrote after {memory['writes']} problems (only gold-graded right ones write) and holds "
        f"{memory['concepts_added']} concept(s) at the end; {memory['problems_given_concepts']} of "
        f"{memory['problems']} problems were given at least one concept "
        f"({memory['concepts_per_problem']:.1f} a problem on average, "
        f"{memory['concept_block_tokens_per_problem']:.0f} tokens of system prompt).",
        f"Memory's own calls cost {memory['read_tokens']} tokens reading (0 with lexical selection) and "
        f"{memory['write_tokens']} writing (the abstraction calls); the concepts also lengthen every sample's "
        f"prompt: the samples asked for {memory['prompt_tokens_per_problem']:.0f} prompt tokens a problem "
        f"against {base['prompt_tokens_per_problem']:.0f} without memory.",
        (
            "The abstraction's reply was primed with 'situation:' (Memory(prime=True)): without it the 135M "
            "model answered the problem again instead of writing concepts (9 of 9 writes gave none)."
            if primed
            else "The abstraction's reply was not primed (--no-prime)."
        ),
        "Limits: one order, one seed, one model. A 135M model solves few of these problems, so the memory "
        "grows slowly and its abstractions are often shallow; ArcMemo's gains come from a strong model "
        "abstracting verified solutions. Results depend on the order (memory is written as the sequence goes).",
    ]
    return "\n\n".join(lines)


def markdown(args: argparse.Namespace, figures: dict[str, Any], engine: Engine, seconds: float) -> str:
    arms = figures["arms"]
    rows = []
    for arm, name in (("baseline", "without memory"), ("memory", "with memory")):
        a = arms[arm]
        low, high = a["wilson_95"]
        memory_cost = f"{a['read_tokens']} / {a['write_tokens']}" if arm == "memory" else "-"
        rows.append(
            f"| {name} | {a['correct']}/{a['problems']} | {a['accuracy']:.1%} [{low:.1%}, {high:.1%}] | "
            f"{a['tokens_per_problem']:.0f} | {memory_cost} |"
        )
    return (
        f"# Concept memory (ArcMemo): {args.dataset}, {args.problems} problems in a fixed order "
        f"(shuffled with seed {args.order_seed}), {args.strategy}@{args.budget} T={args.temperature:g}, "
        f"max_tokens {args.max_tokens}, seed {args.seed}, selection {args.selection}, engine "
        f"{engine.info.name} ({engine.info.model}), {seconds / 60:.1f} min\n\n"
        "| arm | correct | accuracy [95% Wilson] | tokens / problem | memory tokens read / written |\n"
        "| --- | --- | --- | --- | --- |\n"
        + "\n".join(rows)
        + "\n\n![running accuracy and concept count](memory.png)\n\n"
        + note(figures, args.prime)
        + "\n"
    )


async def run(args: argparse.Namespace) -> dict[str, Any]:
    if args.dry_run:
        args.engine = "fake"
    problems = sequence(args.dataset, args.problems, args.order_seed)
    data = args.db.parent / "memory.sequence.jsonl"
    write_sequence(data, problems)
    fields = {"question_field": "question", "answer_field": "answer", "id_field": "id", "grader": "math"}
    common: dict[str, Any] = {
        "strategies": [args.strategy],
        "budgets": [args.budget],
        "seeds": [args.seed],
        "temperatures": [args.temperature],
        "max_tokens": args.max_tokens,
        "db": args.db,
        "fields": fields,
        "progress": not args.quiet,
    }
    engine = make_engine(args, problems)
    started = time.perf_counter()
    try:
        [baseline] = await abench(str(data), engine=engine, **common)
        [remembered] = await abench(
            str(data),
            engine=engine,
            memory=Memory(args.memory_file, selection=args.selection, prime=args.prime),
            **common,
        )
    finally:
        await engine.aclose()
    seconds = time.perf_counter() - started
    found = arm_rows(args.db, str(data), {"baseline": baseline.label, "memory": remembered.label})
    figures = summarise([p.id for p in problems], {arm: rows for arm, (_, rows) in found.items()})
    args.out.mkdir(parents=True, exist_ok=True)
    write_plot(args.out / "memory.png", figures)
    (args.out / "memory.md").write_text(markdown(args, figures, engine, seconds), encoding="utf-8")
    summary = {
        "dataset": args.dataset,
        "problems": args.problems,
        "order_seed": args.order_seed,
        "order": [p.id for p in problems],
        "strategy": args.strategy,
        "budget": args.budget,
        "temperature": args.temperature,
        "max_tokens": args.max_tokens,
        "seed": args.seed,
        "selection": args.selection,
        "engine": engine.info.name,
        "model": engine.info.model,
        "seconds": round(seconds, 1),
        "configs": {arm: config.label for arm, (config, _) in found.items()},
        **figures,
    }
    (args.out / "memory.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary


def parser() -> argparse.ArgumentParser:
    made = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    made.add_argument("--problems", type=int, default=80)
    made.add_argument("--dataset", default="mawps-singleop", help="mawps-singleop or mawps-multiarith")
    made.add_argument("--order-seed", type=int, default=0, help="seed of the shuffle that fixes the order")
    made.add_argument("--strategy", default="self-consistency")
    made.add_argument("--budget", type=int, default=4)
    made.add_argument("--temperature", type=float, default=0.3)
    made.add_argument("--max-tokens", type=int, default=128)
    made.add_argument("--seed", type=int, default=0)
    made.add_argument("--selection", choices=("lexical", "model"), default="lexical")
    made.add_argument(
        "--no-prime",
        dest="prime",
        action="store_false",
        help="do not start the abstraction's reply with 'situation:' (the 135M model writes no concept without it)",
    )
    made.add_argument("--engine", default="llama", help="an engine name, or fake (a scripted dry run)")
    made.add_argument("--dry-run", action="store_true", help="the same as --engine fake")
    made.add_argument("-E", "--engine-option", action="append", default=[], metavar="KEY=VALUE")
    made.add_argument("--db", type=Path, default=RESULTS / "memory.bench.db")
    made.add_argument("--memory-file", type=Path, default=RESULTS / "memory.concepts.db")
    made.add_argument("--out", type=Path, default=RESULTS)
    made.add_argument("--quiet", action="store_true")
    return made


def main() -> None:
    summary = asyncio.run(run(parser().parse_args()))
    print(json.dumps({k: summary[k] for k in ("dataset", "problems", "engine", "model", "seconds")}))


if __name__ == "__main__":
    main()
