"""The generic loop: step a strategy until it is done, its budget runs out, or it is interrupted.

    run = StrategyRun(SelfConsistency(params), ctx)
    await run.step()          # one step at a time, or
    result = await run.run()  # to the end
    run.interrupt()           # from another task: the run stops and keeps its best answer
    run.result()              # the best answer so far, at any moment

A step cut short (interrupt or time budget) leaves the state as it was before that step. Each
trace entry is the step's :class:`~ponder.strategies.base.StepInfo` with its number and its usage
(what the ledger recorded during the step: generator and judge tokens and calls).
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from ponder.context import StepContext
from ponder.core.result import SolveResult
from ponder.core.usage import Usage
from ponder.strategies.base import Algorithm


class StrategyRun:
    """One strategy on one question, with its state, trace and stop reason."""

    def __init__(self, algorithm: Algorithm[Any], ctx: StepContext) -> None:
        self.algorithm = algorithm
        self.ctx = ctx
        self.state = algorithm.init(ctx)
        self.trace: list[dict[str, Any]] = []
        self.stop_reason: str | None = None
        self._interrupted = asyncio.Event()

    def interrupt(self) -> None:
        """Stop at once; the result keeps the best answer of the steps already finished."""
        self._interrupted.set()

    def _why_stop(self) -> str | None:
        if self._interrupted.is_set():
            return "interrupted"
        if self.algorithm.done(self.state, self.ctx):
            return "done"
        return self.ctx.ledger.limit_reached()

    async def step(self) -> bool:
        """Run one step; False when the run has stopped (see :attr:`stop_reason`)."""
        if self.stop_reason is None:
            self.stop_reason = self._why_stop()
        if self.stop_reason is not None:
            return False
        before = self.ctx.ledger.recorded()
        work = asyncio.ensure_future(self.algorithm.step(self.state, self.ctx))
        interrupt = asyncio.ensure_future(self._interrupted.wait())
        try:
            finished, _ = await asyncio.wait(
                {work, interrupt}, timeout=self.ctx.ledger.seconds_left(), return_when=asyncio.FIRST_COMPLETED
            )
        except asyncio.CancelledError:  # the caller cancelled the run: the step must not go on alone
            work.cancel()
            raise
        finally:
            interrupt.cancel()
        if work not in finished:
            work.cancel()
            self.stop_reason = "interrupted" if self._interrupted.is_set() else "seconds"
            return False
        self.state, info = work.result()
        used = _spent(before, self.ctx.ledger.recorded())
        self.trace.append({"step": len(self.trace) + 1, **info.to_dict(), "usage": used})
        return True

    async def run(self) -> SolveResult:
        try:
            while await self.step():
                pass
            return self.result()
        finally:
            await self.close()

    async def close(self) -> None:
        """Release what the run opened (remote PRM connections); :meth:`run` does this itself."""
        await self.ctx.aclose()

    def result(self) -> SolveResult:
        """The best answer so far, with candidates, votes, trace and usage."""
        decision = self.algorithm.decide(self.state, self.ctx)
        given = self.algorithm.params
        params = dataclasses.asdict(given) if dataclasses.is_dataclass(given) and not isinstance(given, type) else {}
        settings = self.ctx.settings
        return SolveResult(
            question=self.ctx.question,
            answer=decision.answer,
            strategy=self.algorithm.name,
            candidates=list(decision.candidates),
            votes=decision.votes,
            usage=self.ctx.usage(),
            trace=list(self.trace),
            params={
                **params,
                "budget": self.ctx.budget.generations,
                "max_tokens": settings.max_tokens,
                "temperature": settings.temperature,
                "seed": settings.seed,
                "task": self.ctx.task.name,
            },
            engine={"name": self.ctx.engine.info.name, "model": self.ctx.engine.info.model},
            stop_reason=self.stop_reason or "running",
        )


def _spent(before: Usage, after: Usage) -> dict[str, int]:
    """The counts recorded between two readings of a ledger (a step's own cost, for its trace entry)."""
    return {
        name: int(value) - int(getattr(before, name))
        for name, value in after.to_dict().items()
        if name != "wall_seconds"
    }
