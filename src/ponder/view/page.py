"""One run drawn the way a user thinks about it, and a solve's result written as a page.

A run's view has, in order: its outcome (question, answer, stop reason, settings); the votes
per answer; for step-level searches the tree (:mod:`ponder.view.tree`); for pipelines the
layers (:mod:`ponder.view.pipeline`); every candidate with its answer, votes and score
(:mod:`ponder.view.samples`); and the usage of every step (:mod:`ponder.view.usage`). Which
sections appear follows from what the trace holds, so a plug-in strategy whose trace has the
same keys is drawn the same way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ponder.core.errors import InvalidInputError
from ponder.core.result import SolveResult
from ponder.core.text import check_text
from ponder.view.html import Html, document, h, join
from ponder.view.model import RunView, from_result
from ponder.view.pipeline import pipeline_section
from ponder.view.samples import candidates, outcome, votes
from ponder.view.tree import tree_section
from ponder.view.usage import usage_table


def trace_sections(run: RunView, trace: Sequence[Mapping[str, Any]], key: str) -> Html:
    """What a trace shows beyond the samples: its tree and its pipeline layers (nested traces
    of a pipeline's strategy components drawn the same way, with their usage)."""
    nested_usage = trace is not run.trace
    parts = [tree_section(run, trace, key), pipeline_section(run, trace, key, trace_sections)]
    if nested_usage:
        parts.append(h("details", h("summary", "its steps"), usage_table(trace, {})))
    return join(parts)


def render_run(run: RunView, *, back: str | None = None) -> Html:
    """A run's section of a page (its element ids start with ``run.key``); ``back``: the id of
    an index to link back to."""
    return h(
        "section",
        h("h2", run.title),
        h("p", h("a", "↑ index", href="#" + back), class_="note") if back else None,
        outcome(run),
        votes(run),
        trace_sections(run, run.trace, run.key),
        candidates(run),
        usage_table(run.trace, run.usage),
        class_="run",
        id=run.key,
    )


def render_result_page(result: SolveResult) -> str:
    """A solve's result as a complete HTML page."""
    run = from_result(result)
    return document(f"ponder: {result.strategy}", join([h("h1", "ponder run"), render_run(run)]))


def write_page(text: str, path: str | Path) -> None:
    """Write a page, refusing text that is not valid Unicode and naming the file on failure."""
    target = Path(path)
    check_text(text, "the page (text of the run)")
    try:
        target.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InvalidInputError(f"cannot write the page {target}: {exc.strerror or exc}") from None


def write_result_page(result: SolveResult, path: str | Path) -> None:
    """Write ``result`` (its samples, votes, search tree or pipeline layers, and usage per step)
    as one self-contained HTML page at ``path``."""
    write_page(render_result_page(result), path)
