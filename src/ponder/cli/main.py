"""``ponder``: solve questions with inference-time strategies.

    ponder solve "QUESTION" [--strategy NAME] [--budget N] [--engine NAME] [--model PATH_OR_NAME]
                 [--temperature T] [--max-tokens N] [--seed S] [--json]
"""

from __future__ import annotations

import json
import sys

import click

from ponder import __version__
from ponder.api import solve as solve_question
from ponder.cli.render import format_result
from ponder.engines.registry import DEFAULT_ENGINE
from ponder.errors import PonderError
from ponder.strategies import available


def fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ponder")
def cli() -> None:
    """Better answers from language models by spending compute at inference time."""


@cli.command()
@click.argument("question")
@click.option("--strategy", "-s", default="self-consistency", show_default=True, help="strategy name (see `ponder strategies`)")
@click.option("--budget", "-n", type=int, default=8, show_default=True, help="generations the strategy may spend")
@click.option("--engine", "-e", default=DEFAULT_ENGINE, show_default=True, help="backend: llama (embedded)")
@click.option("--model", "-m", default=None, help="GGUF path, hf:OWNER/REPO/FILE.gguf or a built-in name [default: smollm2-135m]")
@click.option("--temperature", "-t", type=float, default=None, help="sampling temperature [default: the strategy's]")
@click.option("--max-tokens", type=int, default=512, show_default=True, help="tokens per generation")
@click.option("--seed", type=int, default=0, show_default=True, help="seed; the same seed gives the same output")
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
def solve(
    question: str, strategy: str, budget: int, engine: str, model: str | None,
    temperature: float | None, max_tokens: int, seed: int, as_json: bool,
) -> None:
    """Answer QUESTION, spending up to BUDGET generations."""
    try:
        result = solve_question(
            question, strategy=strategy, budget=budget, engine=engine, model=model,
            temperature=temperature, max_tokens=max_tokens, seed=seed,
        )
    except PonderError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        fail("interrupted")
    click.echo(json.dumps(result.to_dict(), ensure_ascii=False) if as_json else format_result(result))


@cli.command()
def strategies() -> None:
    """List the available strategies."""
    for name, cls in sorted(available().items()):
        click.echo(f"{name:20s} {getattr(cls, 'summary', '')}")


if __name__ == "__main__":  # pragma: no cover
    cli()
