"""The report's table: one row of formatted cells per configuration, rendered as Markdown.

The cells are computed once (:func:`table_cells`) so that the Markdown file and the HTML page
show exactly the same numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ponder.bench.types import ConfigSummary, PairedDifference


def _percent(value: float) -> str:
    return f"{100 * value:.1f}%"


def _points(value: float) -> str:
    return f"{100 * value:+.1f} pp"


def _difference(versus: PairedDifference | None, summary: ConfigSummary) -> tuple[str, str]:
    """Cells for the paired difference: estimate (with n when fewer problems are shared) and CI."""
    if summary.is_baseline:
        return "baseline", ""
    if versus is None:
        return "n/a (no shared problems)", ""
    shared = "" if versus.problems == summary.problems else f" (n={versus.problems})"
    return _points(versus.difference) + shared, f"[{_points(versus.low)}, {_points(versus.high)}]"


def table_cells(summaries: Sequence[ConfigSummary], *, baseline: bool) -> tuple[list[str], list[list[str]]]:
    """The header and the rows of the report table, as display strings.

    ``baseline`` adds the two paired-difference columns.
    """
    header = [
        "Configuration",
        "Problems",
        "Accuracy",
        "Accuracy 95% CI",
        "Tokens/problem",
        "Completion tokens/problem",
        "Seconds/problem",
    ]
    if baseline:
        header += ["Δ accuracy vs baseline", "Δ 95% CI"]
    header.append("Pareto")
    rows = []
    for s in summaries:
        row = [
            s.label,
            str(s.problems),
            _percent(s.accuracy),
            f"[{_percent(s.low)}, {_percent(s.high)}]",
            f"{s.tokens:,.0f}",
            f"{s.completion_tokens:,.0f}",
            f"{s.seconds:.2f}",
        ]
        if baseline:
            row += list(_difference(s.versus_baseline, s))
        row.append("★" if s.on_frontier else "")
        rows.append(row)
    return header, rows


def _markdown_cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def markdown_table(summaries: Sequence[ConfigSummary], *, note: str, baseline: bool, image: str | None = None) -> str:
    """The report as Markdown: a title, the table, the one-line method ``note`` under it, and the
    picture at the relative path ``image`` when given."""
    header, rows = table_cells(summaries, baseline=baseline)
    right = {
        "Problems",
        "Accuracy",
        "Tokens/problem",
        "Completion tokens/problem",
        "Seconds/problem",
        "Δ accuracy vs baseline",
    }
    lines = [
        "# Benchmark report",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---:" if h in right else "---" for h in header) + "|",
    ]
    lines += ["| " + " | ".join(_markdown_cell(c) for c in row) + " |" for row in rows]
    lines += ["", note, ""]
    if image is not None:
        lines += [f"![Accuracy against tokens per problem]({image})", ""]
    return "\n".join(lines)


def write_markdown(
    path: Path, summaries: Sequence[ConfigSummary], *, note: str, baseline: bool, image: str | None = None
) -> None:
    """Write :func:`markdown_table` to ``path`` (UTF-8)."""
    path.write_text(markdown_table(summaries, note=note, baseline=baseline, image=image), encoding="utf-8")
