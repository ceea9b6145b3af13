"""Running configurations over problems into the store, resumably, with a progress bar.

For each configuration, the problems it has no stored result for are solved one by one with
``ponder.asolve`` on the shared engine; the answer and every candidate are graded and the result
is committed at once. A problem whose run fails with a bad-input error (a prompt longer than the
context, a malformed problem) is stored as a failed result with the reason, so a rerun does not
retry it; an engine that cannot serve at all stops the run, storing nothing for that problem.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from pathlib import Path
from typing import Callable, ClassVar, Sequence

from tqdm import tqdm

from ponder.api import asolve
from ponder.bench.graders import grade, task_for
from ponder.bench.store import BenchStore
from ponder.bench.types import BenchRow, CandidateRow, Config, ConfigTotals, Problem
from ponder.core.errors import BackendUnavailableError, EngineTimeoutError, PonderError
from ponder.core.result import Candidate, SolveResult
from ponder.engines.base import Engine
from ponder.scorers import Scorer, ScorerInfo
from ponder.verifiers import UnitTestVerifier


def file_sha256(path: str | Path) -> str | None:
    """The SHA-256 of a local model file, for the run's metadata (None when not a file)."""
    path = Path(path)
    if not path.is_file():
        return None
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class GoldScorer:
    """An oracle scorer for benchmarks: 1.0 when the benchmark's own grader accepts a candidate."""

    name: ClassVar[str] = "gold"
    info: ClassVar[ScorerInfo] = ScorerInfo(kind="verifier", exact=True, cost="free (uses the gold answer)")

    def __init__(self, problem: Problem) -> None:
        self.problem = problem

    async def score(self, question: str, candidates: Sequence[Candidate]) -> list[float]:
        return [1.0 if await asyncio.to_thread(grade, self.problem, c.answer, c.text) else 0.0 for c in candidates]


def scorers_for(problem: Problem) -> dict[str, Scorer]:
    """Problem-bound scorers a configuration may name: ``gold`` (an oracle, for pass@k-style upper
    bounds) and, for code, ``unit-tests``."""
    scorers: dict[str, Scorer] = {"gold": GoldScorer(problem)}
    if problem.grader == "humaneval":
        scorers["unit-tests"] = UnitTestVerifier.from_problem(problem.data)
    return scorers


def record_for(problem: Problem, result: SolveResult) -> BenchRow:
    """The stored row of a finished solve: the answer and every candidate graded, usage, seconds."""
    usage = result.usage
    candidates = tuple(
        CandidateRow(text=c.text, answer=c.answer, correct=grade(problem, c.answer, c.text), score=c.score,
                     completion_tokens=c.completion_tokens, finish_reason=c.finish_reason, evidence=c.evidence)
        for c in result.candidates
    )
    best_text = next((c.text for c in result.candidates if c.answer == result.answer), None)
    return BenchRow(
        problem_id=problem.id, question=problem.question, gold=problem.gold, answer=result.answer,
        correct=grade(problem, result.answer, best_text), candidates=candidates, votes=result.votes,
        trace=tuple(result.trace), stop_reason=result.stop_reason, prompt_tokens=usage.prompt_tokens,
        prompt_tokens_computed=usage.prompt_tokens_computed, completion_tokens=usage.completion_tokens,
        scorer_tokens=usage.scorer_tokens, engine_calls=usage.engine_calls, scorer_calls=usage.scorer_calls,
        seconds=usage.wall_seconds,
    )


def failed_record(problem: Problem, error: PonderError, seconds: float) -> BenchRow:
    """The stored row of a problem whose run failed: no answer, wrong, the reason as its stop reason."""
    return BenchRow(problem_id=problem.id, question=problem.question, gold=problem.gold, answer=None,
                    correct=False, stop_reason=f"error: {error}", seconds=seconds)


async def solve_one(engine: Engine, problem: Problem, config: Config) -> BenchRow:
    """One problem under one configuration, graded (a bad-input error becomes a failed row)."""
    started = time.perf_counter()
    try:
        result = await asolve(
            problem.question, engine=engine, strategy=config.strategy, options=dict(config.options),
            budget=config.budget, seed=config.seed, temperature=config.temperature, max_tokens=config.max_tokens,
            task=task_for(problem.grader), scorers=scorers_for(problem))
    except (BackendUnavailableError, EngineTimeoutError):
        raise  # the engine cannot serve: stop, store nothing, let a rerun retry
    except PonderError as exc:
        return failed_record(problem, exc, time.perf_counter() - started)
    return record_for(problem, result)


async def run_benchmark(
    problems: Sequence[Problem], configs: Sequence[Config], *, engine: Engine, store: BenchStore, run_id: int,
    progress: bool = True, echo: Callable[[str], None] = print,
) -> list[ConfigTotals]:
    """Solve every (configuration, problem) pair not yet stored; return per-configuration totals."""
    summaries: list[ConfigTotals] = []
    wanted = {p.id for p in problems}
    for config in configs:
        config_id = store.config_id(run_id, config)
        stored = store.done(config_id)
        todo = [p for p in problems if p.id not in stored]
        correct = sum(r.correct for r in store.results(config_id) if r.problem_id in wanted)
        stored &= wanted
        tokens, started = 0, time.perf_counter()
        bar = tqdm(todo, desc=config.label, unit="problem", disable=not progress or not todo, leave=True)
        for index, problem in enumerate(bar, start=1):
            row = await solve_one(engine, problem, config)
            store.add_result(config_id, row)
            correct += row.correct
            tokens += row.completion_tokens
            done = len(stored) + index
            bar.set_postfix(accuracy=f"{correct / done:.1%}", tokens_per_s=f"{tokens / (time.perf_counter() - started):.0f}")
        summaries.append(ConfigTotals(config.label, len(stored) + len(todo), correct, len(todo)))
        if not progress:
            echo(f"{config.label}: {correct}/{len(stored) + len(todo)} correct ({len(todo)} new)")
    return summaries
