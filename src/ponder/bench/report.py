"""Benchmark reports: what each configuration bought (accuracy, with uncertainty) for what it cost.

:func:`write_report` reads a :class:`~ponder.bench.store.BenchStore` database and writes three
files: a Markdown table, a PNG of accuracy against tokens with the Pareto frontier, and a
self-contained HTML page (the table, the picture, and every problem's answer, candidates, votes
and trace). The statistics are small pure functions here (:func:`bootstrap_ci`,
:func:`paired_difference`, :func:`pareto_frontier`); rendering lives in ``report_table``,
``report_plot`` and ``report_html``, and the records they share (:class:`ConfigSummary`,
:class:`PairedDifference`) in :mod:`ponder.bench.types`. Every report also gives each family of
configurations that differ only in budget its saturation budget (``report_saturation``: the
TTSPM curve of "Scaling over Scaling" fitted across the stored budgets; :func:`saturation_budgets`).

Uncertainty is a percentile bootstrap over problems: problems are what a benchmark samples, so
they are what is resampled. Every draw comes from a numpy ``Generator`` seeded by the report seed
and the configuration's id, so a report is reproducible.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from ponder.bench.report_curves import EPSILON, curves_markdown
from ponder.bench.report_html import write_html
from ponder.bench.report_interrupts import interrupt_groups, interrupts_markdown, write_interrupt_plot
from ponder.bench.report_plot import write_plot
from ponder.bench.report_saturation import BudgetSaturation, budget_saturations, saturation_markdown
from ponder.bench.report_table import write_markdown
from ponder.bench.store import BenchStore, StoredRun
from ponder.bench.types import ConfigRows, ConfigSummary, PairedDifference, StoredConfig
from ponder.core.errors import InvalidInputError
from ponder.core.seeding import derive_seed

LEVEL = 0.95  # confidence level of every interval in a report
INTERRUPTS_PNG = "interrupts.png"  # accuracy against the interrupt point, when configurations ran under interrupts
_CHUNK = 4_000_000  # at most this many resampled indices in memory at once


@dataclass(frozen=True)
class ReportFiles:
    """The paths :func:`write_report` wrote, and the saturation budgets the report shows."""

    markdown: Path
    png: Path
    html: Path
    saturation: tuple[BudgetSaturation, ...] = ()


def _check_resamples(resamples: int) -> None:
    if resamples < 1:
        raise InvalidInputError(f"resamples must be >= 1, got {resamples}")


def _bootstrap_means(values: np.ndarray, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """Means of ``resamples`` resamples (with replacement) of ``values``, drawn in bounded chunks."""
    n = len(values)
    per_chunk = max(1, _CHUNK // n)
    means = []
    for start in range(0, resamples, per_chunk):
        rows = min(per_chunk, resamples - start)
        means.append(values[rng.integers(0, n, size=(rows, n))].mean(axis=1))
    return np.concatenate(means)


def _interval(means: np.ndarray) -> tuple[float, float]:
    tail = (1 - LEVEL) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return float(low), float(high)


def bootstrap_ci(values: Sequence[float], *, resamples: int, seed: int) -> tuple[float, float]:
    """95% percentile-bootstrap confidence interval of the mean of ``values``.

    Draws ``resamples`` resamples of the values with replacement from
    ``numpy.random.default_rng(seed)`` and returns the 2.5th and 97.5th percentiles of their means.
    The same inputs and seed always give the same interval.
    """
    _check_resamples(resamples)
    array = np.asarray(values, dtype=float)
    if array.size == 0:
        raise InvalidInputError("cannot bootstrap the mean of no values")
    return _interval(_bootstrap_means(array, resamples, np.random.default_rng(seed)))


def paired_difference(
    values: Mapping[Any, float], baseline: Mapping[Any, float], *, resamples: int, seed: int
) -> PairedDifference:
    """Paired difference ``values - baseline`` over the keys (problems) both mappings have.

    The estimate is the mean per-problem difference; its 95% CI is a percentile bootstrap that
    resamples shared problems, keeping each problem's pair together (so the variation problems
    share cancels out). Raises :class:`InvalidInputError` when the two share no problem.
    """
    _check_resamples(resamples)
    shared = sorted(set(values) & set(baseline), key=repr)
    if not shared:
        raise InvalidInputError("the configuration and the baseline share no problem")
    diffs = np.array([float(values[k]) - float(baseline[k]) for k in shared])
    low, high = _interval(_bootstrap_means(diffs, resamples, np.random.default_rng(seed)))
    return PairedDifference(float(diffs.mean()), low, high, len(shared))


def pareto_frontier(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the ``(cost, accuracy)`` points no other point dominates, cheapest first.

    A point is dominated when another has cost <= and accuracy >= it, and is strictly better in
    one of the two. Identical points do not dominate each other, so both stay on the frontier.
    """

    def dominated(i: int) -> bool:
        cost, acc = points[i]
        return any(c <= cost and a >= acc and (c < cost or a > acc) for c, a in points)

    keep = [i for i in range(len(points)) if not dominated(i)]
    return sorted(keep, key=lambda i: (points[i][0], -points[i][1], i))


