"""The report's cheap curves: what a configuration's N recorded samples say about smaller budgets.

For each configuration whose problems all kept N >= 2 candidates, :func:`ponder.analysis.curves`
gives pass@k (unbiased estimator), self-consistency@k and, when candidates were scored,
best-of-k (means over random size-k subsets of the recorded samples) for k = 1, 2, 4, ..., N;
and the parallel saturation budget of Scaling over Scaling, with p = pass@1 and the ceiling
= pass@N: the number of samples after which one more gains under 0.5 points. When the
candidates were scored, the scorer is read as a verifier (pass: score >= 0.5) and the fLaws
analysis gives the accuracy ceiling of resample-until-pass and the utility-optimal number of
samples with a false positive costing 4x a success.
"""

from __future__ import annotations

from collections.abc import Sequence

from ponder.analysis import (
    BEST_OF_K,
    PASS_AT_K,
    SELF_CONSISTENCY,
    Sample,
    curves,
    resampling_with_verifier,
    saturation_budget,
)
from ponder.bench.types import ConfigRows

EPSILON = 0.005
VERIFIER_PASS = 0.5
FALSE_POSITIVE_COST = 4.0


def _budgets(n: int) -> list[int]:
    ks, k = [], 1
    while k < n:
        ks.append(k)
        k *= 2
    return ks + [n]


def verifier_line(samples: Sequence[Sequence[tuple[str | None, bool, float | None]]]) -> str:
    """The fLaws analysis of the configuration's scorer, read as a verifier passing scores >= 0.5."""
    flat = [
        (correct, score is not None and score >= VERIFIER_PASS) for problem in samples for _, correct, score in problem
    ]
    right = [passed for correct, passed in flat if correct]
    wrong = [passed for correct, passed in flat if not correct]
    if not right or not wrong:
        return "Verifier analysis: needs both correct and incorrect samples."
    completeness, soundness = sum(right) / len(right), 1 - sum(wrong) / len(wrong)
    rates = [sum(correct for _, correct, _ in problem) / len(problem) for problem in samples]
    analysis = resampling_with_verifier(
        rates, completeness=completeness, soundness=soundness, false_positive_cost=FALSE_POSITIVE_COST
    )
    return (
        f"Verifier analysis (fLaws; the scorer as a verifier passing scores >= {VERIFIER_PASS:g}): completeness "
        f"{completeness:.2f}, soundness {soundness:.2f}; resample-until-pass accuracy ceiling "
        f"{100 * analysis.ceiling:.1f}%; with a false positive costing {FALSE_POSITIVE_COST:g}x a success, "
        f"the best number of samples is {analysis.best_samples} (0: abstain)."
    )


def curves_markdown(loaded: Sequence[ConfigRows], labels: Sequence[str], *, seed: int) -> str:
    """A Markdown section with one small table per configuration that kept several samples."""
    parts = []
    for (_, records), label in zip(loaded, labels, strict=True):
        sizes = {len(r.candidates) for r in records}
        if not records or len(sizes) != 1 or min(sizes) < 2:
            continue
        n = sizes.pop()
        samples = [[Sample(c.answer, c.correct, c.score) for c in r.candidates] for r in records]
        scored = all(c.score is not None for r in records for c in r.candidates)
        ks = _budgets(n)
        points = curves(samples, ks, seed=seed)
        methods = [(SELF_CONSISTENCY, "self-consistency@k"), (PASS_AT_K, "pass@k")]
        methods += [(BEST_OF_K, "best-of-k")] if scored else []
        header = "| k | " + " | ".join(name for _, name in methods) + " |"
        lines = [
            f"**{label}** ({len(records)} problems, {n} samples each)",
            "",
            header,
            "|" + " --- |" * (len(methods) + 1),
        ]
        for i, k in enumerate(ks):
            cells = [f"{100 * points[m][i].mean_accuracy:.1f}% ± {100 * points[m][i].stderr:.1f}" for m, _ in methods]
            lines.append(f"| {k} | " + " | ".join(cells) + " |")
        p, ceiling = points[PASS_AT_K][0].mean_accuracy, points[PASS_AT_K][-1].mean_accuracy
        budget = saturation_budget(p, ceiling, EPSILON) if p > 0 else 0
        lines += [
            "",
            f"Parallel saturation budget (gain per extra sample under {100 * EPSILON:g} points; "
            f"p = pass@1 = {p:.3f}, ceiling = pass@{n} = {ceiling:.3f}): {budget} samples.",
        ]
        if scored:
            lines += ["", verifier_line(samples)]
        parts.append("\n".join(lines))
    if not parts:
        return ""
    method = (
        "Cheap curves: from each configuration's recorded samples, without new runs. pass@k by the "
        "unbiased estimator; self-consistency@k and best-of-k as means over 200 random size-k subsets "
        "(seeded), ± the standard error over problems."
    )
    return "\n\n## Cheap curves\n\n" + method + "\n\n" + "\n\n".join(parts) + "\n"
