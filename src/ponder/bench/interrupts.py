"""Benchmarks under interrupts: ``ponder bench ... --interrupt hard@0.3 | soft@0.5 | update@0.5:FIELD``.

A configuration with an interrupt spec solves each problem as an interruptible run
(:mod:`ponder.strategies.runner`) that is interrupted once a live sample has generated
``point x reference`` tokens: the reference is the mean completion tokens per sample of the same
configuration's stored *uninterrupted* result for that problem when there is one (the
interruption then falls at that fraction of the run's own reasoning, as in Wu et al. 2025,
"Are Large Reasoning Models Interruptible?"), else ``max_tokens``. Run the uninterrupted
configuration first (``--interrupt none,hard@0.3``: ``none`` runs first) to get the former. A run
whose samples all end before the point is not interrupted at all: the row's ``interrupted`` says
whether a signal reached a live sample (or a hard one stopped the run), and the report counts them.

Interrupts reach samples drawn as streams (:mod:`ponder.context.interruptible`); step-wise searches
(beam search, DVTS, A*, particle filtering and Gibbs) grow their paths in batched continuations
that no interrupt cuts, and a local engine that does not stream serves whole samples, so
:func:`check_interruptible` refuses both up front rather than store runs never interrupted.

- ``hard@P``: every live sample answers at once after an answer cue;
- ``soft@P``: live samples are told time is short and go on under a reduced budget;
- ``update@P:FIELD[:GOLD_FIELD]``: the text of the problem's ``FIELD`` is sent as an update; the
  answer is graded against ``GOLD_FIELD`` (default ``FIELD_answer``, when the row has it; else
  the problem's own gold). The built-in ``gsm8k-updates`` set has ``update`` and ``update_answer``.

Each stored row's trace ends with a ``bench-interrupt`` entry: the spec, the token point and its
reference, the cue and note used, and (updates) the original gold, which the report's detectors
read (:mod:`ponder.bench.report_interrupts`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from ponder.api import plan
from ponder.bench.types import BenchRow, Config, Problem
from ponder.context.interrupts import InterruptSettings, answer_cue
from ponder.core.errors import InvalidInputError
from ponder.core.result import SolveResult
from ponder.engines.base import Engine, EngineCapabilities
from ponder.registry import get_strategy
from ponder.scorers import Scorer
from ponder.search.steps import StepParams
from ponder.strategies.hogwild import Hogwild

NONE = "none"
BENCH_ENTRY = "bench-interrupt"
_SPEC = re.compile(r"^(hard|soft|update)@([0-9]*\.?[0-9]+)(?::([^:]+)(?::([^:]+))?)?$")


@dataclass(frozen=True)
class InterruptSpec:
    """A parsed interrupt spec: mode, point (a fraction in (0, 1]) and, for updates, the fields."""

    mode: Literal["hard", "soft", "update"]
    point: float
    field: str = ""
    gold_field: str = ""

    @property
    def text(self) -> str:
        """The spec as written (its canonical form)."""
        fields = (f":{self.field}" if self.field else "") + (f":{self.gold_field}" if self.gold_field else "")
        return f"{self.mode}@{self.point:g}{fields}"


def parse_interrupt(spec: str) -> InterruptSpec | None:
    """``hard@0.3``, ``soft@0.5``, ``update@0.5:FIELD[:GOLD_FIELD]``; ``""`` or ``none``: None."""
    text = spec.strip()
    if text in ("", NONE):
        return None
    match = _SPEC.match(text)
    if match is None:
        raise InvalidInputError(
            f"bad interrupt {spec!r}: use hard@P, soft@P or update@P:FIELD[:GOLD_FIELD] with P in (0, 1], or none"
        )
    mode, point, field, gold_field = match.groups()
    value = float(point)
    if not 0 < value <= 1:
        raise InvalidInputError(f"bad interrupt {spec!r}: the point {value:g} must be in (0, 1]")
    if mode == "update" and not field:
        raise InvalidInputError(f"bad interrupt {spec!r}: an update takes its text from a field (update@P:FIELD)")
    if mode != "update" and field:
        raise InvalidInputError(f"bad interrupt {spec!r}: only updates name a field")
    return InterruptSpec(mode, value, field or "", gold_field or "")  # type: ignore[arg-type]


def check_interruptible(
    specs: Sequence[str],
    strategies: Sequence[str] = (),
    options: Mapping[str, Any] | None = None,
    capabilities: EngineCapabilities | None = None,
) -> None:
    """Refuse interrupt specs (other than none) for strategies whose samples no interrupt reaches
    (step-wise searches), updates for a strategy that cannot deliver them (hogwild), or an engine
    that serves only whole samples (a local one that does not stream), in one error, before anything runs."""
    wanted = [text for text in specs if parse_interrupt(text) is not None]
    if not wanted:
        return
    searches = [name for name in strategies if isinstance(get_strategy(name, options).params, StepParams)]
    if searches:
        raise InvalidInputError(
            f"--interrupt {','.join(wanted)}: {', '.join(searches)} searches step by step in batched continuations"
            " that interrupts cannot reach; interrupt sampling strategies (self-consistency, best-of-n, deepconf, ...)"
        )
    updates = [text for text in wanted if (parsed := parse_interrupt(text)) is not None and parsed.mode == "update"]
    collaborating = [name for name in strategies if isinstance(get_strategy(name, options), Hogwild)]
    if updates and collaborating:  # its shared history cannot take a note: the update would never be delivered
        raise InvalidInputError(
            f"--interrupt {','.join(updates)}: {', '.join(collaborating)} cannot deliver an update (its workers' "
            "shared history takes no note); use hard@P or soft@P with it"
        )
    if capabilities is not None and not capabilities.streams and not capabilities.remote:
        raise InvalidInputError(
            f"--interrupt {','.join(wanted)}: the engine does not stream, so no sample can be interrupted mid-way"
        )


def canonical(spec: str) -> str:
    """The stored form of a spec (``""`` for none)."""
    parsed = parse_interrupt(spec)
    return "" if parsed is None else parsed.text


def reference_tokens(row: BenchRow) -> float | None:
    """A stored uninterrupted row's reasoning length: the mean completion tokens of its samples."""
    lengths = [c.completion_tokens for c in row.candidates if c.completion_tokens > 0]
    return sum(lengths) / len(lengths) if lengths else None


