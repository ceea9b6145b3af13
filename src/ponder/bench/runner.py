"""Running configurations over problems into the store, resumably, with a progress bar.

For each configuration, the problems it has no stored result for are solved with
``ponder.asolve`` (its strategy and options, or its pipeline config) on the shared engine,
``workers`` at a time (asyncio tasks on the one event loop and the one engine, which batches
concurrent callers where it can; no extra engines); the answer and every candidate are graded
(in a worker thread: HumanEval grading runs code) and each result is committed the moment it is
ready, in whatever order the problems finish. The event loop is the store's one writer. A row
holds nothing that depends on that order: besides its timings (``seconds``, ``created``), only
``prompt_tokens_computed`` and ``scorer_prompt_tokens_computed`` can vary, with what an engine's
prefix cache happened to hold, as they do between any two runs.

A sample's text can depend, in the last float bits, on the engine's history (the KV cache's cell
layout, what shared the batch). So that a row does not depend on which problems ran before it in
this process, one worker (the default) starts each problem from an empty cache when the engine
can reset it (``reset_cache``, the embedded engine): a run killed and resumed then stores the same
rows as an uninterrupted one. With ``workers > 1`` concurrent problems share batches in an order
set by timing, so rows reproduce only with a deterministic engine (``ponder bench --deterministic``).

A problem whose run fails with a bad-input error (a prompt longer than the context, a malformed
problem) is stored as a failed result with the reason, so a rerun does not retry it, and the
other problems go on; an engine that cannot serve at all stops the run: the problems in flight
are cancelled and store nothing (those that had already finished are stored). Cancelling the run
(Ctrl-C) cancels the problems in flight the same way; nothing stored is lost.

A configuration with an interrupt spec solves each problem as an interrupted run
(:mod:`ponder.bench.interrupts`), its point taken from the same configuration's stored
uninterrupted row for that problem when there is one.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

from tqdm import tqdm

from ponder.api import asolve
from ponder.bench.graders import grade, task_for
from ponder.bench.interrupts import parse_interrupt, reference_tokens, solve_interrupted
from ponder.bench.memory_run import check_resume, memory_arguments, solve_in_order
from ponder.bench.store import BenchStore
from ponder.bench.types import BenchRow, CandidateRow, Config, ConfigTotals, Problem
from ponder.core.errors import BackendUnavailableError, EngineTimeoutError, InvalidInputError, PonderError
from ponder.core.result import Candidate, SolveResult
from ponder.engines.base import Engine
from ponder.memory import Memory
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
        CandidateRow(
            text=c.text,
            answer=c.answer,
            correct=grade(problem, c.answer, c.text),
            score=c.score,
            completion_tokens=c.completion_tokens,
            finish_reason=c.finish_reason,
            evidence=c.evidence,
        )
        for c in result.candidates
    )
    best_text = next((c.text for c in result.candidates if c.answer == result.answer), None)
    return BenchRow(
        problem_id=problem.id,
        question=problem.question,
        gold=problem.gold,
        answer=result.answer,
        correct=grade(problem, result.answer, best_text),
        candidates=candidates,
        votes=result.votes,
        trace=tuple(result.trace),
        stop_reason=result.stop_reason,
        prompt_tokens=usage.prompt_tokens,
        prompt_tokens_computed=usage.prompt_tokens_computed,
        completion_tokens=usage.completion_tokens,
        scorer_tokens=usage.scorer_tokens,
        engine_calls=usage.engine_calls,
        scorer_calls=usage.scorer_calls,
        seconds=usage.wall_seconds,
        scorer_prompt_tokens_computed=usage.scorer_prompt_tokens_computed,
    )


def failed_record(problem: Problem, error: PonderError, seconds: float) -> BenchRow:
    """The stored row of a problem whose run failed: no answer, wrong, the reason as its stop reason."""
    return BenchRow(
        problem_id=problem.id,
        question=problem.question,
        gold=problem.gold,
        answer=None,
        correct=False,
        stop_reason=f"error: {error}",
        seconds=seconds,
    )


async def solve_one(
    engine: Engine,
    problem: Problem,
    config: Config,
    *,
    fresh_cache: bool = False,
    references: Mapping[str, float] | None = None,
    memory: Memory | None = None,
) -> BenchRow:
    """One problem under one configuration, graded (a bad-input error becomes a failed row);
    ``fresh_cache`` first empties the engine's cache (when it has one to reset), so that the row
    does not depend on what ran before it (see the module docstring). ``references``: the
    reasoning length of each problem's uninterrupted row, for a configuration with an interrupt.
    ``memory``: read before the run, written after it when graded right (:mod:`ponder.bench.memory_run`)."""
    started = time.perf_counter()
    reset = getattr(engine, "reset_cache", None)
    if fresh_cache and callable(reset):
        await asyncio.to_thread(reset)
    spec = parse_interrupt(config.interrupt)
    try:
        if spec is not None:
            graded, result, entry = await solve_interrupted(
                engine,
                problem,
                config,
                spec,
                reference=(references or {}).get(problem.id),
                task=task_for(problem.grader),
                scorers=scorers_for(problem),
            )
            row = await asyncio.to_thread(record_for, graded, result)
            return replace(row, trace=(*row.trace, entry))
        chosen: dict[str, Any] = (
            {"pipeline": json.loads(config.pipeline)}
            if config.pipeline
            else {"strategy": config.strategy, "options": dict(config.options)}
        )
        result = await asolve(
            problem.question,
            engine=engine,
            **chosen,
            budget=config.budget,
            seed=config.seed,
            temperature=config.temperature,
            max_tokens=config.max_tokens,
            task=task_for(problem.grader),
            scorers=scorers_for(problem),
            **memory_arguments(memory, problem, config),
        )
    except (BackendUnavailableError, EngineTimeoutError):
        raise  # the engine cannot serve: stop, store nothing, let a rerun retry
    except PonderError as exc:
        return failed_record(problem, exc, time.perf_counter() - started)
    if memory is not None:
        # No await between the memory's write (committed inside asolve) and the row's commit, so a stop
        # (Ctrl-C cancels at an await) cannot fall between them (ponder.bench.memory_run: resume). Grading
        # on the loop blocks nothing else: a run with a memory solves one problem at a time.
        return record_for(problem, result)
    return await asyncio.to_thread(record_for, problem, result)  # grading may run code: keep the loop free


def check_workers(workers: int) -> None:
    """Refuse a worker count below 1."""
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise InvalidInputError(f"workers must be an integer >= 1 (problems solved at once), got {workers!r}")


async def solve_concurrently(
    engine: Engine,
    problems: Sequence[Problem],
    config: Config,
    *,
    workers: int,
    on_row: Callable[[BenchRow], None],
    references: Mapping[str, float] | None = None,
) -> None:
    """Solve ``problems`` under ``config``, ``workers`` at a time, calling ``on_row`` (on the event
    loop) with each row as soon as its problem finishes (``references``: see :func:`solve_one`).

    An error escaping a solve (the engine cannot serve) cancels the problems in flight and is
    raised once the rows finished by then have been passed on; so is cancelling this coroutine.
    """
    check_workers(workers)
    remaining: Iterator[Problem] = iter(problems)
    order: dict[asyncio.Task[BenchRow], int] = {}
    pending: set[asyncio.Task[BenchRow]] = set()

    def refill() -> None:
        while len(pending) < workers:
            problem = next(remaining, None)
            if problem is None:
                return
            solving = solve_one(engine, problem, config, fresh_cache=workers == 1, references=references)
            task = asyncio.create_task(solving, name=f"ponder bench {problem.id}")
            order[task] = len(order)
            pending.add(task)

    def harvest(done: set[asyncio.Task[BenchRow]]) -> BaseException | None:
        """Pass on the rows of finished tasks (in problem order); the first error, if any."""
        failure: BaseException | None = None
        for task in sorted(done, key=order.__getitem__):
            if task.cancelled():
                continue
            error = task.exception()
            if error is None:
                on_row(task.result())
            elif failure is None:
                failure = error
        return failure

    try:
        refill()
        while pending:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            failure = harvest(done)
            if failure is not None:
                raise failure
            refill()
    finally:
        # Stopped (an error, or cancelled): store what already finished, cancel the rest.
        finished = {task for task in pending if task.done()}
        pending -= finished
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)
        harvest(finished | {task for task in pending if task.done() and not task.cancelled()})


def uninterrupted_lengths(store: BenchStore, config: Config) -> dict[str, float]:
    """Each problem's reasoning length (:func:`~ponder.bench.interrupts.reference_tokens`) in the
    stored rows of ``config`` without its interrupt (empty when none is stored)."""
    stored = store.stored_config_id(replace(config, interrupt=""))
    if stored is None:
        return {}
    lengths = {row.problem_id: reference_tokens(row) for row in store.results(stored)}
    return {problem: length for problem, length in lengths.items() if length is not None}


class _Tally:
    """Commits one configuration's rows as they come and keeps its progress bar's figures."""

    def __init__(self, store: BenchStore, config_id: int, bar: tqdm, *, done: int, correct: int) -> None:
        self.store, self.config_id, self.bar = store, config_id, bar
        self.done, self.correct, self.tokens = done, correct, 0
        self.started = time.perf_counter()

    def commit(self, row: BenchRow) -> None:
        self.store.add_result(self.config_id, row)
        self.done += 1
        self.correct += row.correct
        self.tokens += row.completion_tokens
        self.bar.update(1)
        self.bar.set_postfix(
            accuracy=f"{self.correct / self.done:.1%}",
            tokens_per_s=f"{self.tokens / (time.perf_counter() - self.started):.0f}",
        )


async def run_benchmark(
    problems: Sequence[Problem],
    configs: Sequence[Config],
    *,
    engine: Engine,
    store: BenchStore,
    run_id: int,
    workers: int = 1,
    progress: bool = True,
    echo: Callable[[str], None] = print,
    memory: Memory | None = None,
) -> list[ConfigTotals]:
    """Solve every (configuration, problem) pair not yet stored, ``workers`` problems at a time,
    committing each row as it finishes; return per-configuration totals. With ``memory``, the
    problems are solved one at a time, in order, reading and writing it (:mod:`ponder.bench.memory_run`)."""
    check_workers(workers)
    summaries: list[ConfigTotals] = []
    wanted = {p.id for p in problems}
    for config in configs:
        config_id = store.config_id(run_id, config)
        stored = store.done(config_id)
        todo = [p for p in problems if p.id not in stored]
        correct = sum(r.correct for r in store.results(config_id) if r.problem_id in wanted)
        stored &= wanted
        bar = tqdm(total=len(todo), desc=config.label, unit="problem", disable=not progress or not todo, leave=True)
        tally = _Tally(store, config_id, bar, done=len(stored), correct=correct)
        references = uninterrupted_lengths(store, config) if config.interrupt else None
        try:
            if memory is not None:
                if todo:
                    check_resume(store, config_id, memory)
                solving = functools.partial(solve_one, engine, config=config, fresh_cache=True, memory=memory)
                await solve_in_order(todo, solving, memory, tally.commit)
            else:
                await solve_concurrently(
                    engine, todo, config, workers=workers, on_row=tally.commit, references=references
                )
        finally:
            bar.close()
        correct = tally.correct
        summaries.append(ConfigTotals(config.label, len(stored) + len(todo), correct, len(todo)))
        if not progress:
            echo(f"{config.label}: {correct}/{len(stored) + len(todo)} correct ({len(todo)} new)")
    return summaries
