"""The report's interrupt section: accuracy against the interrupt point, and the paper's failure modes.

Configurations stored with an interrupt spec (``ponder bench --interrupt``:
:mod:`ponder.bench.interrupts`) are grouped with the configuration that differs only in having
none (same data set, strategy, options, budget, seed, temperature, max tokens, engine, model).
For each group the section gives the uninterrupted accuracy and, per interrupt, its accuracy over
all problems (updates: against the updated gold), how many runs were actually interrupted (a run
whose samples all end before the point is not) and the accuracy over those runs alone (a run that
finished before the point answers as if uninterrupted: updates graded against the updated gold
then count a run that never saw the update), the extra tokens spent after the interrupts per
problem, and
counts of the failure modes of Wu et al. 2025 ("Are Large Reasoning Models Interruptible?"),
found by these detectors (words are whitespace-separated: stored rows keep text, not tokens):

- **leakage** (hard): a concluded sample (its text holds the answer cue) that goes on for more than
  :data:`LEAKAGE_WORDS` words after the cue: the model keeps reasoning inside its answer;
- **panic** (soft): a hurried sample (its text holds the soft note) that answers wrongly within
  :data:`PANIC_FRACTION` of the typical reasoning length after the note (typical: the median
  words of the uninterrupted configuration's samples; n/a without them): it gave up reasoning;
- **self-doubt** (update): an interrupted run (one that received the update) whose answer misses
  the updated gold but matches the original one: it did not take the update in. Runs that
  finished before the update's point are not checked (they never saw it).

:func:`write_interrupt_plot` draws accuracy against the point, one line per mode, the
uninterrupted accuracy as a dashed line, one panel per group.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ponder.bench.graders import grade
from ponder.bench.interrupts import BENCH_ENTRY, parse_interrupt
from ponder.bench.types import BenchRow, ConfigRows, Problem, StoredConfig

LEAKAGE_WORDS = 20
PANIC_FRACTION = 0.1
MODES = ("hard", "soft", "update")


@dataclass(frozen=True)
class Count:
    """``found`` cases among ``of`` checked (``of`` 0: nothing to check)."""

    found: int = 0
    of: int = 0

    def __str__(self) -> str:
        return f"{self.found}/{self.of}" if self.of else "n/a"


@dataclass(frozen=True)
class InterruptPoint:
    """One interrupted configuration's figures (see the module docstring)."""

    label: str
    spec: str
    mode: str
    point: float
    problems: int
    interrupted: int
    accuracy: float
    extra_tokens: float
    leakage: Count
    panic: Count
    self_doubt: Count
    interrupted_accuracy: float | None = None  # over the interrupted runs (None: none was)


@dataclass(frozen=True)
class InterruptGroup:
    """A configuration without interrupt and the same configuration under each interrupt."""

    label: str
    baseline: float | None  # the uninterrupted accuracy (None when it is not stored)
    baseline_problems: int
    points: list[InterruptPoint] = field(default_factory=list)


def _entry(row: BenchRow) -> dict[str, Any]:
    return next((e for e in reversed(row.trace) if e.get("action") == BENCH_ENTRY), {})


def _after(text: str, marker: str) -> int | None:
    """Words of ``text`` after the last ``marker`` (None when it is not there)."""
    if not marker or marker not in text:
        return None
    return len(text[text.rfind(marker) + len(marker) :].split())


def leakage(rows: Sequence[BenchRow], limit: int = LEAKAGE_WORDS) -> Count:
    """Concluded samples that write more than ``limit`` words after the answer cue."""
    after = [_after(c.text, _entry(r).get("cue", "")) for r in rows for c in r.candidates]
    concluded = [words for words in after if words is not None]
    return Count(sum(words > limit for words in concluded), len(concluded))


def panic(rows: Sequence[BenchRow], typical: float | None, fraction: float = PANIC_FRACTION) -> Count:
    """Hurried samples that answer wrongly within ``fraction`` of ``typical`` words after the note."""
    if not typical:
        return Count()
    checked = found = 0
    for row in rows:
        for candidate in row.candidates:
            words = _after(candidate.text, _entry(row).get("note", ""))
            if words is None:
                continue
            checked += 1
            found += words < fraction * typical and not candidate.correct
    return Count(found, checked)


def self_doubt(rows: Sequence[BenchRow]) -> Count:
    """Updated runs whose answer misses the updated gold and gives the original one (runs that
    were not interrupted never received the update: they are not checked)."""
    checked = found = 0
    for row in rows:
        entry = _entry(row)
        if "original_gold" not in entry or not entry.get("interrupted") or row.stop_reason.startswith("error"):
            continue
        checked += 1
        original = Problem(row.problem_id, row.question, str(entry["original_gold"]), entry.get("grader", "math"), {})
        best = next((c.text for c in row.candidates if c.answer == row.answer), None)
        found += not row.correct and grade(original, row.answer, best)
    return Count(found, checked)


def _typical_words(rows: Sequence[BenchRow]) -> float | None:
    words = [len(c.text.split()) for r in rows for c in r.candidates if c.text.strip()]
    return float(statistics.median(words)) if words else None


def _accuracy(rows: Sequence[BenchRow]) -> float:
    return sum(r.correct for r in rows) / len(rows) if rows else 0.0


def _interrupted(rows: Sequence[BenchRow]) -> list[BenchRow]:
    return [r for r in rows if _entry(r).get("interrupted")]


