"""The tune report: ``tune.md``, ``tune.json``, ``tune.png`` and ``tune.html`` for a :class:`TuneOutcome`.

The Markdown states the run's setup (dataset, objective, constraint, seed, split sizes,
Thresholdout's parameters and how much of its budget was spent), the explored configurations
sorted by train accuracy, the Pareto frontier, and the chosen configuration's train /
Thresholdout / naive-holdout / test accuracies, each proportion with its 95% Wilson interval
(:mod:`ponder.tune.intervals`). The cells are computed once (:func:`trial_cells`,
:func:`chosen_cells`) so the Markdown and the HTML page show the same numbers.
"""

from __future__ import annotations

import json
from pathlib import Path

from ponder.tune.intervals import wilson_interval
from ponder.tune.outcome import Trial, TuneOutcome
from ponder.tune.report_html import write_html
from ponder.tune.report_plot import write_plot

Cells = tuple[list[str], list[list[str]]]


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


def _interval(value: float, n: int) -> str:
    if n < 1 or not 0.0 <= value <= 1.0:
        return "—"
    low, high = wilson_interval(value, n)
    return f"[{_percent(low)}, {_percent(high)}]"


def _text(value: str) -> str:
    """A table cell: one line, with ``|`` escaped for Markdown."""
    return " ".join(str(value).split()).replace("|", "\\|")


def sorted_trials(outcome: TuneOutcome) -> list[Trial]:
    """The trials by train accuracy, best first (ties: fewer tokens, then trial number)."""
    return sorted(outcome.trials, key=lambda t: (-t.train_accuracy, t.tokens_per_problem, t.number))


def trial_cells(outcome: TuneOutcome) -> Cells:
    """The header and rows of the explored-configurations table."""
    header = [
        "#",
        "Configuration",
        "Train accuracy",
        "Train 95% CI",
        "Tokens/problem",
        "Seconds/problem",
        "Feasible",
        "Thresholdout",
        "Naive holdout",
        "Pareto",
        "Chosen",
    ]
    front = set(outcome.pareto)
    chosen = None if outcome.chosen is None else outcome.chosen.number
    rows = [
        [
            str(t.number),
            _text(t.label),
            _percent(t.train_accuracy),
            _interval(t.train_accuracy, t.train_n),
            f"{t.tokens_per_problem:,.0f}",
            f"{t.seconds_per_problem:.2f}",
            "yes" if t.feasible else "no",
            _percent(t.holdout_reported),
            _percent(t.holdout_accuracy),
            "★" if t.number in front else "",
            "✔" if t.number == chosen else "",
        ]
        for t in sorted_trials(outcome)
    ]
    return header, rows


def chosen_cells(outcome: TuneOutcome) -> Cells:
    """The chosen configuration's four accuracies (empty rows when nothing was chosen)."""
    header = ["Estimate", "Problems", "Accuracy", "95% Wilson interval", "How it was used"]
    s = outcome.scores
    if s is None:
        return header, []
    rows = [
        ["train", str(s.n_train), _percent(s.train), _interval(s.train, s.n_train), "optimised freely"],
        [
            "Thresholdout (reusable holdout)",
            str(s.n_holdout),
            _percent(s.thresholdout),
            "— (a noisy answer, not a proportion)",
            "used to choose",
        ],
        [
            "naive holdout",
            str(s.n_holdout),
            _percent(s.naive_holdout),
            _interval(s.naive_holdout, s.n_holdout),
            "recorded only, never used to choose",
        ],
        ["test", str(s.n_test), _percent(s.test), _interval(s.test, s.n_test), "touched once, for this configuration"],
    ]
    return header, rows


