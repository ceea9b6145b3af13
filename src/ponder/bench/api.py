"""``ponder.bench.api.bench`` and ``abench``: the Python form of ``ponder bench``."""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Mapping, Sequence
from itertools import product
from pathlib import Path
from typing import Any

from ponder import __version__
from ponder.bench.datasets import load_problems
from ponder.bench.interrupts import canonical, check_interruptible, parse_interrupt
from ponder.bench.runner import check_workers, file_sha256, run_benchmark
from ponder.bench.store import BenchStore
from ponder.bench.types import Config, ConfigTotals, Problem
from ponder.core.budget import Budget
from ponder.core.errors import InvalidInputError
from ponder.engines.base import Engine
from ponder.engines.registry import DEFAULT_ENGINE, create_engine, engine_plugin
from ponder.registry import get_strategy

DEFAULT_DB = "ponder-bench.db"
DETERMINISTIC_OPTION = "deterministic"  # the engine option that makes an engine reproduce bit for bit


class DeterminismWarning(UserWarning):
    """``deterministic=True`` with an engine ponder cannot put in a deterministic mode."""


def deterministic_engine_options(name: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """``options`` for creating engine ``name`` in deterministic mode: ``deterministic=True`` added
    when its plugin declares that option; otherwise unchanged, with a :class:`DeterminismWarning`
    (ponder cannot make such an engine, e.g. a model server, reproduce bit for bit: its own
    settings must)."""
    if DETERMINISTIC_OPTION in engine_plugin(name).option_names():
        return {**options, DETERMINISTIC_OPTION: True}
    warnings.warn(
        f"engine {name!r} has no deterministic mode; the run is recorded as deterministic, but only"
        " the engine's own settings can make it reproduce bit for bit (for a server: one request at"
        " a time, or its batch-invariant mode)",
        DeterminismWarning,
        stacklevel=3,
    )
    return dict(options)


def _check_consistent_mode(store: BenchStore, configs: Sequence[Config], deterministic: bool) -> None:
    """Refuse to resume a configuration stored by a run of the other mode (its rows would mix)."""
    for config in configs:
        stored = store.config_mode(config)
        if stored is not None and stored != deterministic:
            was, now = ("with", "without") if stored else ("without", "with")
            raise InvalidInputError(
                f"{config.label!r} is already stored in {store.path} by a run {was} --deterministic; rerun {was}"
                f" it to resume, or use another --db to run it {now}"
            )


async def abench(
    dataset: str,
    *,
    strategies: Sequence[str] = ("self-consistency",),
    budgets: Sequence[int] = (1,),
    seeds: Sequence[int] = (0,),
    temperatures: Sequence[float | None] = (None,),
    options: Mapping[str, Any] | None = None,
    limit: int | None = None,
    max_tokens: int = 512,
    db: str | Path = DEFAULT_DB,
    engine: Engine | str | None = None,
    model: str | None = None,
    engine_options: Mapping[str, Any] | None = None,
    fields: Mapping[str, str] | None = None,
    progress: bool = True,
    workers: int = 1,
    deterministic: bool = False,
    interrupts: Sequence[str] = ("",),
) -> list[ConfigTotals]:
    """Benchmark every strategy x budget x seed x temperature (x interrupt) on a data set, storing results in
    ``db`` (resuming what an earlier run stored). ``dataset`` is a built-in name, a JSONL path or
    ``hf:NAME[:SPLIT]``; ``fields`` maps ``question_field``, ``answer_field``, ``id_field``,
    ``grader`` for custom data. Options are checked against every strategy before anything runs.

    ``workers`` problems are solved at once on the one engine (each result is stored as it
    finishes; the rows do not depend on the order). ``deterministic`` makes the run reproduce bit
    for bit: an engine ponder creates gets the option ``deterministic=True`` when its plugin has it
    (the embedded engine then serves one solve at a time, so ``workers > 1`` is allowed but gains
    little); an engine without that option runs as it is, with a :class:`DeterminismWarning`; an
    engine passed in must have been created deterministic. An engine made deterministic by its own
    option (``engine_options={"deterministic": True}``, or a passed engine whose ``info.details``
    say so) makes the run deterministic too. The run's metadata records the mode, and a
    configuration already stored by a run of the other mode is refused rather than mixed.

    ``interrupts`` are interrupt specs (``""`` or ``none``, ``hard@0.3``, ``soft@0.5``,
    ``update@0.5:FIELD``: :mod:`ponder.bench.interrupts`); each configuration runs under each, the
    uninterrupted one first, so that the interrupted ones find its rows for their interrupt points."""
    check_workers(workers)
    specs = sorted(dict.fromkeys(canonical(spec) for spec in interrupts), key=lambda spec: spec != "")
    if not specs:
        raise InvalidInputError("give at least one interrupt spec (none for uninterrupted runs)")
    if not strategies or not budgets or not seeds or not temperatures:
        raise InvalidInputError("give at least one strategy, budget, seed and temperature")
    if any(b < 1 for b in budgets) or max_tokens < 1 or (limit is not None and limit < 1):
        raise InvalidInputError("budgets, max_tokens and limit must be >= 1")
    for b in budgets:
        Budget(b)  # above the cap: refused here, not stored as a failed row per problem
    for name in strategies:
        get_strategy(name, options)
    named: dict[str, Any] = dict(fields or {})  # question_field, answer_field, id_field, grader
    problems = load_problems(dataset, limit=limit, **named)
    _check_update_fields(problems, specs)
    check_interruptible(specs, strategies, options)
    store = BenchStore(db)  # a database that cannot be written fails here, before a model is loaded
    try:
        return await _run_on_engine(
            store,
            problems,
            dataset=dataset,
            grid=list(product(strategies, budgets, seeds, temperatures, specs)),
            options=dict(options or {}),
            limit=limit,
            max_tokens=max_tokens,
            engine=engine,
            model=model,
            engine_options=dict(engine_options or {}),
            workers=workers,
            deterministic=deterministic,
            progress=progress,
        )
    finally:
        store.close()


def _check_update_fields(problems: Sequence[Problem], specs: Sequence[str]) -> None:
    """Refuse update specs whose field some problem lacks, before anything runs."""
    for text in specs:
        spec = parse_interrupt(text)
        if spec is None or spec.mode != "update":
            continue
        lacking = [p.id for p in problems if spec.field not in p.data]
        if lacking:
            raise InvalidInputError(
                f"--interrupt {text}: problem {lacking[0]} has no field {spec.field!r} "
                f"({len(lacking)} of {len(problems)} lack it; the gsm8k-updates set has 'update')"
            )


async def _run_on_engine(
    store: BenchStore,
    problems: list[Problem],
    *,
    dataset: str,
    grid: list[tuple[str, int, int, float | None, str]],
    options: dict[str, Any],
    limit: int | None,
    max_tokens: int,
    engine: Engine | str | None,
    model: str | None,
    engine_options: dict[str, Any],
    workers: int,
    deterministic: bool,
    progress: bool,
) -> list[ConfigTotals]:
    """Create (or take) the engine, store the run's metadata and run every configuration of ``grid``."""
    owned = engine is None or isinstance(engine, str)  # an engine we create, we close
    backend: Engine
    if engine is None or isinstance(engine, str):
        name = engine or DEFAULT_ENGINE
        creation: dict[str, Any] = {**({"model": model} if model else {}), **engine_options}
        if deterministic:
            creation = deterministic_engine_options(name, creation)
        elif getattr(engine_plugin(name).options(creation), DETERMINISTIC_OPTION, False):
            deterministic = True  # -E deterministic=true: the run is deterministic, and recorded so
        backend = create_engine(name, **creation)
    else:
        backend = engine
        made = backend.info.details.get(DETERMINISTIC_OPTION)
        if deterministic and made is False:
            raise InvalidInputError("deterministic=True needs an engine created with deterministic=True")
        deterministic = deterministic or made is True
    try:
        check_interruptible([spec for *_, spec in grid], capabilities=backend.capabilities)
        info = backend.info
        configs = [
            Config(
                dataset=dataset,
                strategy=s,
                budget=b,
                seed=seed,
                temperature=t,
                max_tokens=max_tokens,
                engine=info.name,
                model=info.model,
                options=tuple(sorted(options.items())),
                interrupt=interrupt,
            )
            for s, b, seed, t, interrupt in grid
        ]
        _check_consistent_mode(store, configs, deterministic)
        run_id = store.start_run(
            ponder_version=__version__,
            dataset=dataset,
            engine=info.name,
            model=info.model,
            model_sha256=file_sha256(str(info.details.get("path", ""))) if info.details.get("path") else None,
            settings={
                "limit": limit,
                "max_tokens": max_tokens,
                "options": options,
                "workers": workers,
                "engine_details": {k: v for k, v in info.details.items() if k != "api_key"},
            },
            deterministic=deterministic,
        )
        return await run_benchmark(
            problems, configs, engine=backend, store=store, run_id=run_id, workers=workers, progress=progress
        )
    finally:
        if owned:
            await backend.aclose()


def bench(dataset: str, **options: Any) -> list[ConfigTotals]:
    """Synchronous :func:`abench`."""
    return asyncio.run(abench(dataset, **options))