def _extra_tokens(row: BenchRow) -> int:
    return sum(int(e.get("extra_tokens", 0)) for e in row.trace if e.get("action") == "interrupt")


def interrupt_groups(loaded: Sequence[ConfigRows], labels: Sequence[str]) -> list[InterruptGroup]:
    """One group per configuration stored under interrupts (with results), in order of first sight."""
    plain: dict[str, tuple[str, list[BenchRow]]] = {}
    interrupted: dict[str, list[tuple[StoredConfig, str, list[BenchRow]]]] = {}
    for (config, rows), label in zip(loaded, labels, strict=True):
        base = replace(config.config, interrupt="").key
        if not config.interrupt:
            plain[base] = (label, rows)
        elif rows:
            interrupted.setdefault(base, []).append((config, label, rows))
    groups = []
    for base, members in interrupted.items():
        label, baseline_rows = plain.get(base, ("", []))
        typical = _typical_words(baseline_rows)
        group = InterruptGroup(
            label=label or members[0][1].rsplit(" ", 1)[0],
            baseline=_accuracy(baseline_rows) if baseline_rows else None,
            baseline_problems=len(baseline_rows),
        )
        for config, member_label, rows in members:
            spec = parse_interrupt(config.interrupt)
            assert spec is not None
            reached = _interrupted(rows)
            group.points.append(
                InterruptPoint(
                    label=member_label,
                    spec=spec.text,
                    mode=spec.mode,
                    point=spec.point,
                    problems=len(rows),
                    interrupted=len(reached),
                    accuracy=_accuracy(rows),
                    extra_tokens=sum(_extra_tokens(r) for r in rows) / len(rows),
                    leakage=leakage(rows) if spec.mode == "hard" else Count(),
                    panic=panic(rows, typical) if spec.mode == "soft" else Count(),
                    self_doubt=self_doubt(rows) if spec.mode == "update" else Count(),
                    interrupted_accuracy=_accuracy(reached) if reached else None,
                )
            )
        group.points.sort(key=lambda p: (MODES.index(p.mode), p.point, p.spec))
        groups.append(group)
    return groups


def interrupts_markdown(groups: Sequence[InterruptGroup], image: str | None = None) -> str:
    """The report's ``Interrupts`` section (empty without interrupted configurations)."""
    if not groups:
        return ""
    lines = ["", "## Interrupts", ""]
    if image:
        lines += [f"![accuracy against the interrupt point]({image})", ""]
    for group in groups:
        baseline = (
            f"uninterrupted {100 * group.baseline:.1f}% ({group.baseline_problems} problems)"
            if group.baseline is not None
            else "no uninterrupted run stored"
        )
        lines += [
            f"**{group.label}**: {baseline}",
            "",
            "| Interrupt | Problems | Interrupted | Accuracy | Δ vs uninterrupted | Extra tokens | Leakage | Panic |"
            " Self-doubt | Accuracy (interrupted) |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for p in group.points:
            delta = "" if group.baseline is None else f"{100 * (p.accuracy - group.baseline):+.1f} pt"
            cells = [
                p.spec,
                str(p.problems),
                str(p.interrupted),
                f"{100 * p.accuracy:.1f}%",
                delta,
                f"{p.extra_tokens:.1f}",
                str(p.leakage),
                str(p.panic),
                str(p.self_doubt),
                "n/a" if p.interrupted_accuracy is None else f"{100 * p.interrupted_accuracy:.1f}%",
            ]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    lines.append(
        f"Interrupt points are fractions of each problem's uninterrupted reasoning length when it was stored, else of"
        f" max_tokens; updates are graded against the updated gold. Accuracy is over all problems (a run that ended"
        f" before the point answers as if uninterrupted); Accuracy (interrupted) over the Interrupted runs alone."
        f" Leakage: concluded samples writing more than"
        f" {LEAKAGE_WORDS} words after the answer cue; panic: hurried samples answering wrongly within"
        f" {PANIC_FRACTION:.0%} of the uninterrupted samples' median length after the note; self-doubt: interrupted"
        f" runs (those that received the update) giving the original answer instead of the updated one"
        f" (found/checked)."
    )
    return "\n".join(lines) + "\n"


def write_interrupt_plot(path: Path, groups: Sequence[InterruptGroup]) -> None:
    """Accuracy against the interrupt point (one panel per group, at most six), as PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # heavy: imported when drawing
    from matplotlib.figure import Figure
    from matplotlib.ticker import PercentFormatter

    shown = list(groups)[:6]
    figure = Figure(figsize=(8, 3.6 * len(shown)), dpi=120)
    FigureCanvasAgg(figure)
    for number, group in enumerate(shown, start=1):
        ax = figure.add_subplot(len(shown), 1, number)
        for colour, mode in enumerate(MODES):
            points = [p for p in group.points if p.mode == mode]
            if points:
                ax.plot([p.point for p in points], [p.accuracy for p in points], "o-", color=f"C{colour}", label=mode)
        if group.baseline is not None:
            ax.axhline(group.baseline, color="black", linestyle="--", linewidth=1, label="uninterrupted")
        ax.set_title(group.label, fontsize=9)
        ax.set_xlim(0, 1.05)
        ax.set_ylim(-0.03, 1.03)
        ax.yaxis.set_major_formatter(PercentFormatter(xmax=1.0))
        ax.set_xlabel("interrupt point (fraction of the reasoning)")
        ax.set_ylabel("accuracy")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
    figure.tight_layout()
    figure.savefig(path, format="png", metadata={"Software": None})
