"""Probe: a benchmark row must not depend on the problems solved before it in the same process."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from ponder.bench.runner import solve_concurrently
from ponder.bench.types import BenchRow, Config, Problem
from ponder.engines import FakeEngine
from ponder.engines.base import Completion, GenerationRequest

PROBLEMS = [Problem(id=str(i), question=f"What is {i} + 1?", gold=str(i + 1), grader="math", data={}) for i in range(4)]
CONFIG = Config(
    dataset="toy", strategy="self-consistency", budget=2, seed=0, temperature=None, max_tokens=16, engine="f", model="m"
)


class HistoryEngine(FakeEngine):
    """A fake whose texts depend on its history, as a real KV cache's layout can, unless reset."""

    def __init__(self) -> None:
        super().__init__(lambda request, index: f"The answer is {self.since_reset}.")
        self.since_reset = 0
        self.resets = 0

    def reset_cache(self) -> None:
        self.resets += 1
        self.since_reset = 0

    async def generate(self, requests: Sequence[GenerationRequest]) -> list[list[Completion]]:
        done = await super().generate(requests)
        self.since_reset += 1
        return done


def answers(engine: HistoryEngine, problems: Sequence[Problem], workers: int) -> dict[str, str | None]:
    rows: list[BenchRow] = []
    asyncio.run(solve_concurrently(engine, problems, CONFIG, workers=workers, on_row=rows.append))
    return {row.problem_id: row.answer for row in rows}


def test_one_worker_starts_every_problem_from_an_empty_cache() -> None:
    whole = answers(HistoryEngine(), PROBLEMS, workers=1)
    first, resumed = HistoryEngine(), HistoryEngine()
    interrupted = answers(first, PROBLEMS[:2], workers=1) | answers(resumed, PROBLEMS[2:], workers=1)
    assert interrupted == whole == {p.id: "0" for p in PROBLEMS}
    assert first.resets == 2 and resumed.resets == 2


def test_concurrent_workers_do_not_reset_a_cache_others_are_using() -> None:
    engine = HistoryEngine()
    answers(engine, PROBLEMS, workers=2)
    assert engine.resets == 0
