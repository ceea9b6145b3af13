"""The live view of ``ponder solve``: the samples growing and the vote, redrawn in the terminal.

:class:`LiveView` watches a run (:meth:`attach`, through the run context's watcher,
:mod:`ponder.context.watch`) into a :class:`~ponder.context.live.LiveSamples` and redraws
:func:`render_live` at most every ``interval`` seconds, with a ``rich`` live display that
disappears when the run ends (the result is printed after it). It is shown only where a person
is watching: :func:`wants_live` is false with ``--quiet`` or ``--json`` and when the output is
not a terminal (a pipe, a file).

The view is a table of samples (number, tokens so far, state, answer, the last line of text;
the live ones first, then the latest that ended; the leading sample marked ``>``), then the vote
so far (answers of the samples that ended) and how many samples there are.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from types import TracebackType
from typing import TextIO

from rich import box
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from ponder.context.live import LiveSample, LiveSamples, vote_text
from ponder.context.watch import SampleEvent
from ponder.strategies import StrategyRun

MAX_ROWS = 12


def wants_live(*, quiet: bool, as_json: bool, stream: TextIO) -> bool:
    """Whether to show the live view: not asked away (``--quiet``, ``--json``) and ``stream`` is a
    terminal that can redraw (not ``TERM=dumb``)."""
    if quiet or as_json:
        return False
    try:
        terminal = stream.isatty()
    except (AttributeError, ValueError):  # a closed or unusual stream
        return False
    return terminal and os.environ.get("TERM") != "dumb"


def _rows(samples: LiveSamples, max_rows: int) -> tuple[list[LiveSample], int]:
    """The samples shown (the live ones, then the latest ended, in order) and how many are not."""
    live = samples.live()[:max_rows]
    ended = [s for s in samples.samples.values() if not s.live]
    recent = ended[len(ended) - (max_rows - len(live)) :] if len(live) < max_rows else []
    shown = sorted(live + recent, key=lambda s: s.number)
    return shown, len(samples.samples) - len(shown)


def render_live(samples: LiveSamples, *, title: str = "", max_rows: int = MAX_ROWS) -> RenderableType:
    """The live view of ``samples`` (see the module docstring) as a ``rich`` renderable."""
    table = Table(title=title or None, title_justify="left", expand=True, pad_edge=False, box=box.SIMPLE_HEAD)
    table.add_column("", width=1, no_wrap=True)
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("tokens", justify="right", no_wrap=True)
    table.add_column("state", no_wrap=True)
    table.add_column("answer", no_wrap=True, max_width=16, overflow="ellipsis")
    table.add_column("last line", no_wrap=True, overflow="ellipsis", ratio=1)
    leader = samples.leader()
    shown, hidden = _rows(samples, max_rows)
    for sample in shown:
        answer = samples.current_answer(sample)
        table.add_row(
            ">" if sample.key == leader else "",
            str(sample.number),
            str(sample.tokens),
            Text("live", style="green") if sample.live else Text(sample.finish_reason or "", style="dim"),
            Text(answer or "", style="dim" if sample.live else "bold"),
            Text(sample.last_line()),
            style="bold" if sample.key == leader else None,
        )
    live = len(samples.live())
    more = f", {hidden} not shown" if hidden else ""
    footer = Text.assemble(
        ("vote: ", "bold"), vote_text(samples.votes()), f"   samples: {len(samples.samples)} ({live} live{more})"
    )
    return Group(table, footer)


class LiveView:
    """A run's live view on ``console`` (see the module docstring); use as a context manager
    around the run, and pass :meth:`attach` as the run's ``on_start``."""

    def __init__(
        self,
        console: Console,
        *,
        interval: float = 0.1,
        max_rows: int = MAX_ROWS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.samples = LiveSamples()
        self.title = ""
        self.interval = interval
        self.max_rows = max_rows
        self._clock = clock
        self._drawn = -float("inf")
        self._live = Live(console=console, auto_refresh=False, transient=True)

    def attach(self, run: StrategyRun) -> None:
        """Watch ``run``: its task reads the answers, its strategy and budget head the view."""
        self.samples.extract = run.ctx.task.extract
        self.title = f"{run.algorithm.name}, budget {run.ctx.budget.generations}"
        run.ctx.watch(self)

    def __call__(self, event: SampleEvent) -> None:
        self.samples.apply(event)
        now = self._clock()
        if now - self._drawn >= self.interval:
            self._drawn = now
            self.draw()

    def draw(self) -> None:
        self._live.update(render_live(self.samples, title=self.title, max_rows=self.max_rows), refresh=True)

    def __enter__(self) -> LiveView:
        self._live.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._live.stop()
