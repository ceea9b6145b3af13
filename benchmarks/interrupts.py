"""Interrupted and updated reasoning on the embedded model (issue #21 item 4).

After "Are Large Reasoning Models Interruptible?" (Wu et al. 2025): the first --problems problems
of the GSM8K update set (``gsm8k-updates``: GSM8K test problems whose update changes one number),
each solved once uninterrupted (greedy, one trace, the paper's protocol) and then interrupted at
--points of that trace's own length (0.2/0.4/0.6/0.8 by default): hard (answer now after an
answer cue), soft (conclude soon, under a quarter of the tokens left) and update (the row's
``update`` text sent as an update note; graded against ``update_answer``). Everything goes through
``ponder bench --interrupt`` (resumable, in --db) and the report's interrupt section: accuracy
against the point next to the uninterrupted accuracy, extra tokens, and the failure modes'
detectors (leakage, panic, self-doubt: :mod:`ponder.bench.report_interrupts`).

Writes OUT/interrupts.md (the table), OUT/interrupts.json (the figures, the run's settings, wall
time) and OUT/interrupts.png (accuracy against the point).

    python benchmarks/interrupts.py [--problems 50] [--max-tokens 256] [--workers 4]
        [--engine llama] [-E model=smollm2-135m] [--db benchmarks/results/interrupts.db]
        [--out benchmarks/results]

``--engine fake`` runs the whole pipeline on a scripted engine that knows the answers, in seconds
(a dry run for tests; its numbers mean nothing). For a reasoning model over HTTP: ``--engine openai -E
base_url=http://HOST:8000/v1 -E model=NAME --max-tokens 4096`` against a server that leaves the
thinking inline in the text (vLLM or SGLang without a reasoning parser), so that a hard interrupt
closes the open ``<think>`` section before its answer cue.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ponder.bench.api import abench
from ponder.bench.datasets import load_problems
from ponder.bench.report_interrupts import InterruptGroup, interrupt_groups, interrupts_markdown, write_interrupt_plot
from ponder.bench.store import BenchStore
from ponder.bench.types import Problem
from ponder.context.interrupts import SOFT_NOTE, answer_cue
from ponder.engines.base import Engine, GenerationRequest
from ponder.engines.fake import FakeEngine
from ponder.engines.registry import create_engine

ROOT = Path(__file__).resolve().parent.parent
POINTS = (0.2, 0.4, 0.6, 0.8)


def specs(points: list[float], update_field: str) -> list[str]:
    """``none`` first, then hard, soft and (with a field) update at every point."""
    made = ["none"] + [f"{mode}@{p:g}" for mode in ("hard", "soft") for p in points]
    return made + ([f"update@{p:g}:{update_field}" for p in points] if update_field else [])


def fake_engine(problems: list[Problem]) -> FakeEngine:
    """A scripted stand-in that knows the answers: 40 words of reasoning, then the gold answer;
    after an answer cue, the gold when it had reasoned 16 words or more (else 0); after the soft
    note, the gold; after an update note, the updated gold."""
    rows = {p.question: p for p in problems}

    def script(request: GenerationRequest, index: int) -> str:
        assert request.messages is not None
        asked, prefix = request.messages[-1].content, request.assistant_prefix
        problem = next((p for question, p in rows.items() if asked.startswith(question)), None)
        gold = problem.gold if problem else "0"
        if prefix.endswith(answer_cue("math")):
            return f" {gold}." if len(prefix.split()) - len(answer_cue("math").split()) >= 16 else " 0."
        if prefix.endswith(SOFT_NOTE):
            return f" so the answer is {gold}."
        if "[Update" in prefix and problem is not None:
            return f" with the update the answer is {problem.data.get('update_answer', gold)}."
        return " ".join(f"step{k}" for k in range(40)) + f" The answer is {gold}."

    return FakeEngine(script)


def make_engine(args: argparse.Namespace) -> Engine:
    if args.engine == "fake":
        return fake_engine(load_problems(args.dataset, limit=args.problems))
    return create_engine(args.engine, **dict(option.split("=", 1) for option in args.engine_option))


def load_groups(db: Path) -> list[InterruptGroup]:
    store = BenchStore(db, writable=False)
    try:
        loaded = [(config, list(store.results(config.id))) for config in store.configs()]
    finally:
        store.close()
    return interrupt_groups(loaded, [config.label for config, _ in loaded])


async def run(args: argparse.Namespace) -> dict[str, Any]:
    args.db.parent.mkdir(parents=True, exist_ok=True)
    engine = make_engine(args)
    started = time.perf_counter()
    try:
        totals = await abench(
            args.dataset,
            strategies=[args.strategy],
            budgets=[args.budget],
            interrupts=specs(args.points, args.update_field),
            limit=args.problems,
            max_tokens=args.max_tokens,
            db=args.db,
            engine=engine,
            workers=args.workers,
            progress=not args.quiet,
        )
    finally:
        await engine.aclose()
    seconds = time.perf_counter() - started
    groups = load_groups(args.db)
    args.out.mkdir(parents=True, exist_ok=True)
    write_interrupt_plot(args.out / "interrupts.png", groups)
    header = (
        f"# Interrupts: {args.dataset}, first {args.problems} problems, {args.strategy}@{args.budget}, "
        f"max_tokens {args.max_tokens}, engine {engine.info.name} ({engine.info.model})\n"
    )
    (args.out / "interrupts.md").write_text(header + interrupts_markdown(groups, "interrupts.png"), encoding="utf-8")
    summary = {
        "dataset": args.dataset,
        "problems": args.problems,
        "strategy": args.strategy,
        "budget": args.budget,
        "max_tokens": args.max_tokens,
        "engine": engine.info.name,
        "model": engine.info.model,
        "points": args.points,
        "seconds": round(seconds, 1),
        "configs": [{"label": t.label, "solved": t.solved, "correct": t.correct, "new": t.new} for t in totals],
        "groups": [asdict(group) for group in groups],
    }
    (args.out / "interrupts.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary


def parser() -> argparse.ArgumentParser:
    made = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    made.add_argument("--problems", type=int, default=50)
    made.add_argument("--dataset", default="gsm8k-updates")
    made.add_argument("--update-field", default="update", help="the update's field ('' for no update runs)")
    made.add_argument("--points", type=float, nargs="+", default=list(POINTS))
    made.add_argument("--strategy", default="greedy")
    made.add_argument("--budget", type=int, default=1)
    made.add_argument("--max-tokens", type=int, default=256)
    made.add_argument("--workers", type=int, default=4, help="problems solved at once")
    made.add_argument("--engine", default="llama", help="an engine name, or fake (a scripted dry run)")
    made.add_argument("-E", "--engine-option", action="append", default=[], metavar="KEY=VALUE")
    made.add_argument("--db", type=Path, default=ROOT / "benchmarks" / "results" / "interrupts.db")
    made.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    made.add_argument("--quiet", action="store_true")
    return made


def main() -> None:
    summary = asyncio.run(run(parser().parse_args()))
    print(json.dumps({k: summary[k] for k in ("dataset", "problems", "engine", "model", "seconds")}))


if __name__ == "__main__":
    main()
