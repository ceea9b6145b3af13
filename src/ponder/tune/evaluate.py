"""Evaluating a candidate configuration on one split, through the bench runner and its store.

A candidate is a pipeline config; :meth:`Evaluator.config` makes it a bench
:class:`~ponder.bench.types.Config` (``strategy="pipeline"``, the budget the pipeline can spend,
the tune run's seed and ``max_tokens``, the engine's name and model), and :meth:`Evaluator.measure`
runs it on a split's problems with :func:`~ponder.bench.runner.run_benchmark` on the shared
:class:`~ponder.bench.store.BenchStore`: a (configuration, problem) pair stored by this or any
earlier trial or run is read back, not solved again. The measure is read from the stored rows of
exactly those problems: accuracy, completion tokens per problem and seconds per problem (the
seconds recorded when each row was solved).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ponder.bench.runner import run_benchmark
from ponder.bench.store import BenchStore
from ponder.bench.types import Config, Problem, canonical_pipeline
from ponder.engines.base import Engine
from ponder.registry import load_pipeline
from ponder.scorers import SCORERS


@dataclass(frozen=True)
class Measure:
    """A configuration on a split: problems solved right, problems, and mean costs per problem."""

    correct: int
    n: int
    tokens_per_problem: float  # completion tokens
    seconds_per_problem: float
    new: int = 0  # problems solved now (the rest were read from the store)

    @property
    def accuracy(self) -> float:
        return self.correct / self.n if self.n else 0.0


class Evaluator:
    """Runs candidate pipelines on splits of one dataset, on one engine, into one store and run."""

    def __init__(
        self,
        *,
        dataset: str,
        engine: Engine,
        store: BenchStore,
        run_id: int,
        seed: int = 0,
        max_tokens: int = 512,
        workers: int = 1,
        progress: bool = True,
    ) -> None:
        self.dataset, self.engine, self.store, self.run_id = dataset, engine, store, run_id
        self.seed, self.max_tokens, self.workers, self.progress = seed, max_tokens, workers, progress

    def config(self, pipeline: Mapping[str, Any]) -> Config:
        """The bench configuration that runs ``pipeline`` (validated) at the budget it can spend."""
        checked = load_pipeline(pipeline, scorers=SCORERS, engines=())
        info = self.engine.info
        return Config(
            dataset=self.dataset,
            strategy="pipeline",
            budget=checked.generations(),
            seed=self.seed,
            temperature=None,
            max_tokens=self.max_tokens,
            engine=info.name,
            model=info.model,
            pipeline=canonical_pipeline(pipeline),
        )

    async def measure(self, config: Config, problems: Sequence[Problem]) -> Measure:
        """``config`` on ``problems``: solved where not stored yet, then read from the store."""
        [totals] = await run_benchmark(
            problems,
            [config],
            engine=self.engine,
            store=self.store,
            run_id=self.run_id,
            workers=self.workers,
            progress=self.progress,
            echo=_quiet,
        )
        config_id = self.store.stored_config_id(config)
        wanted = {p.id for p in problems}
        rows = [] if config_id is None else [r for r in self.store.results(config_id) if r.problem_id in wanted]
        n = len(rows)
        return Measure(
            correct=sum(r.correct for r in rows),
            n=n,
            tokens_per_problem=sum(r.completion_tokens for r in rows) / n if n else 0.0,
            seconds_per_problem=sum(r.seconds for r in rows) / n if n else 0.0,
            new=totals.new,
        )


def _quiet(line: str) -> None:
    """No per-configuration line (the search reports each trial itself)."""
