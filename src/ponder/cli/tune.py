"""``ponder tune``: search configurations on a dataset, choose one through a reusable holdout."""

from __future__ import annotations

from pathlib import Path

import click

from ponder.cli.engine_options import engine_options
from ponder.cli.failure import fail
from ponder.core.errors import InvalidInputError, PonderError
from ponder.engines.named import EngineSpec
from ponder.tune import TuneOutcome
from ponder.tune import tune as run_tune
from ponder.tune.api import DEFAULT_DB, DEFAULT_OUT
from ponder.tune.thresholdout import DEFAULT_BUDGET, DEFAULT_SIGMA, DEFAULT_THRESHOLD

POSITIVE = click.FloatRange(min=0, min_open=True)


def _fractions(text: str) -> tuple[float, float, float]:
    try:
        parts = tuple(float(part) for part in text.split(","))
    except ValueError:
        parts = ()
    if len(parts) != 3:
        raise InvalidInputError(f"--split takes three comma-separated fractions (train,holdout,test), got {text!r}")
    return parts[0], parts[1], parts[2]


@click.command()
@click.argument("dataset")
@click.option(
    "--space",
    type=click.Path(dir_okay=False),
    default=None,
    metavar="FILE",
    help="the search space (YAML or JSON; see the README)  [default: the built-in space]",
)
@click.option(
    "--trials", type=click.IntRange(min=1), default=20, show_default=True, help="trials in all (a rerun resumes)"
)
@click.option("--pareto", is_flag=True, help="search accuracy against completion tokens per problem (NSGA-II)")
@click.option("--max-tokens-per-problem", type=POSITIVE, default=None, help="constraint: completion tokens per problem")
@click.option("--max-seconds-per-problem", type=POSITIVE, default=None, help="constraint: seconds per problem")
@click.option(
    "--seed", type=click.IntRange(min=0), default=0, show_default=True, help="seeds the split, search and noise"
)
@click.option("--split", "split", default="0.4,0.3,0.3", show_default=True, help="train,holdout,test fractions")
@click.option("--db", default=DEFAULT_DB, show_default=True, help="the bench store (its optuna study lives beside it)")
@click.option("--out", default=DEFAULT_OUT, show_default=True, help="directory for chosen.yaml and the report")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="the dataset's first N problems")
@click.option("--max-tokens", type=click.IntRange(min=1), default=512, show_default=True, help="tokens per generation")
@click.option("--workers", "-w", type=click.IntRange(min=1), default=1, show_default=True, help="problems at once")
@click.option("--threshold", type=float, default=DEFAULT_THRESHOLD, show_default=True, help="Thresholdout's T")
@click.option("--sigma", type=float, default=DEFAULT_SIGMA, show_default=True, help="Thresholdout's noise scale")
@click.option(
    "--holdout-budget",
    type=click.IntRange(min=1),
    default=DEFAULT_BUDGET,
    show_default=True,
    help="times Thresholdout may reveal the holdout",
)
@engine_options
@click.option("--quiet", is_flag=True, help="no progress bars or per-trial lines")
def tune(
    dataset: str,
    space: str | None,
    trials: int,
    pareto: bool,
    max_tokens_per_problem: float | None,
    max_seconds_per_problem: float | None,
    seed: int,
    split: str,
    db: str,
    out: str,
    limit: int | None,
    max_tokens: int,
    workers: int,
    threshold: float,
    sigma: float,
    holdout_budget: int,
    engine: EngineSpec,
    quiet: bool,
) -> None:
    """Search strategies and pipelines on DATASET (a built-in name, a JSONL path or hf:NAME) and
    write the chosen one as a pipeline config: optuna on a train split, the choice through
    Thresholdout on a holdout split, one test at the end. Rerun the same command to resume."""
    try:
        outcome = run_tune(
            dataset,
            space=space,
            trials=trials,
            pareto=pareto,
            max_tokens_per_problem=max_tokens_per_problem,
            max_seconds_per_problem=max_seconds_per_problem,
            fractions=_fractions(split),
            seed=seed,
            threshold=threshold,
            sigma=sigma,
            holdout_budget=holdout_budget,
            limit=limit,
            max_tokens=max_tokens,
            db=db,
            out=out,
            engine=engine.name,
            engine_options=engine.options,
            workers=workers,
            progress=not quiet,
        )
    except PonderError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        fail(f"interrupted; rerun the same command to resume from {db}")
    for line in summary(outcome, Path(out)):
        click.echo(line)


def summary(outcome: TuneOutcome, out: Path) -> list[str]:
    """What ``ponder tune`` prints: the chosen configuration, its accuracies, the holdout budget, the files."""
    lines = [
        f"{len(outcome.trials)} trials on {outcome.dataset} (objective {outcome.objective}, "
        f"constraint {outcome.constraint})"
    ]
    if outcome.chosen is None or outcome.scores is None:
        lines.append("no configuration was chosen: no feasible trial was queried on the holdout")
    else:
        s = outcome.scores
        lines += [
            f"chosen: trial {outcome.chosen.number}: {outcome.chosen.label}",
            f"  train {s.train:.1%} (n={s.n_train})  thresholdout {s.thresholdout:.1%}  "
            f"naive holdout {s.naive_holdout:.1%} (n={s.n_holdout})  test {s.test:.1%} (n={s.n_test})",
        ]
    lines.append(
        f"holdout queries: {outcome.holdout_queries}; budget spent {outcome.holdout_spent} of "
        f"{outcome.holdout_budget} ({outcome.holdout_remaining} left)"
        + ("; exhausted: later trials were not queried" if outcome.holdout_remaining < 1 else "")
    )
    files = [outcome.config_path] if outcome.config_path else []
    files += [str(out / name) for name in ("tune.md", "tune.json", "tune.png", "tune.html") if (out / name).is_file()]
    lines.append("wrote " + ", ".join(files))
    return lines