def setup_lines(outcome: TuneOutcome) -> list[str]:
    """The run's setup and the holdout's budget, one statement per line."""
    train, holdout, test = outcome.split_sizes
    stratified = f"stratified by {outcome.stratified_by!r}" if outcome.stratified_by else "not stratified"
    parameters = []
    if outcome.holdout_threshold is not None:
        parameters.append(f"T = {outcome.holdout_threshold:g}")
    if outcome.holdout_sigma is not None:
        parameters.append(f"sigma = {outcome.holdout_sigma:g}")
    parameters.append(f"budget {outcome.holdout_budget}")
    return [
        f"Dataset: {outcome.dataset}",
        f"Objective: {outcome.objective}; constraint: {outcome.constraint}; seed {outcome.seed}",
        f"Splits: train {train}, holdout {holdout}, test {test} problems ({stratified})",
        f"Thresholdout: {', '.join(parameters)}",
        f"Holdout queries: {outcome.holdout_queries} answered; {outcome.holdout_spent} spent "
        f"(threshold crossings), {outcome.holdout_remaining} of {outcome.holdout_budget} remaining",
        f"Configurations explored: {len(outcome.trials)} ({sum(t.feasible for t in outcome.trials)} feasible)",
        f"Best configuration written to: {outcome.config_path or '—'}",
    ]


def noise_note(outcome: TuneOutcome) -> str:
    """A plain-words warning on how much of the differences is sampling noise."""
    train, _, test = outcome.split_sizes
    widths = [
        f"±{100 * 1.96 * (0.25 / n) ** 0.5:.0f} points on the {n} {name} problems"
        for name, n in (("train", train), ("test", test))
        if n > 0
    ]
    return (
        "How far to trust these numbers: a 95% interval on an accuracy near 50% is about "
        + " and ".join(widths)
        + ". Configurations whose accuracies differ by less than that are not distinguishable, and the "
        "best of many such configurations looks better than it is (the winner's curse), on the train "
        "split above all. With a small model on a few hundred problems most of the differences in the "
        "table are noise: read the ranking as a hint, and the test accuracy, measured once on problems "
        "the search never saw, as the one unbiased estimate."
    )


def _markdown_table(cells: Cells) -> list[str]:
    header, rows = cells
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def report_markdown(outcome: TuneOutcome) -> str:
    """The whole ``tune.md``."""
    lines = [f"# Tune report: {outcome.dataset}", ""]
    lines += [f"- {line}" for line in setup_lines(outcome)]
    lines += ["", "## Chosen configuration", ""]
    if outcome.chosen is None:
        lines.append("No configuration was chosen (no feasible trial).")
    else:
        lines += [f"Trial {outcome.chosen.number}: `{_text(outcome.chosen.label)}`", ""]
        lines += _markdown_table(chosen_cells(outcome)) if outcome.scores else ["(no scores recorded)"]
    lines += ["", noise_note(outcome), "", "## Pareto frontier (train accuracy against tokens per problem)", ""]
    by_number = {t.number: t for t in outcome.trials}
    front = [by_number[n] for n in outcome.pareto if n in by_number]
    lines += [
        f"- trial {t.number}: {_percent(t.train_accuracy)} at {t.tokens_per_problem:,.0f} tokens/problem, "
        f"`{_text(t.label)}`"
        for t in front
    ] or ["(empty: no feasible trial)"]
    lines += ["", "## Explored configurations (sorted by train accuracy)", ""]
    lines += _markdown_table(trial_cells(outcome))
    lines += [
        "",
        "Thresholdout answers a configuration's train accuracy unless it differs from the holdout "
        "accuracy by more than a noisy threshold, and then a noisy holdout accuracy; each such "
        "crossing spends one unit of the holdout budget. The naive holdout column is recorded for "
        "comparison only.",
    ]
    return "\n".join(lines) + "\n"


def write_report(outcome: TuneOutcome, out_dir: Path) -> dict[str, Path]:
    """Write ``tune.md``, ``tune.json``, ``tune.png`` and ``tune.html`` into ``out_dir`` (created
    if missing); returns their paths by kind (``markdown``, ``json``, ``png``, ``html``)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "markdown": out_dir / "tune.md",
        "json": out_dir / "tune.json",
        "png": out_dir / "tune.png",
        "html": out_dir / "tune.html",
    }
    markdown = report_markdown(outcome)
    paths["markdown"].write_text(markdown, encoding="utf-8")
    text = json.dumps(outcome.to_dict(), indent=2, ensure_ascii=False, default=str)
    paths["json"].write_text(text + "\n", encoding="utf-8")
    write_plot(paths["png"], outcome)
    write_html(
        paths["html"],
        outcome,
        png=paths["png"],
        setup=setup_lines(outcome),
        chosen=chosen_cells(outcome),
        trials=trial_cells(outcome),
        note=noise_note(outcome),
    )
    return paths
