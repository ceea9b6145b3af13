"""The generic loop: step a strategy until it is done, its budget runs out, or it is interrupted.

    run = StrategyRun(SelfConsistency(params), ctx)
    await run.step()            # one step at a time, or
    result = await run.run()    # to the end
    run.interrupt("hard")       # from another task or thread: answer now, from the partial reasoning
    run.interrupt("soft")       # conclude soon: live samples are told time is short
    run.update("It is 5 apples, not 3.")  # new information for live and later samples
    run.result()                # the best answer so far, at any moment

Interrupts (:mod:`ponder.context.interrupts`) reach every live sample of the run. A hard interrupt
concludes them (each answers from its partial reasoning after an answer cue), the step in
progress finishes over those answers, and the run stops (``stop_reason="interrupted"``). When no
sample is live (the step is scoring, or searching step-wise, or between steps), a hard interrupt
stops at once and the result keeps the best answer of the steps already finished; so does a step
that asks for new generations after a hard interrupt. A soft interrupt lets the live samples
conclude under a reduced budget and stops the run after the step in progress. An update goes to
the live samples and to every later one; the run goes on. A hard interrupt that follows one
already delivered to live samples never drops the step: those samples are answering, and the
step finishes over their answers; a soft interrupt or an update leaves a sample that is answering
alone. ``interrupt``, ``update`` and ``interrupt_at`` may be called from any thread: they check
their arguments in the calling thread (raising there) and take effect on the run's event loop
(signals sent before the run's first step wait for it). What they did is in the trace
(an ``interrupt`` entry after the step: the signals, each sample reached with the tokens it had
generated and the extra tokens spent after it) and in ``usage.interrupt_tokens``.

A step cut short (a hard interrupt with nothing live, or the time budget) leaves the state as it
was before that step. Each trace entry is the step's :class:`~ponder.strategies.base.StepInfo`
with its number and its usage (what the ledger recorded during the step: generator and judge
tokens and calls).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import threading
from collections.abc import Callable
from typing import Any, Literal

from ponder.context import StepContext
from ponder.context.interrupts import MODES, Mode, RunInterrupted
from ponder.core.errors import InvalidInputError
from ponder.core.result import SolveResult
from ponder.core.text import check_text
from ponder.core.usage import Usage
from ponder.strategies.base import Algorithm

Interrupt = Literal["hard", "soft"]


class StrategyRun:
    """One strategy on one question, with its state, trace and stop reason."""

    def __init__(self, algorithm: Algorithm[Any], ctx: StepContext) -> None:
        self.algorithm = algorithm
        self.ctx = ctx
        self.state = algorithm.init(ctx)
        self.trace: list[dict[str, Any]] = []
        self.stop_reason: str | None = None
        self._interrupted = asyncio.Event()  # stop at once: the step in progress is dropped
        self._finishing = False  # stop after the step in progress
        self._hard_delivered = False  # a hard interrupt reached live samples: they are answering
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()
        self._waiting: list[tuple[Callable[..., None], tuple[Any, ...]]] = []  # sent before the first step

    # -- interrupts (any thread) -----------------------------------------------------------------

    def interrupt(self, mode: Interrupt = "hard") -> None:
        """Interrupt the run: ``hard`` (answer now from the partial reasoning, then stop) or
        ``soft`` (conclude soon, then stop); see the module docstring."""
        if mode not in ("hard", "soft"):
            raise InvalidInputError(f"unknown interrupt {mode!r}; use 'hard' or 'soft' (or update(text))")
        self._on_loop(self._signal, mode, "")

    def update(self, text: str) -> None:
        """Give the run new information: live samples read it as an update note and go on; later
        samples see it after the question."""
        _check_update(text)
        self._on_loop(self._signal, "update", text)

    def interrupt_at(self, tokens: int, mode: Mode = "hard", text: str = "") -> None:
        """Signal ``mode`` (an update with ``text``) once a live sample has generated ``tokens``
        tokens (benchmarks interrupt at a point of the reasoning this way)."""
        if mode not in MODES:
            raise InvalidInputError(f"unknown interrupt {mode!r}; use 'hard', 'soft' or 'update'")
        if isinstance(tokens, bool) or not isinstance(tokens, int) or tokens < 1:
            raise InvalidInputError(f"an interrupt point must be a whole number of tokens >= 1, got {tokens!r}")
        if mode == "update":
            _check_update(text)
        self._on_loop(self.ctx.interrupts.at_tokens, tokens, lambda: self._signal(mode, text))

    def _on_loop(self, action: Callable[..., None], *args: Any) -> None:
        """Run ``action`` on the run's event loop: now when called there, scheduled there from
        another thread, or (before the run's first step) when that step begins, on its loop."""
        with self._lock:
            loop = self._loop
            if loop is None:
                self._waiting.append((action, args))
                return
        if loop.is_closed():
            action(*args)  # the run is over (its loop is gone): nothing can race with it
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            action(*args)
            return
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: the run is over
            loop.call_soon_threadsafe(action, *args)

    def _bind(self) -> None:
        """Bind the run to the running loop (at each step) and apply what was sent before."""
        with self._lock:
            self._loop = asyncio.get_running_loop()
            waiting, self._waiting = self._waiting, []
        for action, args in waiting:
            action(*args)

    def _signal(self, mode: Mode, text: str) -> None:
        if self.stop_reason is not None:
            return  # the run is over: nothing to interrupt
        reached = self.ctx.interrupts.signal(mode, text)
        if mode in ("hard", "soft"):
            self._finishing = True
        if mode == "hard":
            if reached:
                self._hard_delivered = True
            elif not self._hard_delivered:
                self._interrupted.set()  # nothing live to conclude: stop at once

    # -- stepping --------------------------------------------------------------------------------

    def _why_stop(self) -> str | None:
        if self._interrupted.is_set() or self._finishing:
            return "interrupted"
        if self.algorithm.done(self.state, self.ctx):
            return "done"
        return self.ctx.ledger.limit_reached()

    async def step(self) -> bool:
        """Run one step; False when the run has stopped (see :attr:`stop_reason`)."""
        self._bind()
        if self.stop_reason is None:
            self.stop_reason = self._why_stop()
        if self.stop_reason is not None:
            self._note_interrupts()
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
            self._note_interrupts()
            return False
        try:
            self.state, info = work.result()
        except RunInterrupted:  # the step asked for more after a hard interrupt: it is dropped
            self.stop_reason = "interrupted"
            self._note_interrupts()
            return False
        used = _spent(before, self.ctx.ledger.recorded())
        self.trace.append({"step": len(self.trace) + 1, **info.to_dict(), "usage": used})
        self._note_interrupts()
        return True

    def _note_interrupts(self) -> None:
        """Put the interrupts not yet traced in the trace (after the step they happened in)."""
        entry = self.ctx.interrupts.trace_entry()
        if entry is not None:
            self.trace.append({"step": len(self.trace) + 1, **entry})

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
            question=self.ctx.asked,
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


def _check_update(text: str) -> None:
    """Refuse an update that is not text, empty, or not valid Unicode (in the caller's thread)."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidInputError("the update is empty")
    check_text(text, "the update")


def _spent(before: Usage, after: Usage) -> dict[str, int]:
    """The counts recorded between two readings of a ledger (a step's own cost, for its trace entry)."""
    return {
        name: int(value) - int(getattr(before, name))
        for name, value in after.to_dict().items()
        if name != "wall_seconds"
    }