def update_problem(problem: Problem, spec: InterruptSpec) -> tuple[Problem, str]:
    """The problem graded after ``spec``'s update (its gold from the gold field), and the update's text."""
    text = problem.data.get(spec.field)
    if not isinstance(text, str) or not text.strip():
        raise InvalidInputError(f"problem {problem.id}: no update text in field {spec.field!r}")
    gold_field = spec.gold_field or f"{spec.field}_answer"
    gold = problem.data.get(gold_field)
    if gold is None and spec.gold_field:
        raise InvalidInputError(f"problem {problem.id}: no gold answer in field {spec.gold_field!r}")
    return (problem if gold is None else replace(problem, gold=str(gold).strip())), text


async def solve_interrupted(
    engine: Engine,
    problem: Problem,
    config: Config,
    spec: InterruptSpec,
    *,
    reference: float | None,
    task: str,
    scorers: Mapping[str, Scorer],
) -> tuple[Problem, SolveResult, dict[str, Any]]:
    """One problem under ``config`` as an interruptible run, interrupted per ``spec``; the problem
    as graded (an update's gold), the result, and the ``bench-interrupt`` trace entry."""
    graded, text = update_problem(problem, spec) if spec.mode == "update" else (problem, "")
    base = reference if reference is not None else float(config.max_tokens)
    tokens = max(1, round(spec.point * base))
    settings = InterruptSettings()
    run = plan(
        problem.question,
        strategy=config.strategy,
        options=dict(config.options),
        budget=config.budget,
        seed=config.seed,
        temperature=config.temperature,
        max_tokens=config.max_tokens,
        task=task,
        scorers=scorers,
    ).start(engine, interrupt_settings=settings)
    run.interrupt_at(tokens, spec.mode, text)
    result = await run.run()
    entry: dict[str, Any] = {
        "action": BENCH_ENTRY,
        "spec": spec.text,
        "mode": spec.mode,
        "point": spec.point,
        "at_tokens": tokens,
        "reference": "uninterrupted" if reference is not None else "max_tokens",
        "reference_tokens": round(base, 2),
        "interrupted": interrupted(result, spec),
        "cue": answer_cue(task, settings.answer_cue),
        "note": settings.soft_note if spec.mode == "soft" else "",
    }
    if spec.mode == "update":
        entry.update(update=text, original_gold=problem.gold, grader=problem.grader)
    return graded, result, entry


def interrupted(result: SolveResult, spec: InterruptSpec) -> bool:
    """Whether the signal acted on the run: it reached a live sample, or (hard) stopped the run at
    once with no sample live (a signal that fired on samples already at their end did nothing)."""
    entries = [e for e in result.trace if e.get("action") == "interrupt"]
    if any(e.get("samples") for e in entries):
        return True
    return bool(entries) and spec.mode == "hard" and result.stop_reason == "interrupted"
