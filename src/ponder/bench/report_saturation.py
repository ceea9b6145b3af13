"""The report's saturation budgets: past which budget a configuration family stops paying.

A *family* is the configurations that differ only in budget (same data set, strategy, options,
seed, temperature, max tokens, engine and model): ``ponder bench -s self-consistency -n
1,2,4,8,16`` stores one family at five budgets. Its accuracy at each stored budget N is fitted
with the Test-Time Scaling Performance Model of Wang et al. 2025 ("Scaling over Scaling",
TTSPM; :mod:`ponder.analysis.saturation`)

    F(N) = F_max * (1 - (1 - p)^N),

and the saturation budget N* is the smallest N whose next unit of budget gains at most epsilon
accuracy under that fit (default 0.005: half a point), N* = max(0, ceil(log(epsilon / (F_max p))
/ log(1 - p))). In the paper the same curve is the upper bound of sequential scaling (N rounds of
rethinking, p the chance that one round turns a wrong answer right) and of parallel scaling (N
samples, p the single-sample success); a family's budget N is whatever its strategy spends
(samples for self-consistency, generations for revision), so one fit serves both.

Deliberate deviation: the paper plugs a measured p (and F_max) into the formula; a stored family
has only its selected answer's accuracy at each budget, so p and F_max are fitted by least
squares (:func:`ponder.analysis.saturation.fit_scaling`). The fitted p is an effective one (a
mixture of problems with different p is not one such curve); the fit's RMS residual is shown
with it. Accuracies are taken on the problems every budget of the family ran, so a partly run
budget does not compare other problems. A family stored at one budget has no curve to fit and
shows "n/a" with that reason; an N* above the largest stored budget is marked as extrapolated.

The curve has F(0) = 0 and rises fastest at once; a family whose accuracy starts high and keeps
climbing slowly (majority voting often does) fits it badly, and its N* comes out too early. So
each N* is checked against the data: the accuracy gained from the smallest stored budget at or
above N* to the largest, measured (paired over the same problems) and fitted; N* is marked
unreliable when the measured gain exceeds the fitted one by more than two standard errors.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from html import escape
from pathlib import Path

import numpy as np

from ponder.analysis.saturation import fit_scaling, saturation_budget, scaling_curve
from ponder.bench.report_curves import EPSILON
from ponder.bench.types import ConfigRows, StoredConfig
from ponder.core.errors import InvalidInputError


@dataclass(frozen=True)
class SaturationCheck:
    """What the family gained from stored budget ``start`` (the smallest at or above N*) to the
    largest, ``end``: ``measured`` on the shared problems (``stderr``: its paired standard error)
    and ``fitted`` by the curve. ``still_rising`` when the measured gain exceeds the fitted one by
    more than two standard errors: the curve saturates too early to describe the data."""

    start: int
    end: int
    measured: float
    stderr: float
    fitted: float

    @property
    def still_rising(self) -> bool:
        return self.measured - self.fitted > 2 * self.stderr


@dataclass(frozen=True)
class BudgetSaturation:
    """One family's saturation budget (``budget``), or ``None`` with the ``reason`` it has none.

    ``budgets`` are the stored budgets with results (ascending); ``accuracies`` their accuracy on
    the ``problems`` problems every one of them ran; ``tokens`` their mean tokens per problem
    (over all their rows, as in the report table); ``p`` and ``ceiling`` (F_max) the fitted
    curve and ``rms_error`` its root-mean-square residual (all ``None`` without a fit).

    ``check`` holds the data's own word on N*, where a stored budget at or above N* and a larger
    one exist: the accuracy the family gained between them, measured and fitted.
    """

    family: str  # the configurations' label with the budget as N: ``self-consistency@N seed=0``
    strategy: str
    budgets: tuple[int, ...]
    accuracies: tuple[float, ...]
    tokens: tuple[float, ...]
    problems: int
    epsilon: float
    p: float | None = None
    ceiling: float | None = None
    rms_error: float | None = None
    budget: int | None = None
    reason: str | None = None
    check: SaturationCheck | None = None

    @property
    def extrapolated(self) -> bool:
        """Whether N* lies beyond the largest stored budget (a prediction, not an interpolation)."""
        return self.budget is not None and self.budget > max(self.budgets)

    @property
    def unreliable(self) -> bool:
        """Whether the data kept rising past N* beyond what the fit allows (:attr:`SaturationCheck.still_rising`)."""
        return self.check is not None and self.check.still_rising

    def fitted_accuracy(self, budget: float) -> float | None:
        """F(budget) under the fit, or ``None`` without one."""
        if self.p is None or self.ceiling is None:
            return None
        return scaling_curve(self.p, self.ceiling, [budget])[0]

    def tokens_at_saturation(self) -> float | None:
        """Mean tokens per problem at N*, interpolated (log-log) between the stored budgets around
        it; ``None`` when there is no N* or it lies outside the stored budgets."""
        if self.budget is None or not self.budgets[0] <= self.budget <= self.budgets[-1]:
            return None
        if min(self.tokens) <= 0:
            return float(np.interp(self.budget, self.budgets, self.tokens))
        logs = np.interp(math.log(self.budget), np.log(self.budgets), np.log(self.tokens))
        return float(math.exp(logs))


def _family_key(config: StoredConfig) -> tuple[object, ...]:
    return (
        config.dataset,
        config.strategy,
        json.dumps(config.options, sort_keys=True, default=str),
        config.seed,
        config.temperature,
        config.max_tokens,
        config.engine,
        config.model,
        config.interrupt,  # runs under an interrupt are a family of their own
        config.pipeline,  # so is each pipeline config
        config.memory,  # and each concept memory
    )


def _family_label(config: StoredConfig) -> str:
    """The configuration's label with its budget written as N (as :attr:`Config.label` builds it:
    a pipeline by its config's name, then the interrupt and the memory file when set)."""
    options = "".join(f" {k}={v}" for k, v in config.options.items())
    temperature = "" if config.temperature is None else f" T={config.temperature:g}"
    interrupt = f" {config.interrupt}" if config.interrupt else ""
    memory = f" memory={Path(json.loads(config.memory)['path']).name}" if config.memory else ""
    name = config.strategy
    if config.pipeline:
        name = f"{config.strategy} {json.loads(config.pipeline).get('name', 'pipeline')}"
    return f"{name}@N{options}{temperature} seed={config.seed}{interrupt}{memory}"


