"""``ponder bench`` and ``ponder report``."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import click

from ponder.bench.api import DeterminismWarning
from ponder.bench.api import bench as run_bench
from ponder.bench.distributed import DEFAULT_CHUNK
from ponder.bench.report import INTERRUPTS_PNG, write_report
from ponder.cli.engine_options import engine_options, parse_options
from ponder.cli.failure import fail
from ponder.core.errors import InvalidInputError, PonderError
from ponder.engines.named import EngineSpec


def _list(kind: type, text: str, name: str) -> list[Any]:
    try:
        return [kind(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise InvalidInputError(f"--{name} takes a comma-separated list of {kind.__name__}s, got {text!r}") from None


def _warn(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: Any = None,
    line: str | None = None,
) -> None:
    click.echo(f"warning: {message}", err=True)


@click.command()
@click.argument("dataset")
@click.option(
    "--strategy",
    "-s",
    default=None,
    help="comma-separated strategies  [default: self-consistency, none with --pipeline]",
)
@click.option(
    "--pipeline",
    "-p",
    "pipelines",
    multiple=True,
    type=click.Path(dir_okay=False),
    metavar="FILE",
    help="a pipeline config (YAML or JSON) to run beside the strategies, at the budget it can spend (repeatable)",
)
@click.option("--budget", "-n", default="1", show_default=True, help="comma-separated budgets, e.g. 1,2,4,8")
@click.option("--seed", default="0", show_default=True, help="comma-separated seeds")
@click.option("--temperature", "-t", default=None, help="comma-separated temperatures [default: each strategy's]")
@click.option("--option", "-o", "options", multiple=True, metavar="KEY=VALUE", help="a strategy parameter (repeatable)")
@click.option("--limit", type=int, default=None, help="first N problems")
@click.option("--max-tokens", type=int, default=512, show_default=True)
@click.option("--db", default="ponder-bench.db", show_default=True, help="the SQLite store (created or resumed)")
@click.option("--question-field", default=None, help="custom JSONL: the question's field")
@click.option("--answer-field", default=None, help="custom JSONL: the gold answer's field")
@click.option("--id-field", default=None, help="custom JSONL: the problem id's field")
@click.option("--grader", default=None, help="custom JSONL: math, choice, label or humaneval")
@engine_options
@click.option(
    "--workers",
    "-w",
    type=int,
    default=1,
    show_default=True,
    help="problems solved at once on the one engine (each result is stored as it finishes; the "
    "stored rows are the same for any N)",
)
@click.option(
    "--deterministic",
    is_flag=True,
    help="reproduce the run bit for bit: the embedded engine runs in its deterministic mode, which "
    "serves one solve at a time (so --workers > 1 is allowed but gains little); an engine without "
    "such a mode (a server) must be set up for it itself. Recorded in the run's metadata",
)
@click.option(
    "--interrupt",
    "interrupt",
    default="none",
    show_default=True,
    help="comma-separated interrupts to run each configuration under: none, hard@P, soft@P, "
    "update@P:FIELD[:GOLD_FIELD] (P: a fraction of the uninterrupted run's length when stored, else of "
    "--max-tokens; none runs first), e.g. none,hard@0.2,soft@0.5,update@0.5:update",
)
@click.option(
    "--ray",
    "ray",
    default=None,
    metavar="ADDRESS",
    help="solve the problems on a Ray cluster: auto (the running one), local (a new one here) or "
    "ray://HOST:PORT; each task creates the engine on its worker (--base-url A,B,... spreads the tasks over "
    "several servers), this process alone writes --db. Needs pip install 'ponder[ray]'",
)
@click.option(
    "--ray-chunk",
    type=int,
    default=DEFAULT_CHUNK,
    show_default=True,
    help="with --ray: problems of one configuration per Ray task (a lost worker repeats at most these)",
)
@click.option(
    "--memory",
    default=None,
    type=click.Path(dir_okay=False),
    metavar="FILE",
    help="a concept memory file (created when missing) that the problems read before they are solved and "
    "write to once graded right, one at a time in the data set's order; one configuration only, --workers 1",
)
@click.option(
    "--memory-select",
    type=click.Choice(["lexical", "model"]),
    default=None,
    help="with --memory: choose concepts by word overlap (default, no model call) or ask the model",
)
@click.option("--quiet", is_flag=True, help="no progress bar")
def bench(
    dataset: str,
    strategy: str | None,
    pipelines: tuple[str, ...],
    budget: str,
    seed: str,
    temperature: str | None,
    options: tuple[str, ...],
    limit: int | None,
    max_tokens: int,
    db: str,
    question_field: str | None,
    answer_field: str | None,
    id_field: str | None,
    grader: str | None,
    engine: EngineSpec,
    workers: int,
    deterministic: bool,
    interrupt: str,
    ray: str | None,
    ray_chunk: int,
    memory: str | None,
    memory_select: str | None,
    quiet: bool,
) -> None:
    """Benchmark strategies x budgets x seeds (and pipelines x seeds) on DATASET (a built-in name, a JSONL
    path or hf:NAME)."""
    try:
        if workers < 1:
            raise InvalidInputError(f"--workers must be >= 1 (problems solved at once), got {workers}")
        if memory_select is not None and memory is None:
            raise InvalidInputError("--memory-select applies with --memory FILE")
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
        with warnings.catch_warnings():
            warnings.simplefilter("always", DeterminismWarning)
            warnings.showwarning = _warn  # one line on stderr, while the run goes on
            summaries = run_bench(
                dataset,
                strategies=_list(str, strategy, "strategy")
                if strategy is not None
                else ([] if pipelines else ["self-consistency"]),
                pipelines=list(pipelines),
                budgets=_list(int, budget, "budget"),
                seeds=_list(int, seed, "seed"),
                temperatures=_list(float, temperature, "temperature") if temperature else [None],
                options=parse_options(options),
                limit=limit,
                max_tokens=max_tokens,
                db=db,
                engine=engine.name,
                engine_options=engine.options,
                fields=fields,
                progress=not quiet,
                workers=workers,
                deterministic=deterministic,
                interrupts=_list(str, interrupt, "interrupt") or ["none"],
                ray=ray,
                ray_chunk=ray_chunk,
                memory=memory,
                memory_selection=memory_select or "lexical",
            )
    except PonderError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        fail(f"interrupted; rerun the same command to resume from {db}")
    for totals in summaries:
        click.echo(f"{totals.label:48s} {totals.accuracy:6.1%}  ({totals.correct}/{totals.solved}, {totals.new} new)")
    click.echo(f"stored in {db}; `ponder report --db {db} --out DIR` draws the report")


@click.command()
@click.option("--db", default="ponder-bench.db", show_default=True, help="the SQLite store")
@click.option(
    "--out", default="ponder-report", show_default=True, help="directory for report.md, the PNG and report.html"
)
@click.option("--baseline", default=None, help="a configuration label to compare every other against")
def report(db: str, out: str, baseline: str | None) -> None:
    """Write a Markdown table, an accuracy-vs-tokens picture with its Pareto frontier, and an HTML report."""
    try:
        if not Path(db).is_file():
            raise InvalidInputError(f"no benchmark database at {db}")
        files = write_report(db, out, baseline=baseline)
    except PonderError as exc:
        fail(str(exc))
    click.echo(f"wrote {files.markdown}, {files.png} and {files.html}")
    interrupts = files.markdown.parent / INTERRUPTS_PNG
    if interrupts.is_file():
        click.echo(f"and {interrupts} (accuracy against the interrupt point)")
