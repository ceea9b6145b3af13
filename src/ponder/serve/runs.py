"""Where a request's strategy runs execute: a worker thread's event loop, never the server's.

The server's event loop only reads requests, writes responses and answers ``/health``; all the
strategy work (engine calls, answer extraction, voting, search) runs on :class:`RunLoop`, one
thread with its own event loop, shared by every request (an engine keeps one event loop for its
connections, so all runs use the same one). CPU-bound work in a run (a slow regex, a large vote)
therefore delays other runs, never the server: it keeps answering, and it enforces the request
deadline itself (:func:`wait_for_run`), cancelling a run that overruns or whose client hung up.

A thread cannot be stopped from outside: a cancelled run stops at its next ``await``. Its run slot
is given back only then (``on_end``), so a run stuck in CPU work keeps counting against
``max_concurrent`` and the server refuses new runs with 429 rather than piling them up behind it.
C code that holds the GIL for long (Python's ``re`` does) stalls every thread, the server's
included: client-supplied patterns use a bounded regex engine (:mod:`ponder.core.patterns`).

Code the model writes (program of thought, unit tests) runs in the sandbox with the
``python-only`` filesystem view (:mod:`ponder.sandbox.view`): the program sees the interpreter's
files and its working directory, not the server's, so its printout, which becomes an answer,
cannot carry them to a client. That view needs the sandbox's namespace layers; without them such
runs fail (turn code execution off there: ``ponder serve --code-execution off``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import threading
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from typing import Any, TypeVar

from ponder.core.errors import PonderError
from ponder.core.result import SolveResult
from ponder.engines.base import Engine
from ponder.memory import Memory, MemoryStoreError
from ponder.sandbox import Filesystem, filesystem_view
from ponder.serve.chunks import delta_line
from ponder.serve.completion import Job
from ponder.serve.interrupts import JobRuns
from ponder.serve.logs import log_event
from ponder.serve.reasoning import ReasoningText
from ponder.serve.stops import with_stops
from ponder.strategies import StrategyRun

SANDBOX_FILESYSTEM: Filesystem = "python-only"
T = TypeVar("T")
Note = Callable[[str], None]


class RunTimeout(Exception):
    """The run was still going at the request's hard deadline (it has been cancelled)."""


class ClientGone(Exception):
    """The client hung up while its run was going (it has been cancelled)."""


class RunLoop:
    """An event loop on its own daemon thread; :meth:`submit` schedules a coroutine on it."""

    def __init__(self, name: str = "ponder-runs") -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_forever()
            pending = asyncio.all_tasks(self.loop)
            for task in pending:
                task.cancel()
            self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        finally:
            self.loop.close()

    def submit(
        self, work: Coroutine[Any, Any, T], on_end: Callable[[], None] | None = None
    ) -> concurrent.futures.Future[T]:
        """Run ``work`` on the loop; ``on_end`` is called on the loop's thread when it has really
        ended (finished, failed or cancelled), which for a cancelled run may be well after the
        returned future says so."""
        return asyncio.run_coroutine_threadsafe(_ending(work, on_end), self.loop)

    def close(self, final: Coroutine[Any, Any, Any] | None = None, timeout: float = 10.0) -> None:
        """Run ``final`` (closing the engine, whose connections belong to this loop), cancel what
        is left and stop the thread."""
        if not self._thread.is_alive():
            if final is not None:
                final.close()
            return
        if final is not None:
            with contextlib.suppress(concurrent.futures.TimeoutError, concurrent.futures.CancelledError):
                self.submit(final).result(timeout)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout)

    def stop_soon(self) -> None:
        """Stop the thread without waiting (for a finalizer)."""
        if self._thread.is_alive() and not self.loop.is_closed():
            with contextlib.suppress(RuntimeError):  # closed meanwhile
                self.loop.call_soon_threadsafe(self.loop.stop)


async def _ending(work: Coroutine[Any, Any, T], on_end: Callable[[], None] | None) -> T:
    try:
        return await work
    finally:
        if on_end is not None:
            on_end()


