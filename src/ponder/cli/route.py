"""``ponder route``: search which reasoning trajectory works best per question type, and save a router."""

from __future__ import annotations

import asyncio

import click

from ponder.bench.route_search import aroute
from ponder.cli.engine_options import engine_options
from ponder.cli.failure import fail
from ponder.core.errors import PonderError
from ponder.engines.named import EngineSpec


@click.command()
@click.argument("dataset")
@click.option("--out", required=True, help="the router file to write (JSON), for -s routed -o router=FILE")
@click.option("--limit", type=int, default=None, help="first N problems of the dev set")
@click.option(
    "--trajectories",
    default="all",
    show_default=True,
    help="'all' or comma-separated trajectories, e.g. cot,plan+cot,rewrite+pot+verify",
)
@click.option(
    "--types",
    default="heuristic",
    show_default=True,
    help="question types: heuristic (from the text), dataset, or field:NAME (a row field)",
)
@click.option("--samples", type=int, default=1, show_default=True, help="solution samples per trajectory run")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--temperature", "-t", type=float, default=None, help="sampling temperature [default: the strategy's]")
@click.option("--max-tokens", type=int, default=512, show_default=True, help="tokens per generation")
@click.option("--question-field", default=None, help="custom JSONL: the question's field")
@click.option("--answer-field", default=None, help="custom JSONL: the gold answer's field")
@click.option("--id-field", default=None, help="custom JSONL: the problem id's field")
@click.option("--grader", default=None, help="custom JSONL: math, choice, label or humaneval")
@engine_options
@click.option("--quiet", is_flag=True, help="no progress bar")
def route(
    dataset: str,
    out: str,
    limit: int | None,
    trajectories: str,
    types: str,
    samples: int,
    seed: int,
    temperature: float | None,
    max_tokens: int,
    question_field: str | None,
    answer_field: str | None,
    id_field: str | None,
    grader: str | None,
    engine: EngineSpec,
    quiet: bool,
) -> None:
    """Run every trajectory on DATASET (a built-in name, a JSONL path or hf:NAME), keep the best per
    question type (ties: fewer tokens), and write the router with its evidence to OUT."""
    try:
        fields = {
            k: v
            for k, v in {
                "question_field": question_field,
                "answer_field": answer_field,
                "id_field": id_field,
                "grader": grader,
            }.items()
            if v is not None
        }
        router = asyncio.run(
            aroute(
                dataset,
                out=out,
                limit=limit,
                trajectories=trajectories,
                types=types,
                seed=seed,
                max_tokens=max_tokens,
                samples=samples,
                temperature=temperature,
                engine=engine.name,
                engine_options=engine.options,
                fields=fields,
                progress=not quiet,
            )
        )
    except PonderError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        fail("interrupted; no router was written")
    for kind, name in router.routes.items():
        stats = router.evidence[kind][name]
        click.echo(
            f"{kind:20s} -> {name:22s} {stats['accuracy']:6.1%} of {stats['n']:<4d} "
            f"{stats['completion_tokens']:8.1f} tokens/question"
        )
    stats = router.overall[router.fallback]
    click.echo(
        f"{'(fallback)':20s} -> {router.fallback:22s} {stats['accuracy']:6.1%} of {stats['n']:<4d} "
        f"{stats['completion_tokens']:8.1f} tokens/question"
    )
    click.echo(f"wrote {out}; use it with `ponder solve QUESTION -s routed -o router={out}`")
