"""The tune report's picture: train accuracy (95% Wilson interval) against tokens per problem, one
point per explored configuration, the Pareto frontier as a step line, the chosen one starred.

Drawn like :mod:`ponder.bench.report_plot`: a bare :class:`matplotlib.figure.Figure` on the Agg
canvas (no pyplot state, no interactive backend), matplotlib imported only when drawing.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ponder.tune.intervals import wilson_interval
from ponder.tune.outcome import Trial, TuneOutcome

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


def _error_bars(trials: list[Trial]) -> list[list[float]]:
    low, high = [], []
    for t in trials:
        if t.train_n >= 1 and 0.0 <= t.train_accuracy <= 1.0:
            lo, hi = wilson_interval(t.train_accuracy, t.train_n)
        else:
            lo = hi = t.train_accuracy
        low.append(max(0.0, t.train_accuracy - lo))  # rounding can put an end a hair past the point
        high.append(max(0.0, hi - t.train_accuracy))
    return [low, high]


def _points(ax: Axes, trials: list[Trial], *, colour: str, marker: str, label: str) -> None:
    if trials:
        ax.errorbar(
            [t.tokens_per_problem for t in trials],
            [t.train_accuracy for t in trials],
            yerr=_error_bars(trials),
            fmt=marker,
            color=colour,
            capsize=3,
            label=label,
        )


def tune_figure(outcome: TuneOutcome) -> Figure:
    """The figure (see the module docstring); an empty, titled frame when there are no trials."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # heavy: imported when drawing
    from matplotlib.figure import Figure
    from matplotlib.ticker import PercentFormatter

    figure = Figure(figsize=(9, 5.5), dpi=120)
    FigureCanvasAgg(figure)
    ax = figure.add_subplot()
    trials = list(outcome.trials)
    _points(ax, [t for t in trials if t.feasible], colour="C0", marker="o", label="feasible configuration")
    _points(ax, [t for t in trials if not t.feasible], colour="0.6", marker="x", label="over the constraint")
    for t in trials:
        ax.annotate(
            f"#{t.number}",
            (t.tokens_per_problem, t.train_accuracy),
            xytext=(5, 4),
            textcoords="offset points",
            fontsize=7,
        )
    by_number = {t.number: t for t in trials}
    front = sorted((by_number[n] for n in outcome.pareto if n in by_number), key=lambda t: t.tokens_per_problem)
    if front:
        xs, ys = [t.tokens_per_problem for t in front], [t.train_accuracy for t in front]
        ax.step(xs, ys, where="post", color="black", linewidth=1, linestyle="--", label="Pareto frontier")
        ax.scatter(xs, ys, s=140, facecolors="none", edgecolors="black", linewidths=1.2, zorder=3)
    if outcome.chosen is not None:
        c = outcome.chosen
        ax.scatter(
            [c.tokens_per_problem],
            [c.train_accuracy],
            marker="*",
            s=320,
            color="C3",
            zorder=4,
            edgecolors="black",
            label=f"chosen (trial {c.number})",
        )
    if not trials:
        ax.text(0.5, 0.5, "no trials", transform=ax.transAxes, ha="center", va="center")
    elif min(t.tokens_per_problem for t in trials) > 0:
        ax.set_xscale("log")
    else:
        ax.set_xscale("symlog", linthresh=1.0)
    ax.margins(x=0.1, y=0.08)
    ax.yaxis.set_major_formatter(PercentFormatter(xmax=1.0))
    ax.set_xlabel("mean tokens per problem (train split)")
    ax.set_ylabel("train accuracy (95% Wilson interval)")
    ax.set_title(f"ponder tune: {outcome.dataset}, {len(trials)} configurations")
    ax.grid(True, which="both", alpha=0.3)
    if trials:
        ax.legend(fontsize=8, loc="best")
    figure.tight_layout()
    return figure


def write_plot(path: Path, outcome: TuneOutcome) -> None:
    """Write :func:`tune_figure` to ``path`` as PNG (no software metadata: same data, same bytes)."""
    tune_figure(outcome).savefig(path, format="png", metadata={"Software": None})