async def run_job(
    job: Job,
    engine: Engine,
    note: Note | None = None,
    live: JobRuns | None = None,
    memory: Memory | None = None,
) -> list[SolveResult]:
    """Every run of ``job`` at once (on the run loop), generating with ``job.stop`` added to their
    requests (:mod:`ponder.serve.stops`; judges use ``engine`` as it is). ``note`` hears, as SSE
    lines, each choice's leading sample as ``reasoning_content`` chunks (:mod:`ponder.serve.reasoning`)
    and each finished step as a comment line. The first failure cancels the other runs and is
    raised as it is. Sandboxed programs of these runs see the :data:`SANDBOX_FILESYSTEM` view
    (tasks inherit it). ``live`` takes the runs while they go, for interrupts and updates
    (:mod:`ponder.serve.interrupts`). ``memory`` (the operator's) is read before the runs start, each
    plan's concepts going into its system prompt, and written after they end, by its policy."""
    generator = with_stops(engine, job.stop)
    try:
        with operator_memory():
            plans = [await p.recalling(memory, engine) for p in job.plans] if memory is not None else list(job.plans)
    except BaseException:
        if live is not None:
            live.end()
        raise
    runs = [p.start(generator, engine) for p in plans]
    try:
        if live is not None:
            live.attach(runs)
        with filesystem_view(SANDBOX_FILESYSTEM):
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(_drive(job, i, run, note)) for i, run in enumerate(runs)]
    except BaseExceptionGroup as failed:
        raise failed.exceptions[0] from None
    finally:
        if live is not None:
            live.end()
    results = [task.result() for task in tasks]
    if memory is None:
        return results
    with operator_memory():
        return [await p.remember(result, memory, engine) for p, result in zip(plans, results, strict=True)]


@contextlib.contextmanager
def operator_memory() -> Iterator[None]:
    """The operator's memory failing (a file busy past its timeout, a broken file) is the server's
    problem, not the request's: the client gets a 500 that does not name the server's file; the
    log has the reason."""
    try:
        yield
    except MemoryStoreError as exc:
        log_event("memory_failed", reason=str(exc))
        raise PonderError("the server's concept memory cannot be used right now; try again later") from None


async def _drive(job: Job, index: int, run: StrategyRun, note: Note | None) -> SolveResult:
    try:
        if note is not None:
            say = note  # bound here: the watcher outlives the narrowing of `note`
            run.ctx.watch(
                ReasoningText(lambda text: say(delta_line(job, index, reasoning_content=text)), run.ctx.task.extract)
            )
        while await run.step():
            if note is not None:
                step = run.trace[-1]
                progress = {
                    "choice": index,
                    "step": step["step"],
                    "action": step.get("action"),
                    "votes": step.get("votes"),
                }
                note(f": ponder {json.dumps(progress)}\n\n")
        return run.result()
    finally:
        await run.close()


def notifier(queue: asyncio.Queue[str]) -> Note:
    """A :data:`Note` that the run loop may call: it puts lines on ``queue`` in the caller's loop."""
    loop = asyncio.get_running_loop()

    def note(line: str) -> None:
        with contextlib.suppress(RuntimeError):  # the server's loop has closed: nobody listens any more
            loop.call_soon_threadsafe(queue.put_nowait, line)

    return note


async def wait_for_run(
    future: concurrent.futures.Future[T],
    deadline: float,
    gone: Callable[[], Awaitable[bool]] | None = None,
    poll: float = 0.25,
) -> T:
    """The result of ``future`` (a run on the run loop), awaited on the server's loop.

    Past ``deadline`` (the loop's clock) the run is cancelled and :class:`RunTimeout` raised;
    when ``gone()`` says the client left, it is cancelled and :class:`ClientGone` raised.
    """
    waiting = asyncio.wrap_future(future)
    loop = asyncio.get_running_loop()
    try:
        while True:
            left = deadline - loop.time()
            if left <= 0:
                future.cancel()
                raise RunTimeout
            done, _ = await asyncio.wait({waiting}, timeout=min(poll, left))
            if done:
                return waiting.result()
            if gone is not None and await gone():
                future.cancel()
                raise ClientGone
    except asyncio.CancelledError:
        future.cancel()
        raise
