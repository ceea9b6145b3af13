"""The report's picture: accuracy (95% CI) against mean tokens per problem, with the Pareto frontier
and, for each configuration family whose saturation budget N* lies within its stored budgets, a
cross at N* (tokens interpolated between the neighbouring budgets, accuracy from the fitted curve).

Drawn on a bare :class:`matplotlib.figure.Figure` with the Agg canvas, so no pyplot state and no
interactive backend is involved. matplotlib is imported when a picture is drawn: it takes longer
to import than the rest of the CLI, which imports this module.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ponder.bench.report_saturation import BudgetSaturation
from ponder.bench.types import ConfigSummary

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

_LABEL_OFFSETS = ((6, 6), (6, -12))  # alternated along x so that neighbouring labels overlap less


def _mark_saturation(ax: Axes, saturation: Sequence[BudgetSaturation], strategies: Sequence[str]) -> None:
    """A cross per family at its saturation budget, where N* lies within the stored budgets."""
    labelled = False
    for s in saturation:
        tokens, accuracy = s.tokens_at_saturation(), None if s.budget is None else s.fitted_accuracy(s.budget)
        if tokens is None or accuracy is None:
            continue
        colour = f"C{strategies.index(s.strategy) % 10}" if s.strategy in strategies else "black"
        ax.plot(
            [tokens],
            [accuracy],
            marker="X",
            markersize=9,
            color=colour,
            markeredgecolor="black",
            linestyle="none",
            zorder=4,
            label=None if labelled else "saturation budget N* (TTSPM fit)",
        )
        text = f"N*={s.budget}" + (" (unreliable)" if s.unreliable else "")
        ax.annotate(text, (tokens, accuracy), xytext=(-8, 10), textcoords="offset points", fontsize=7)
        labelled = True


def accuracy_figure(summaries: Sequence[ConfigSummary], saturation: Sequence[BudgetSaturation] = ()) -> Figure:
    """A figure with one point per configuration (coloured by strategy, labelled, with CI error
    bars) on a log token axis, the Pareto frontier as a step line through ringed points, and each
    family's saturation budget as a cross (where it lies within the family's stored budgets)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # heavy: imported when drawing
    from matplotlib.figure import Figure
    from matplotlib.ticker import LogFormatter, PercentFormatter

    figure = Figure(figsize=(9, 5.5), dpi=120)
    FigureCanvasAgg(figure)
    ax = figure.add_subplot()
    strategies = list(dict.fromkeys(s.strategy for s in summaries))
    for colour, strategy in enumerate(strategies):
        group = [s for s in summaries if s.strategy == strategy]
        ax.errorbar(
            [s.tokens for s in group],
            [s.accuracy for s in group],
            yerr=[[s.accuracy - s.low for s in group], [s.high - s.accuracy for s in group]],
            fmt="o",
            color=f"C{colour % 10}",
            capsize=3,
            label=strategy,
        )
    for rank, s in enumerate(sorted(summaries, key=lambda s: s.tokens)):
        ax.annotate(
            s.label, (s.tokens, s.accuracy), xytext=_LABEL_OFFSETS[rank % 2], textcoords="offset points", fontsize=7
        )
    frontier = sorted((s for s in summaries if s.on_frontier), key=lambda s: (s.tokens, -s.accuracy))
    xs, ys = [s.tokens for s in frontier], [s.accuracy for s in frontier]
    ax.step(xs, ys, where="post", color="black", linewidth=1, linestyle="--", label="Pareto frontier")
    ax.scatter(xs, ys, s=140, facecolors="none", edgecolors="black", linewidths=1.2, zorder=3)
    _mark_saturation(ax, saturation, strategies)
    if min(s.tokens for s in summaries) > 0:
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(LogFormatter(labelOnlyBase=False))  # 200, not 2x10^2
        ax.xaxis.set_minor_formatter(LogFormatter(labelOnlyBase=False))
    else:
        ax.set_xscale("symlog", linthresh=1.0)
    ax.margins(x=0.15, y=0.08)  # room for the labels of the outermost points
    ax.yaxis.set_major_formatter(PercentFormatter(xmax=1.0))
    ax.set_xlabel("mean tokens per problem (prompt + completion + scorer, log scale)")
    ax.set_ylabel("accuracy (95% bootstrap CI)")
    ax.set_title("Accuracy against compute")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    figure.tight_layout()
    return figure


def write_plot(path: Path, summaries: Sequence[ConfigSummary], saturation: Sequence[BudgetSaturation] = ()) -> None:
    """Write :func:`accuracy_figure` to ``path`` as PNG (no timestamp or software metadata, so the
    same data gives the same bytes)."""
    accuracy_figure(summaries, saturation).savefig(path, format="png", metadata={"Software": None})
