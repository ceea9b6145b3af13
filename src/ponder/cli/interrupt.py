"""Ctrl-C in ``ponder solve``: the first press interrupts the run (hard), the second aborts.

:func:`solve_interruptibly` solves a question like ``ponder.solve`` (an engine created for the
call and closed after it), as an interruptible run. While the run goes, SIGINT is caught: the
first makes every live sample answer from its partial reasoning (``run.interrupt("hard")``,
:mod:`ponder.strategies.runner`), and the run returns that answer as usual, with
``stop_reason="interrupted"``; a second one cancels the run and raises :class:`KeyboardInterrupt`.
Before the run starts (while a model loads) and where signal handlers cannot be set (not the main
thread, Windows), Ctrl-C aborts at once, as before. With a concept memory (``--memory``), it is
read before the run starts and written after it ends (:meth:`ponder.api.RunPlan.remember`).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import click

from ponder.api import open_engine, plan
from ponder.core.errors import InvalidInputError
from ponder.core.result import SolveResult
from ponder.memory import Memory
from ponder.memory.memory import WritePolicy
from ponder.strategies import StrategyRun

NOTICE = "interrupted: answering from the partial reasoning (Ctrl-C again to abort)"


def solve_interruptibly(
    question: str,
    *,
    engine: str | None = None,
    engine_options: Mapping[str, Any] | None = None,
    on_start: Callable[[StrategyRun], None] | None = None,
    memory: Memory | None = None,
    **run_options: Any,
) -> SolveResult:
    """Answer ``question`` on a new engine ``engine`` (options ``engine_options``); the other
    keyword arguments are :func:`ponder.api.plan`'s. ``on_start`` sees the run before it starts
    (to watch it). ``memory`` is read before the run and written after it (by its write policy;
    nothing here verifies an answer). Ctrl-C: see the module docstring."""
    try:
        return asyncio.run(_solve(question, engine, dict(engine_options or {}), on_start, memory, run_options))
    except asyncio.CancelledError:  # the second Ctrl-C cancelled the run
        raise KeyboardInterrupt from None


async def _solve(
    question: str,
    engine: str | None,
    engine_options: dict[str, Any],
    on_start: Callable[[StrategyRun], None] | None,
    memory: Memory | None,
    run_options: dict[str, Any],
) -> SolveResult:
    checked = plan(question, **run_options)  # before any model is loaded
    backend = open_engine(engine, engine_options=engine_options)
    try:
        if memory is not None:
            checked = await checked.recalling(memory, backend)
        run = checked.start(backend)
        if on_start is not None:
            on_start(run)
        with ctrl_c_interrupts(run):
            result = await run.run()
        return result if memory is None else await checked.remember(result, memory, backend)
    finally:
        await backend.aclose()


@contextlib.contextmanager
def open_memory(path: str | None, write: str | None, select: str | None) -> Iterator[Memory | None]:
    """``ponder solve``'s memory (``--memory FILE``, ``--memory-write``, ``--memory-select``),
    opened before any model loads and closed after; it writes only when told ``confident``."""
    if path is None:
        if write is not None or select is not None:
            raise InvalidInputError("--memory-write and --memory-select apply with --memory FILE")
        yield None
        return
    policy: WritePolicy = "confident" if write == "confident" else "never"
    with Memory(path, write=policy, selection="model" if select == "model" else "lexical") as memory:
        yield memory


@contextlib.contextmanager
def ctrl_c_interrupts(run: StrategyRun, notice: Callable[[str], None] | None = None) -> Iterator[None]:
    """While inside, the first SIGINT interrupts ``run`` (hard) and the second cancels the task
    that entered (call it in a task on the running loop, on the main thread)."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    presses = 0
    say = notice or (lambda text: click.echo(f"ponder: {text}", err=True))

    def pressed() -> None:
        nonlocal presses
        presses += 1
        if presses == 1:
            say(NOTICE)
            run.interrupt("hard")
        elif task is not None:
            task.cancel()

    try:
        loop.add_signal_handler(signal.SIGINT, pressed)
    except (NotImplementedError, RuntimeError, ValueError):  # no handlers here: Ctrl-C aborts
        yield
        return
    try:
        yield
    finally:
        loop.remove_signal_handler(signal.SIGINT)
