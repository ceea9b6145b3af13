"""The tune report as one self-contained HTML page, in the style of :mod:`ponder.bench.report_html`:
the setup, the chosen configuration's accuracies, the noise note, the picture (a base64 PNG) and
the explored configurations. Inline CSS, no script; every text is HTML-escaped.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from html import escape
from pathlib import Path

from ponder.tune.outcome import TuneOutcome

_CSS = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #222; max-width: 80rem; }
table { border-collapse: collapse; margin: 0.5rem 0; font-size: 0.9rem; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.5rem; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
.note { color: #555; font-size: 0.85rem; }
img { max-width: 100%; height: auto; }
"""

Cells = tuple[list[str], list[list[str]]]


def _table(cells: Cells) -> str:
    header, rows = cells
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    # the cells are Markdown-ready: undo the one Markdown escape they carry
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(c.replace(chr(92) + '|', '|'))}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def page_html(
    outcome: TuneOutcome,
    *,
    png: bytes,
    setup: Sequence[str],
    chosen: Cells,
    trials: Cells,
    note: str,
) -> str:
    """The whole page with ``png`` embedded as a data URI."""
    image = base64.b64encode(png).decode("ascii")
    items = "".join(f"<li>{escape(line)}</li>" for line in setup)
    if outcome.chosen is None:
        chosen_html = "<p>No configuration was chosen (no feasible trial).</p>"
    else:
        label = escape(f"Trial {outcome.chosen.number}: {outcome.chosen.label}")
        chosen_html = f"<p>{label}</p>" + (_table(chosen) if chosen[1] else "<p>(no scores recorded)</p>")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Tune report: {escape(outcome.dataset)}</title><style>{_CSS}</style></head><body>"
        f"<h1>Tune report: {escape(outcome.dataset)}</h1><ul>{items}</ul>"
        f"<h2>Chosen configuration</h2>{chosen_html}"
        f'<p class="note">{escape(note)}</p>'
        f'<img alt="Train accuracy against tokens per problem" src="data:image/png;base64,{image}">'
        f"<h2>Explored configurations (sorted by train accuracy)</h2>{_table(trials)}"
        "</body></html>\n"
    )


def write_html(
    path: Path,
    outcome: TuneOutcome,
    *,
    png: Path,
    setup: Sequence[str],
    chosen: Cells,
    trials: Cells,
    note: str,
) -> None:
    """Write :func:`page_html` to ``path`` (UTF-8), embedding the PNG file at ``png``."""
    page = page_html(outcome, png=png.read_bytes(), setup=setup, chosen=chosen, trials=trials, note=note)
    path.write_text(page, encoding="utf-8")