def _distinct_labels(firsts: Sequence[StoredConfig]) -> list[str]:
    """Family labels, each followed by what tells it apart where two families share a label."""
    labels = [_family_label(c) for c in firsts]
    out = []
    for label, config in zip(labels, firsts, strict=True):
        twins = [c for c, other in zip(firsts, labels, strict=True) if other == label]
        extra = [
            f"{name}={getattr(config, name)}"
            for name in ("dataset", "model", "engine", "max_tokens")
            if len({getattr(c, name) for c in twins}) > 1
        ]
        out.append(" ".join([label, *extra]))
    return out


def _estimate(family: str, members: Sequence[ConfigRows], epsilon: float) -> BudgetSaturation:
    members = sorted(members, key=lambda m: m[0].budget)
    budgets = tuple(config.budget for config, _ in members)
    tokens = tuple(float(np.mean([r.tokens for r in rows])) for _, rows in members)
    shared = sorted(set.intersection(*({r.problem_id for r in rows} for _, rows in members)))
    correct = [{r.problem_id: float(r.correct) for r in rows} for _, rows in members]
    outcomes = np.array([[c[problem] for problem in shared] for c in correct]).reshape(len(members), len(shared))
    accuracies = tuple(float(row.mean()) if shared else 0.0 for row in outcomes)
    base = BudgetSaturation(
        family, members[0][0].strategy, budgets, accuracies, tokens, problems=len(shared), epsilon=epsilon
    )
    if len(budgets) < 2:
        return replace(base, reason=f"stored at one budget only (N={budgets[0]}); the fit needs two or more")
    if not shared:
        return replace(base, reason="no problem was run at every budget of the family")
    p, ceiling = fit_scaling(budgets, accuracies)
    fitted = scaling_curve(p, ceiling, budgets)
    rms = math.sqrt(sum((f - a) ** 2 for f, a in zip(fitted, accuracies, strict=True)) / len(budgets))
    budget = saturation_budget(p, ceiling, epsilon)
    check = _check(budget, budgets, outcomes, fitted)
    return replace(base, p=p, ceiling=ceiling, rms_error=rms, budget=budget, check=check)


def _check(
    budget: int, budgets: Sequence[int], outcomes: np.ndarray, fitted: Sequence[float]
) -> SaturationCheck | None:
    """The measured and fitted gain from the smallest stored budget >= ``budget`` to the largest."""
    start = next((i for i, b in enumerate(budgets) if b >= budget), len(budgets) - 1)
    end = len(budgets) - 1
    if start == end:
        return None
    diffs = outcomes[end] - outcomes[start]
    stderr = float(diffs.std(ddof=1) / math.sqrt(len(diffs))) if len(diffs) > 1 else math.inf
    return SaturationCheck(budgets[start], budgets[end], float(diffs.mean()), stderr, fitted[end] - fitted[start])


