"""``ponder``: solve questions with inference-time strategies.

ponder solve "QUESTION" [--strategy NAME | --pipeline FILE] [--budget N] [--engine NAME] [--model PATH_OR_NAME]
             [-E ENGINE_OPTION=VALUE ...]
             [--temperature T] [--max-tokens N] [--seed S] [-o KEY=VALUE ...] [--json] [--quiet] [--html FILE]
             [--memory FILE [--memory-write never|confident] [--memory-select lexical|model]]
ponder strategies
ponder engines
ponder datasets [--json]
ponder route DATASET --out router.json [--limit N] [--trajectories all|T,...]
ponder view DB [--config ID_OR_LABEL] [--problem ID] [--out FILE]
ponder tune DATASET [--space FILE] [--trials N] [--pareto] [--max-tokens-per-problem N] [--out DIR] [--db FILE]
"""

from __future__ import annotations

import contextlib
import json
import sys

import click
from rich.console import Console

from ponder import __version__
from ponder.cli.bench import bench, report
from ponder.cli.datasets import datasets
from ponder.cli.engine_options import engine_options, parse_options
from ponder.cli.engines import engines
from ponder.cli.failure import fail
from ponder.cli.interrupt import open_memory, solve_interruptibly
from ponder.cli.live import LiveView, wants_live
from ponder.cli.render import format_result
from ponder.cli.route import route
from ponder.cli.serve import serve
from ponder.cli.tune import tune
from ponder.cli.view import view
from ponder.core.errors import PonderError
from ponder.core.params import describe
from ponder.engines.named import EngineSpec
from ponder.registry import available
from ponder.view import write_result_page


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ponder")
def cli() -> None:
    """Better answers from language models by spending compute at inference time."""


@cli.command()
@click.argument("question")
@click.option(
    "--strategy", "-s", default="self-consistency", show_default=True, help="strategy name (see `ponder strategies`)"
)
@click.option(
    "--pipeline",
    "-p",
    "pipeline",
    type=click.Path(dir_okay=False),
    default=None,
    help="run the pipeline in this YAML or JSON config instead of a strategy",
)
@click.option(
    "--budget",
    "-n",
    type=int,
    default=None,
    help="generations the strategy may spend  [default: 8, or all a pipeline can spend]",
)
@engine_options
@click.option("--temperature", "-t", type=float, default=None, help="sampling temperature [default: the strategy's]")
@click.option("--max-tokens", type=int, default=512, show_default=True, help="tokens per generation")
@click.option("--seed", type=int, default=0, show_default=True, help="seed; the same seed gives the same output")
@click.option("--option", "-o", "options", multiple=True, metavar="KEY=VALUE", help="a strategy parameter (repeatable)")
@click.option("--task", default="math", show_default=True, help="answer format: math, choice, label")
@click.option("--token-budget", type=int, default=None, help="stop after this many generated tokens")
@click.option("--time-budget", type=float, default=None, help="stop after this many seconds, keeping the best answer")
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
@click.option("--quiet", "-q", is_flag=True, help="no live view of the samples (it shows only on a terminal)")
@click.option(
    "--html",
    type=click.Path(dir_okay=False),
    default=None,
    metavar="FILE",
    help="also write the run (samples, votes, tree, usage) as an HTML page",
)
@click.option(
    "--memory",
    type=click.Path(dir_okay=False),
    default=None,
    metavar="FILE",
    help="a concept memory file (created when missing): the concepts that fit the question go into the "
    "system prompt (ArcMemo)",
)
@click.option(
    "--memory-write",
    type=click.Choice(["never", "confident"]),
    default=None,
    help="with --memory: never add concepts (default), or add what a run teaches when its winning "
    "answer has >= 0.8 of the vote (nothing on the command line verifies an answer)",
)
@click.option(
    "--memory-select",
    type=click.Choice(["lexical", "model"]),
    default=None,
    help="with --memory: choose concepts by word overlap (default, no model call) or ask the model (one call)",
)
def solve(
    question: str,
    strategy: str,
    pipeline: str | None,
    budget: int | None,
    engine: EngineSpec,
    temperature: float | None,
    max_tokens: int,
    seed: int,
    options: tuple[str, ...],
    task: str,
    token_budget: int | None,
    time_budget: float | None,
    as_json: bool,
    quiet: bool,
    html: str | None,
    memory: str | None,
    memory_write: str | None,
    memory_select: str | None,
) -> None:
    """Answer QUESTION, spending up to BUDGET generations. Ctrl-C once: answer now from the partial
    reasoning; twice: abort. On a terminal a live view shows the samples growing and the vote
    (--quiet: not)."""
    view = LiveView(Console(file=sys.stdout)) if wants_live(quiet=quiet, as_json=as_json, stream=sys.stdout) else None
    try:
        with open_memory(memory, memory_write, memory_select) as remembering, view or contextlib.nullcontext():
            result = solve_interruptibly(
                question,
                strategy=strategy,
                options=parse_options(options),
                budget=budget,
                engine=engine.name,
                engine_options=engine.options,
                temperature=temperature,
                max_tokens=max_tokens,
                seed=seed,
                task=task,
                token_budget=token_budget,
                time_budget=time_budget,
                pipeline=pipeline,
                on_start=view.attach if view is not None else None,
                memory=remembering,
            )
    except PonderError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        fail("interrupted")
    click.echo(json.dumps(result.to_dict(), ensure_ascii=False) if as_json else format_result(result))
    if html is not None:
        try:
            write_result_page(result, html)
        except PonderError as exc:
            fail(str(exc))


@cli.command()
def strategies() -> None:
    """List the strategies with their parameters and defaults (set them with -o KEY=VALUE)."""
    for name, cls in sorted(available().items()):
        click.echo(f"{name}: {getattr(cls, 'summary', '')}")
        for key, kind, default, help_text in describe(cls.Params):
            click.echo(f"    {f'{key}={_short(default)}':<24} {kind:<28} {help_text}")


def _short(value: object, width: int = 32) -> str:
    """A default on one line, cut to ``width`` characters (prompt templates are long)."""
    if isinstance(value, str) and value and not value.strip():
        return repr(value)  # a whitespace default (a step delimiter) shows as '\n\n'
    text = " ".join(str(value).split()) if isinstance(value, str) else str(value)
    return text if len(text) <= width else text[: width - 3] + "..."


cli.add_command(engines)
cli.add_command(serve)
cli.add_command(bench)
cli.add_command(report)
cli.add_command(route)
cli.add_command(view)
cli.add_command(datasets)
cli.add_command(tune)


if __name__ == "__main__":  # pragma: no cover
    cli()
