"""``ponder.bench.api.bench`` and ``abench``: the Python form of ``ponder bench``."""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import replace
from itertools import product
from pathlib import Path
from typing import Any

from ponder import __version__
from ponder.bench.datasets import load_problems
from ponder.bench.distributed import DEFAULT_CHUNK, RayCluster, check_single_endpoint
from ponder.bench.interrupts import canonical, check_interruptible, parse_interrupt
from ponder.bench.memory_run import check_memory_run, memory_key, memory_metadata, open_bench_memory
from ponder.bench.runner import check_workers, file_sha256, run_benchmark, scorers_for
from ponder.bench.store import BenchStore
from ponder.bench.types import Config, ConfigTotals, Problem, canonical_pipeline
from ponder.core.budget import Budget
from ponder.core.errors import InvalidInputError
from ponder.engines.base import Engine
from ponder.engines.registry import DEFAULT_ENGINE, create_engine, engine_plugin
from ponder.memory import Memory
from ponder.pipelines.source import read_config
from ponder.registry import get_strategy, load_pipeline
from ponder.scorers import SCORERS

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
    pipelines: Sequence[str | Path | Mapping[str, Any]] = (),
    ray: str | None = None,
    ray_chunk: int = DEFAULT_CHUNK,
    memory: Memory | str | Path | None = None,
    memory_selection: str = "lexical",
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
    uninterrupted one first, so that the interrupted ones find its rows for their interrupt points.

    ``pipelines`` (pipeline config files, or their dicts) run beside the strategies, each x seed x
    temperature at the budget it can spend (``budgets`` and ``options`` are the strategies': with
    pipelines alone, other than the defaults they are refused rather than ignored); each
    is validated before anything runs and stored under its config (:attr:`Config.pipeline`), so a
    rerun resumes it. Pipelines run uninterrupted: with them, only the ``none`` spec is allowed.

    ``ray`` (``auto``, ``local`` or ``ray://HOST:PORT``) solves the problems on a Ray cluster instead
    (:mod:`ponder.bench.distributed`, needs ``pip install 'ponder[ray]'``): ``ray_chunk`` problems of
    one configuration per Ray task, each task creating the engine on its worker from ``engine``,
    ``model`` and ``engine_options`` (a comma-separated ``base_url`` hands its endpoints to the tasks
    in turn), ``workers`` problems at once in each task; this process stays the store's only writer
    and a rerun resumes the same way. A :class:`~ponder.bench.distributed.RayCluster` already joined
    may be passed as ``engine`` instead.

    ``memory`` (a concept memory file, opened with ``memory_selection`` and written after
    gold-graded correct rows, or a :class:`~ponder.memory.Memory`) makes the problems of the one
    configuration it allows read and write it in problem order, one at a time; the file and its
    settings are part of the configuration, and the run's metadata records its state, the order
    and the seed (:mod:`ponder.bench.memory_run`, which also says what a resume guarantees)."""
    check_workers(workers)
    specs = sorted(dict.fromkeys(canonical(spec) for spec in interrupts), key=lambda spec: spec != "")
    if not specs:
        raise InvalidInputError("give at least one interrupt spec (none for uninterrupted runs)")
    if (not strategies and not pipelines) or not budgets or not seeds or not temperatures:
        raise InvalidInputError("give at least one strategy or pipeline, budget, seed and temperature")
    if pipelines and specs != [""]:
        raise InvalidInputError("--interrupt applies to strategies; pipelines run uninterrupted (use none)")
    if pipelines and not strategies and (options or list(budgets) != [1]):  # else silently unused
        raise InvalidInputError(
            "--budget and --option (budgets=, options=) apply to strategies; a pipeline spends what its config "
            "allows, with its own parameters: add --strategy, or drop them"
        )
    if any(b < 1 for b in budgets) or max_tokens < 1 or (limit is not None and limit < 1):
        raise InvalidInputError("budgets, max_tokens and limit must be >= 1")
    for b in budgets:
        Budget(b)  # above the cap: refused here, not stored as a failed row per problem
    for name in strategies:
        get_strategy(name, options)
    named: dict[str, Any] = dict(fields or {})  # question_field, answer_field, id_field, grader
    problems = load_problems(dataset, limit=limit, **named)
    known = {*SCORERS, *(scorers_for(problems[0]) if problems else ())}
    piped = [_pipeline(config, known) for config in pipelines]
    _check_update_fields(problems, specs)
    check_interruptible(specs, strategies, options)
    if ray is None:
        check_single_endpoint(engine_options or {})
        if ray_chunk != DEFAULT_CHUNK:  # not silently ignored (a RayCluster passed as engine has its own)
            raise InvalidInputError("--ray-chunk (ray_chunk=) applies with --ray ADDRESS (ray=)")
    if memory is not None:
        grid_size = len(strategies) * len(budgets) * len(specs) + len(piped)
        on_ray = ray if ray is not None else engine.address if isinstance(engine, RayCluster) else None
        check_memory_run(
            configs=grid_size * len(seeds) * len(temperatures), workers=workers, interrupts=specs, ray=on_ray
        )
    remembering, owns_memory = open_bench_memory(memory, memory_selection) if memory is not None else (None, False)
    try:
        store = BenchStore(db)  # a database that cannot be written fails here, before a model is loaded
    except BaseException:
        if owns_memory and remembering is not None:
            remembering.close()
        raise
    cluster: RayCluster | None = None
    try:
        if ray is not None:
            cluster = await _join_ray(ray, engine, model, engine_options, deterministic=deterministic, chunk=ray_chunk)
        return await _run_on_engine(
            store,
            problems,
            dataset=dataset,
            grid=list(product(strategies, budgets, seeds, temperatures, specs)),
            pipeline_grid=list(product(piped, seeds, temperatures)),
            options=dict(options or {}),
            limit=limit,
            max_tokens=max_tokens,
            engine=cluster or engine,
            model=model,
            engine_options=dict(engine_options or {}),
            workers=workers,
            deterministic=deterministic,
            progress=progress,
            memory=remembering,
        )
    finally:
        store.close()
        if owns_memory and remembering is not None:
            remembering.close()
        if cluster is not None:
            await cluster.aclose()


async def _join_ray(
    address: str,
    engine: Engine | str | None,
    model: str | None,
    engine_options: Mapping[str, Any] | None,
    *,
    deterministic: bool,
    chunk: int,
) -> RayCluster:
    """Join the Ray cluster at ``address``; its workers will create engine ``engine`` with these options."""
    if engine is not None and not isinstance(engine, str):
        raise InvalidInputError("ray= creates the engine on each worker: pass its name (engine='openai'), not one")
    name = engine or DEFAULT_ENGINE
    creation: dict[str, Any] = {**({"model": model} if model else {}), **dict(engine_options or {})}
    if deterministic:
        creation = deterministic_engine_options(name, creation)
    return await RayCluster.connect(address, engine=name, options=creation, chunk=chunk)


def _pipeline(config: str | Path | Mapping[str, Any], scorers: set[str]) -> tuple[str, int]:
    """A pipeline config, validated (its scorers against ``scorers``; its ``model`` keys must be
    engine specs: a benchmark passes no named engines), as canonical JSON (named after its file
    when it has no name) with the generations it can spend."""
    checked = load_pipeline(config, scorers=scorers, engines=())
    data, _ = read_config(config)
    if not isinstance(config, Mapping):
        data.setdefault("name", checked.name)
    try:
        text = canonical_pipeline(data)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"pipeline {checked.name!r}: its config is not JSON data: {exc}") from None
    Budget(checked.generations())  # above the cap: refused here, not stored as a failed row per problem
    return text, checked.generations()


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
    pipeline_grid: list[tuple[tuple[str, int], int, float | None]],
    options: dict[str, Any],
    limit: int | None,
    max_tokens: int,
    engine: Engine | str | None,
    model: str | None,
    engine_options: dict[str, Any],
    workers: int,
    deterministic: bool,
    progress: bool,
    memory: Memory | None = None,
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
        ] + [
            Config(
                dataset=dataset,
                strategy="pipeline",
                budget=b,
                seed=seed,
                temperature=t,
                max_tokens=max_tokens,
                engine=info.name,
                model=info.model,
                pipeline=text,
            )
            for (text, b), seed, t in pipeline_grid
        ]
        if memory is not None:
            configs = [replace(config, memory=memory_key(memory)) for config in configs]
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
                **({"memory": _memory_metadata(memory, problems, configs)} if memory is not None else {}),
            },
            deterministic=deterministic,
        )
        if isinstance(backend, RayCluster):  # the problems go out to the Ray workers
            return await backend.run(problems, configs, store=store, run_id=run_id, workers=workers, progress=progress)
        return await run_benchmark(
            problems,
            configs,
            engine=backend,
            store=store,
            run_id=run_id,
            workers=workers,
            progress=progress,
            memory=memory,
        )
    finally:
        if owned:
            await backend.aclose()


def _memory_metadata(memory: Memory, problems: Sequence[Problem], configs: Sequence[Config]) -> dict[str, Any]:
    """The memory's state before the run, the order and the seed, for the run's metadata."""
    seeds = sorted({config.seed for config in configs})
    return memory_metadata(memory, problems, seeds, file_sha256(memory.store.path))


def bench(dataset: str, **options: Any) -> list[ConfigTotals]:
    """Synchronous :func:`abench`."""
    return asyncio.run(abench(dataset, **options))
