"""``ponder.bench.api.bench`` and ``abench``: the Python form of ``ponder bench``."""

from __future__ import annotations

import asyncio
from itertools import product
from pathlib import Path
from typing import Any, Mapping, Sequence

from ponder import __version__
from ponder.bench.datasets import load_problems
from ponder.bench.runner import file_sha256, run_benchmark
from ponder.bench.store import BenchStore
from ponder.bench.types import Config, ConfigTotals
from ponder.core.errors import InvalidInputError
from ponder.engines.base import Engine
from ponder.engines.registry import DEFAULT_ENGINE, create_engine
from ponder.registry import get_strategy

DEFAULT_DB = "ponder-bench.db"


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
) -> list[ConfigTotals]:
    """Benchmark every strategy x budget x seed x temperature on a data set, storing results in
    ``db`` (resuming what an earlier run stored). ``dataset`` is a built-in name, a JSONL path or
    ``hf:NAME[:SPLIT]``; ``fields`` maps ``question_field``, ``answer_field``, ``id_field``,
    ``grader`` for custom data. Options are checked against every strategy before anything runs."""
    if not strategies or not budgets or not seeds or not temperatures:
        raise InvalidInputError("give at least one strategy, budget, seed and temperature")
    if any(b < 1 for b in budgets) or max_tokens < 1 or (limit is not None and limit < 1):
        raise InvalidInputError("budgets, max_tokens and limit must be >= 1")
    for name in strategies:
        get_strategy(name, options)
    problems = load_problems(dataset, limit=limit, **dict(fields or {}))
    owned = isinstance(engine, (str, type(None)))  # an engine we create, we close
    if owned:
        backend: Engine = create_engine(engine or DEFAULT_ENGINE, **({"model": model} if model else {}),  # type: ignore[arg-type]
                                        **dict(engine_options or {}))
    else:
        backend = engine  # type: ignore[assignment]
    store = BenchStore(db)
    try:
        info = backend.info
        run_id = store.start_run(
            ponder_version=__version__, dataset=dataset, engine=info.name, model=info.model,
            model_sha256=file_sha256(str(info.details.get("path", ""))) if info.details.get("path") else None,
            settings={"limit": limit, "max_tokens": max_tokens, "options": dict(options or {}),
                      "engine_details": {k: v for k, v in info.details.items() if k != "api_key"}})
        configs = [
            Config(dataset=dataset, strategy=s, budget=b, seed=seed, temperature=t, max_tokens=max_tokens,
                   engine=info.name, model=info.model, options=tuple(sorted(dict(options or {}).items())))
            for s, b, seed, t in product(strategies, budgets, seeds, temperatures)
        ]
        return await run_benchmark(problems, configs, engine=backend, store=store, run_id=run_id, progress=progress)
    finally:
        store.close()
        if owned:
            await backend.aclose()


def bench(dataset: str, **options: Any) -> list[ConfigTotals]:
    """Synchronous :func:`abench`."""
    return asyncio.run(abench(dataset, **options))