def _load(db_path: Path) -> list[ConfigRows]:
    """Every configuration with its rows (problem order); raises unless one has results."""
    store = BenchStore(db_path, writable=None)
    try:
        loaded = [(config, list(store.results(config.id))) for config in store.configs()]
    finally:
        store.close()
    if not any(records for _, records in loaded):
        raise InvalidInputError(f"the benchmark database {db_path} has no results to report")
    return loaded


def _labels(configs: Sequence[StoredConfig]) -> list[str]:
    """Stored labels, with ``#id`` appended where two configurations share one."""
    names = [config.label for config in configs]
    return [f"{n} #{config.id}" if names.count(n) > 1 else n for n, config in zip(names, configs, strict=True)]


def _baseline_index(baseline: str, configs: Sequence[StoredConfig], labels: Sequence[str]) -> int:
    matches = [i for i, label in enumerate(labels) if label == baseline]
    matches = matches or [i for i, config in enumerate(configs) if config.label == baseline]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise InvalidInputError(
            f"the baseline {baseline!r} names several configurations; use one of "
            + ", ".join(repr(labels[i]) for i in matches)
        )
    raise InvalidInputError(
        f"no configuration with results is labelled {baseline!r}; known: " + ", ".join(repr(label) for label in labels)
    )


def summarise(
    db_path: str | Path, *, baseline: str | None = None, seed: int = 0, resamples: int = 2000
) -> list[ConfigSummary]:
    """One :class:`ConfigSummary` per configuration with results, in configuration order."""
    return _summaries(_load(Path(db_path)), baseline=baseline, seed=seed, resamples=resamples)


def _summaries(loaded: Sequence[ConfigRows], *, baseline: str | None, seed: int, resamples: int) -> list[ConfigSummary]:
    """Summaries of the loaded configurations that have results (the others are skipped)."""
    _check_resamples(resamples)
    loaded = [(config, rows) for config, rows in loaded if rows]
    configs = [config for config, _ in loaded]
    labels = _labels(configs)
    correct = [{(config.dataset, r.problem_id): float(r.correct) for r in rows} for config, rows in loaded]
    base = None if baseline is None else _baseline_index(baseline, configs, labels)
    tokens = [float(np.mean([r.tokens for r in rows])) for _, rows in loaded]
    accuracy = [float(np.mean(list(c.values()))) for c in correct]
    frontier = set(pareto_frontier(list(zip(tokens, accuracy, strict=True))))
    summaries = []
    for i, (config, rows) in enumerate(loaded):
        config_seed = derive_seed(seed, config.id)
        low, high = bootstrap_ci(list(correct[i].values()), resamples=resamples, seed=config_seed)
        versus = None
        if base is not None and i != base and set(correct[i]) & set(correct[base]):
            versus = paired_difference(
                correct[i], correct[base], resamples=resamples, seed=derive_seed(seed, config.id, configs[base].id)
            )
        summaries.append(
            ConfigSummary(
                config_id=config.id,
                label=labels[i],
                strategy=config.strategy,
                problems=len(rows),
                accuracy=accuracy[i],
                low=low,
                high=high,
                tokens=tokens[i],
                completion_tokens=float(np.mean([r.completion_tokens for r in rows])),
                seconds=float(np.mean([r.seconds for r in rows])),
                is_baseline=i == base,
                versus_baseline=versus,
                on_frontier=i in frontier,
                records=tuple(rows),
            )
        )
    return summaries