def budget_saturations(loaded: Sequence[ConfigRows], *, epsilon: float = EPSILON) -> list[BudgetSaturation]:
    """One :class:`BudgetSaturation` per family with results, in order of first configuration.

    Configurations without results are left out (a family none of whose budgets has results is
    not listed). Raises :class:`InvalidInputError` unless ``epsilon`` > 0.
    """
    if not epsilon > 0:  # NaN fails too
        raise InvalidInputError(f"epsilon must be > 0, got {epsilon}")
    families: dict[tuple[object, ...], list[ConfigRows]] = {}
    for config, rows in loaded:
        if rows:
            families.setdefault(_family_key(config), []).append((config, rows))
    labels = _distinct_labels([members[0][0] for members in families.values()])
    return [_estimate(label, members, epsilon) for label, members in zip(labels, families.values(), strict=True)]


def _percent(value: float) -> str:
    return f"{100 * value:.1f}%"


def saturation_note(epsilon: float = EPSILON) -> str:
    """The line that says what a saturation budget is and how it was estimated."""
    return (
        'Saturation budget N* (Test-Time Scaling Performance Model, Wang et al. 2025, "Scaling over Scaling"): '
        "the accuracy each family (configurations that differ only in budget) reached at its stored budgets N is "
        "fitted by least squares with F(N) = F_max (1 - (1 - p)^N), on the problems every budget ran; N* is the "
        f"smallest budget after which one more unit of budget adds at most {100 * epsilon:g} accuracy points under "
        "that fit, so budget spent past N* buys almost nothing. The paper's model of sequential scaling (N rounds) "
        "and of parallel scaling (N samples) alike; p is an effective per-unit success rate, F_max the accuracy "
        "the family approaches, RMS the fit's residual. Gain past N*: the accuracy gained from the smallest stored "
        "budget at or above N* to the largest, measured on the same problems (± paired standard error) and by the "
        "fit; N* is marked unreliable when the measured gain exceeds the fitted one by more than two standard errors. "
        "n/a: too few budgets to fit a curve."
    )


def saturation_cells(saturations: Sequence[BudgetSaturation]) -> tuple[list[str], list[list[str]]]:
    """The header and rows of the saturation table, as display strings (Markdown and HTML alike)."""
    header = [
        "Family",
        "Problems",
        "Accuracy by budget",
        "p",
        "F_max",
        "Fit RMS",
        "Gain past N* (measured / fitted)",
        "Saturation budget N*",
    ]
    rows = []
    for s in saturations:
        by_budget = ", ".join(f"{b}: {_percent(a)}" for b, a in zip(s.budgets, s.accuracies, strict=True))
        if s.budget is None or s.p is None or s.ceiling is None or s.rms_error is None:
            rows.append([s.family, str(s.problems), by_budget, "", "", "", "", f"n/a ({s.reason})"])
            continue
        verdict, past = str(s.budget), ""
        if s.extrapolated:
            verdict += f" (extrapolated: above the largest stored budget, {max(s.budgets)})"
        if s.check is not None:
            c = s.check
            past = f"{c.start}→{c.end}: {100 * c.measured:+.1f} ± {100 * c.stderr:.1f} / {100 * c.fitted:+.1f} pp"
            if s.unreliable:
                verdict += " (unreliable: accuracy kept rising past it, beyond the fit)"
        rms = f"{100 * s.rms_error:.1f} pp"
        rows.append([s.family, str(s.problems), by_budget, f"{s.p:.3f}", _percent(s.ceiling), rms, past, verdict])
    return header, rows


def _markdown_cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def saturation_markdown(saturations: Sequence[BudgetSaturation], *, epsilon: float = EPSILON) -> str:
    """The report's ``Saturation budgets`` section (empty when no family has results)."""
    if not saturations:
        return ""
    header, rows = saturation_cells(saturations)
    lines = [
        "",
        "## Saturation budgets",
        "",
        "| " + " | ".join(header) + " |",
        "|---|---:|---|---:|---:|---:|---|---|",
    ]
    lines += ["| " + " | ".join(_markdown_cell(c) for c in row) + " |" for row in rows]
    lines += ["", saturation_note(epsilon), ""]
    return "\n".join(lines)


def saturation_html(saturations: Sequence[BudgetSaturation], *, epsilon: float = EPSILON) -> str:
    """The same section for the HTML page (every text escaped; empty when no family has results)."""
    if not saturations:
        return ""
    header, rows = saturation_cells(saturations)
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return (
        f"<h2>Saturation budgets</h2><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
        f'<p class="note">{escape(saturation_note(epsilon))}</p>'
    )
