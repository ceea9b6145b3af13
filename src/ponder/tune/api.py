"""``ponder.tune`` / ``ponder.atune``: search a space of configurations on a dataset, choose one
through a reusable holdout, and write it as a pipeline config with a report.

The run: load the dataset (``limit``: its first N problems) and split it (seeded, stratified by
its ``type`` field when every problem has one: :mod:`ponder.tune.splits`) into train, holdout and
test; search the space (:mod:`ponder.tune.search`: optuna on the train split, Thresholdout on the
holdout); evaluate the chosen configuration once on the test split; write ``chosen.yaml``
(:mod:`ponder.tune.output`) and the report (``tune.md``, ``tune.json``, ``tune.png``,
``tune.html``: :mod:`ponder.tune.report`) into ``out``. Every evaluation goes through the bench
runner into the bench store ``db`` (``ponder report --db`` reads it too), and the optuna study
lives beside it (``NAME.optuna.db``), so rerunning the same call resumes: stored trials and
stored per-problem results are not repeated.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Mapping
from importlib.metadata import version
from pathlib import Path
from typing import Any

from ponder.api import open_engine
from ponder.bench.datasets import load_problems
from ponder.bench.runner import check_workers, file_sha256
from ponder.bench.store import BenchStore
from ponder.core.errors import InvalidInputError
from ponder.engines.base import Engine
from ponder.tune.evaluate import Evaluator
from ponder.tune.outcome import ChosenScores, TuneOutcome, pareto_front
from ponder.tune.output import CONFIG_NAME, header, write_config
from ponder.tune.report import write_report
from ponder.tune.search import (
    Search,
    SearchResult,
    SearchSettings,
    choose,
    open_study,
    quiet_optuna,
    storage_path,
    study_name,
)
from ponder.tune.space import load_space
from ponder.tune.splits import Splits, split_problems
from ponder.tune.thresholdout import DEFAULT_BUDGET, DEFAULT_SIGMA, DEFAULT_THRESHOLD

DEFAULT_DB = "ponder-bench.db"  # the bench store `ponder bench` and `ponder report` use by default
DEFAULT_OUT = "tune-out"


async def atune(
    dataset: str,
    *,
    space: str | Path | Mapping[str, Any] | None = None,
    trials: int = 20,
    pareto: bool = False,
    max_tokens_per_problem: float | None = None,
    max_seconds_per_problem: float | None = None,
    fractions: tuple[float, float, float] = (0.4, 0.3, 0.3),
    seed: int = 0,
    threshold: float = DEFAULT_THRESHOLD,
    sigma: float = DEFAULT_SIGMA,
    holdout_budget: int | None = None,
    limit: int | None = None,
    max_tokens: int = 512,
    db: str | Path = DEFAULT_DB,
    out: str | Path = DEFAULT_OUT,
    engine: Engine | str | None = None,
    model: str | None = None,
    engine_options: Mapping[str, Any] | None = None,
    workers: int = 1,
    progress: bool = True,
) -> TuneOutcome:
    """Tune a configuration for ``dataset`` (a built-in name, a JSONL path or ``hf:NAME``; see the
    module docstring). ``space``: a space file or dict (:mod:`ponder.tune.space`), default the
    built-in one; ``trials`` in all (a rerun counts the stored ones); ``pareto`` searches accuracy
    against completion tokens per problem instead of accuracy alone; ``max_tokens_per_problem`` /
    ``max_seconds_per_problem`` are constraints (infeasible configurations are never chosen);
    ``fractions`` of train / holdout / test; ``threshold``, ``sigma`` and ``holdout_budget``
    (default 64) are Thresholdout's; ``engine`` is an engine instance (reused, not closed) or an
    engine name created with ``model`` and ``engine_options`` (closed after). Everything is checked
    before a model is loaded."""
    check_workers(workers)
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
        raise InvalidInputError(f"max_tokens must be an integer >= 1, got {max_tokens!r}")
    settings = SearchSettings(
        trials=trials,
        pareto=pareto,
        max_tokens_per_problem=max_tokens_per_problem,
        max_seconds_per_problem=max_seconds_per_problem,
        seed=seed,
        threshold=threshold,
        sigma=sigma,
        holdout_budget=DEFAULT_BUDGET if holdout_budget is None else holdout_budget,
    )
    searched = load_space(space)
    check_out(Path(out))
    splits = split_problems(load_problems(dataset, limit=limit), fractions=fractions, seed=seed)
    owned = engine is None or isinstance(engine, str)  # an engine we create, we close
    if not owned and (model is not None or engine_options):
        raise InvalidInputError("`model` and `engine_options` apply when ponder creates the engine")
    echo: Callable[[str], None] = (lambda line: print(line, file=sys.stderr)) if progress else (lambda line: None)
    store = BenchStore(db)  # a database that cannot be written fails here, before a model is loaded
    try:
        backend = (
            open_engine(engine, model=model, engine_options=engine_options)
            if engine is None or isinstance(engine, str)
            else engine
        )
        try:
            info = backend.info
            run_id = store.start_run(
                ponder_version=version("ponder"),
                dataset=dataset,
                engine=info.name,
                model=info.model,
                model_sha256=file_sha256(str(info.details["path"])) if info.details.get("path") else None,
                settings={
                    "tune": {"space": searched.name, "trials": trials, "objective": settings.objective},
                    "limit": limit,
                    "max_tokens": max_tokens,
                    "workers": workers,
                    "engine_details": {k: v for k, v in info.details.items() if k != "api_key"},
                },
            )
            evaluator = Evaluator(
                dataset=dataset,
                engine=backend,
                store=store,
                run_id=run_id,
                seed=seed,
                max_tokens=max_tokens,
                workers=workers,
                progress=progress,
            )
            context = {
                "fractions": list(fractions),
                "splits": [[p.id for p in part] for part in (splits.train, splits.holdout, splits.test)],
                "max_tokens": max_tokens,
                "engine": info.name,
                "model": info.model,
            }
            name = study_name(dataset, searched, settings, context)
            with quiet_optuna():
                study = open_study(storage_path(db), name, settings)
            result = await Search(study, searched, splits, evaluator, settings, echo).run()
            return await _finish(dataset, result, splits, settings, evaluator, Path(out), echo)
        finally:
            if owned:
                await backend.aclose()
    finally:
        store.close()


async def _finish(
    dataset: str,
    result: SearchResult,
    splits: Splits,
    settings: SearchSettings,
    evaluator: Evaluator,
    out: Path,
    echo: Callable[[str], None],
) -> TuneOutcome:
    """Test the chosen configuration once, write its config file and the report."""
    chosen = choose(result.trials)
    scores, config_path = None, None
    if chosen is not None:
        pipeline = result.pipelines[chosen.number]
        test = await evaluator.measure(evaluator.config(pipeline), splits.test)
        assert chosen.holdout_reported is not None and chosen.holdout_accuracy is not None
        scores = ChosenScores(
            train=chosen.train_accuracy,
            thresholdout=chosen.holdout_reported,
            naive_holdout=chosen.holdout_accuracy,
            test=test.accuracy,
            n_train=len(splits.train),
            n_holdout=len(splits.holdout),
            n_test=test.n,
        )
        path = out / CONFIG_NAME
        engine = f"{evaluator.engine.info.name} {evaluator.engine.info.model}"
        config_path = str(write_config(pipeline, path, header(dataset, chosen, scores, engine=engine, path=path)))
    if result.exhausted_at is not None:
        echo(f"the holdout budget was spent at trial {result.exhausted_at}: later trials were not queried")
    thresholdout = result.thresholdout
    outcome = TuneOutcome(
        dataset=dataset,
        objective=settings.objective,
        constraint=settings.constraint,
        seed=settings.seed,
        trials=result.trials,
        pareto=pareto_front(result.trials),
        chosen=chosen,
        scores=scores,
        holdout_queries=thresholdout.queries,
        holdout_spent=thresholdout.spent,
        holdout_budget=thresholdout.budget,
        config_path=config_path,
        split_sizes=splits.sizes,
        holdout_threshold=thresholdout.threshold,
        holdout_sigma=thresholdout.sigma,
        stratified_by=splits.stratified_by,
    )
    try:
        write_report(outcome, out)
    except OSError as exc:
        raise InvalidInputError(f"cannot write the tune report to {out}: {exc.strerror or exc}") from None
    return outcome


def tune(dataset: str, **options: Any) -> TuneOutcome:
    """Synchronous :func:`atune` (same arguments); for use outside an event loop."""
    return asyncio.run(atune(dataset, **options))


def check_out(out: Path) -> None:
    """Refuse an output folder that cannot be one (an existing file, or under one) before the search
    spends anything, rather than after it."""
    for folder in (out, *out.parents):
        if folder.exists():
            if not folder.is_dir():
                raise InvalidInputError(f"--out {str(out)!r}: {str(folder)!r} is a file, not a folder")
            return