def saturation_budgets(db_path: str | Path, *, epsilon: float = EPSILON) -> list[BudgetSaturation]:
    """The saturation budget of every family of configurations that differ only in budget, as the
    report shows it (see :mod:`ponder.bench.report_saturation`): N* is the smallest budget after
    which one more unit adds at most ``epsilon`` accuracy under the TTSPM curve fitted to the
    family's stored budgets; ``budget`` is ``None``, with a ``reason``, for a family stored at one
    budget only. Raises :class:`InvalidInputError` when the database holds no results."""
    return budget_saturations(_load(Path(db_path)), epsilon=epsilon)


def method_note(*, resamples: int, seed: int, baseline: str | None, pending: Sequence[str] = ()) -> str:
    """The one line under a report's table that says how its numbers were computed (and which
    configurations, ``pending``, have no results yet and so are not in it)."""
    paired = (
        f"; Δ is the paired difference against {baseline!r} on the problems both ran, with a paired bootstrap CI"
        if baseline is not None
        else ""
    )
    return (
        f"Accuracy CIs: 95% percentile bootstrap over problems ({resamples} resamples, seed {seed}){paired};"
        f" tokens = prompt + completion + scorer tokens per problem; Pareto: not dominated in"
        f" (accuracy, tokens)." + (f" No results yet: {', '.join(pending)}." if pending else "")
    )


def runs_markdown(runs: Sequence[StoredRun]) -> str:
    """The report's ``Runs`` section: each ``ponder bench`` run's metadata, with its mode
    (``deterministic`` or ``default``) and how many problems it solved at once."""
    if not runs:
        return ""
    lines = [
        "",
        "## Runs",
        "",
        "| Run | Started | ponder | Data set | Engine | Model | Mode | Workers |",
        "|---:|---|---|---|---|---|---|---:|",
    ]
    for run in runs:
        cells = [
            str(run.id),
            run.created,
            run.ponder_version,
            run.dataset,
            run.engine,
            run.model,
            run.mode,
            str(run.workers),
        ]
        lines.append("| " + " | ".join(" ".join(c.split()).replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"


def _stored_runs(db_path: Path) -> list[StoredRun]:
    store = BenchStore(db_path, writable=None)
    try:
        return store.runs()
    finally:
        store.close()


def write_report(
    db_path: str | Path, out_dir: str | Path, *, baseline: str | None = None, seed: int = 0, resamples: int = 2000
) -> ReportFiles:
    """Write ``report.md``, ``accuracy_vs_tokens.png`` and ``report.html`` for a benchmark database
    (``report.md`` ends with the runs that filled it: :func:`runs_markdown`). All three show each
    configuration family's saturation budget (:func:`saturation_budgets`), which the returned
    :class:`ReportFiles` carries too. When configurations ran under interrupts, ``report.md`` has
    an ``Interrupts`` section and ``interrupts.png`` is drawn (:mod:`ponder.bench.report_interrupts`).

    ``baseline`` is a configuration label; when given, each other configuration's row shows its
    paired accuracy difference against it. Raises :class:`InvalidInputError` when the database is
    missing or holds no results, or the baseline names no configuration.
    """
    loaded = _load(Path(db_path))
    summaries = _summaries(loaded, baseline=baseline, seed=seed, resamples=resamples)
    pending = [config.label for config, rows in loaded if not rows]
    note = method_note(resamples=resamples, seed=seed, baseline=baseline, pending=pending)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = ReportFiles(out / "report.md", out / "accuracy_vs_tokens.png", out / "report.html")
    show_baseline = baseline is not None
    write_markdown(files.markdown, summaries, note=note, baseline=show_baseline, image=files.png.name)
    saturation = tuple(budget_saturations(loaded))
    extra = saturation_markdown(saturation)
    extra += curves_markdown(loaded, _labels([config for config, _ in loaded]), seed=seed)
    interrupted = interrupt_groups(loaded, _labels([config for config, _ in loaded]))
    if interrupted:
        write_interrupt_plot(out / INTERRUPTS_PNG, interrupted)
    extra += interrupts_markdown(interrupted, INTERRUPTS_PNG)
    extra += runs_markdown(_stored_runs(Path(db_path)))
    if extra:
        with files.markdown.open("a", encoding="utf-8") as handle:
            handle.write(extra)
    write_plot(files.png, summaries, saturation)
    write_html(files.html, summaries, png=files.png, note=note, baseline=show_baseline, saturation=saturation)
    return replace(files, saturation=saturation)
