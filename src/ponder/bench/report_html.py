"""The report as one self-contained HTML page: the table, the picture, and a per-problem drill-down.

The page shows, in order: the table, its method note, the picture, the saturation budgets
(``report_saturation``) and the drill-down. Everything is inline (CSS in a ``<style>`` element,
the PNG as a base64 data URI, collapsible sections as ``<details>``), so the file can be mailed
or archived alone and needs no script.
Every text that comes from the database is HTML-escaped.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import Any

from ponder.bench.report_saturation import BudgetSaturation, saturation_html
from ponder.bench.report_table import table_cells
from ponder.bench.types import BenchRow, CandidateRow, ConfigSummary

_CSS = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #222; max-width: 80rem; }
table { border-collapse: collapse; margin: 0.5rem 0; font-size: 0.9rem; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.5rem; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
.note { color: #555; font-size: 0.85rem; }
img { max-width: 100%; height: auto; }
details { margin: 0.25rem 0; }
details.config > summary { font-weight: 600; }
details.problem { margin-left: 1.5rem; }
pre { background: #f7f7f7; padding: 0.5rem; overflow-x: auto; white-space: pre-wrap; font-size: 0.8rem; }
.ok { color: #0a7a2f; font-weight: 700; }
.bad { color: #b3261e; font-weight: 700; }
dt { font-weight: 600; margin-top: 0.4rem; }
"""
_SNIPPET = 100  # characters of the question shown in a problem's summary line


def _mark(correct: Any) -> str:
    if correct is None:
        return "<span>?</span>"
    return '<span class="ok">✓</span>' if correct else '<span class="bad">✗</span>'


def _pretty(value: Any) -> str:
    return f"<pre>{escape(json.dumps(value, indent=2, ensure_ascii=False, default=str))}</pre>"


def _text(value: Any) -> str:
    return "—" if value is None else escape(str(value))


def table_html(summaries: Sequence[ConfigSummary], *, baseline: bool) -> str:
    """The report table (the same cells as the Markdown one) as an HTML ``<table>``."""
    header, rows = table_cells(summaries, baseline=baseline)
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _candidates_html(candidates: Sequence[CandidateRow]) -> str:
    if not candidates:
        return "<p>No candidates.</p>"
    rows = []
    for i, c in enumerate(candidates):
        text = f"<details><summary>text</summary><pre>{_text(c.text)}</pre></details>"
        rows.append(
            f"<tr><td>{i}</td><td>{_text(c.answer)}</td><td>{_mark(c.correct)}</td>"
            f"<td>{_text(c.score)}</td><td>{_text(c.completion_tokens)}</td>"
            f"<td>{_text(c.finish_reason)}</td><td>{text}</td></tr>"
        )
    head = "".join(f"<th>{h}</th>" for h in ("#", "answer", "correct", "score", "completion tokens", "finish", "text"))
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _record_html(row: BenchRow) -> str:
    """One problem: a collapsible section with its question, answers, candidates, votes and trace."""
    question = row.question
    snippet = question if len(question) <= _SNIPPET else question[:_SNIPPET] + "…"
    usage = (
        f"prompt {row.prompt_tokens} (computed {row.prompt_tokens_computed}), completion "
        f"{row.completion_tokens}, scorer {row.scorer_tokens} (prompt computed "
        f"{row.scorer_prompt_tokens_computed}) tokens; {row.engine_calls} engine"
        f" calls, {row.scorer_calls} scorer calls; {row.seconds:.2f} s"
    )
    return (
        f'<details class="problem"><summary>{_mark(row.correct)} {escape(row.problem_id)}: '
        f"{escape(' '.join(snippet.split()))}</summary><dl>"
        f"<dt>Question</dt><dd><pre>{escape(question)}</pre></dd>"
        f"<dt>Gold</dt><dd>{_text(row.gold)}</dd>"
        f"<dt>Answer</dt><dd>{_text(row.answer)} {_mark(row.correct)}</dd>"
        f"<dt>Stop reason</dt><dd>{_text(row.stop_reason)}</dd>"
        f"<dt>Usage</dt><dd>{escape(usage)}</dd>"
        f"<dt>Candidates</dt><dd>{_candidates_html(row.candidates)}</dd>"
        f"<dt>Votes</dt><dd>{_pretty(row.votes)}</dd>"
        f"<dt>Trace</dt><dd>{_pretty(list(row.trace))}</dd></dl></details>"
    )


def _config_html(summary: ConfigSummary) -> str:
    solved = sum(1 for r in summary.records if r.correct)
    problems = "".join(_record_html(r) for r in summary.records)
    return (
        f'<details class="config"><summary>{escape(summary.label)}: {solved}/{summary.problems} correct'
        f"</summary>{problems}</details>"
    )


def page_html(
    summaries: Sequence[ConfigSummary],
    *,
    png: bytes,
    note: str,
    baseline: bool,
    saturation: Sequence[BudgetSaturation] = (),
) -> str:
    """The whole page, with ``png`` embedded as a data URI and the ``saturation`` budgets under it."""
    image = base64.b64encode(png).decode("ascii")
    drill_down = "".join(_config_html(s) for s in summaries)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Benchmark report</title><style>{_CSS}</style></head><body>"
        f"<h1>Benchmark report</h1>{table_html(summaries, baseline=baseline)}"
        f'<p class="note">{escape(note)}</p>'
        f'<img alt="Accuracy against mean tokens per problem" src="data:image/png;base64,{image}">'
        f"{saturation_html(saturation)}"
        f"<h2>Problems</h2>{drill_down}</body></html>\n"
    )


def write_html(
    path: Path,
    summaries: Sequence[ConfigSummary],
    *,
    png: Path,
    note: str,
    baseline: bool,
    saturation: Sequence[BudgetSaturation] = (),
) -> None:
    """Write :func:`page_html` to ``path`` (UTF-8), embedding the PNG file at ``png``."""
    page = page_html(summaries, png=png.read_bytes(), note=note, baseline=baseline, saturation=saturation)
    path.write_text(page, encoding="utf-8")
