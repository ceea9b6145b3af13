"""Interrupting a running run: hard and soft interrupts, and updates of the question mid-run.

After "Are Large Reasoning Models Interruptible?" (Wu et al. 2025, arXiv 2510.11713). A run's
:class:`Interrupts` knows every live sample of the run (each stream its contexts opened, see
:mod:`ponder.context.interruptible`) and, on a signal, acts on each of them through the engine's
per-sample stop, then continues the sample's own text (``assistant_prefix``, so the engine's
prefix cache serves the prompt and the partial text):

- **hard**: the sample stops at once; its partial text, with any open thinking section closed
  (``</think>``), is continued with an answer cue (:func:`answer_cue`, the task's "final answer"
  prompt) within ``answer_tokens`` tokens. The strategy receives the result as that sample's
  completion and decides over it as over any finished sample. Nothing new is generated for the
  run after a hard interrupt: a step that asks for more raises :class:`RunInterrupted` (the runner
  then keeps the state before that step);
- **soft**: the sample stops; ``soft_note`` ("time is short, conclude now") is appended and it
  continues with ``soft_budget`` of the tokens it had left (at least ``answer_tokens``);
- **update**: the sample stops; the update, in ``update_note``, is appended and it continues with
  the tokens it had left. A sample's token cap only shrinks: what a soft interrupt left is what a
  later soft interrupt or update counts from. A sample that had generated nothing yet restarts on the updated
  question instead, and every sample started later sees the updated question
  (:meth:`Interrupts.question`: the question, then each update under ``update_question``).

The paper inserts its interrupt at a point of a finished trace and regenerates from there; this is
the same done live, on a running sample. A sample that had already finished is left as it is, and
so is one answering a hard interrupt: a later hard interrupt counts it as reached (the runner
then never drops the step), a soft interrupt or an update does not cut its answer. An
engine that cannot continue a partial answer (``raw_continuation``) gets soft interrupts and
updates for new samples only, and a hard interrupt ends its live samples with their partial text.

Each sample reached is recorded (:class:`SampleRecord`: the signal, the sample's identity, the
tokens it had generated, the extra tokens generated after the signal, whether it was concluded
or restarted); the runner puts the records in the trace, and the extra tokens are counted in
``Usage.interrupt_tokens``. :meth:`Interrupts.at_tokens` fires an action once a live sample has
generated a number of tokens (benchmarks interrupt at a fraction of the reasoning this way).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from ponder.core.errors import InvalidInputError, PonderError
from ponder.core.text import check_text

Mode = Literal["hard", "soft", "update"]
MODES: tuple[Mode, ...] = ("hard", "soft", "update")

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
DEFAULT_CUES = {
    "math": "\n\nTime is up, so I stop reasoning here. The final answer is",
    "choice": "\n\nTime is up, so I stop reasoning here. The final answer is (",
    "label": "\n\nTime is up, so I stop reasoning here. The final answer is:",
    "code": "\n\nTime is up, so I stop here and write my final code.\n```python\n",
}
GENERIC_CUE = "\n\nTime is up, so I stop reasoning here. My final answer:"
SOFT_NOTE = "\n\n(Time is short: I must wrap up now and state my final answer.)\n\n"
UPDATE_NOTE = "\n\n[Update from the user: {text}]\n\n"
UPDATE_QUESTION = "\n\nUpdate: {text}"


class RunInterrupted(PonderError):
    """A hard-interrupted run asked for new generations (its runner keeps the state before the step)."""


@dataclass(frozen=True)
class InterruptSettings:
    """How interrupts act on live samples (see the module docstring).

    ``answer_cue`` ``""`` takes the task's cue (:data:`DEFAULT_CUES`); ``thinking`` ``None`` closes
    a thinking section when the partial text opened one (``<think>`` without ``</think>``),
    ``True`` always (models whose template opens it in the prompt), ``False`` never.
    """

    answer_cue: str = ""
    answer_tokens: int = 48
    soft_note: str = SOFT_NOTE
    soft_budget: float = 0.25
    update_note: str = UPDATE_NOTE
    update_question: str = UPDATE_QUESTION
    thinking: bool | None = None

    def __post_init__(self) -> None:
        if self.answer_tokens < 1:
            raise InvalidInputError(f"answer_tokens must be >= 1, got {self.answer_tokens}")
        if not 0 < self.soft_budget <= 1:
            raise InvalidInputError(f"soft_budget must be in (0, 1], got {self.soft_budget}")
        for name in ("update_note", "update_question"):
            if "{text}" not in getattr(self, name):
                raise InvalidInputError(f"{name} must hold {{text}}, where the update goes")
        for name in ("answer_cue", "soft_note", "update_note", "update_question"):
            check_text(getattr(self, name), name)

    def cue(self, task: str, text: str) -> str:
        """What follows ``text`` (a partial sample of a ``task`` question) on a hard interrupt."""
        close = self.thinking if self.thinking is not None else _open_thinking(text)
        return ("\n" + THINK_CLOSE if close else "") + answer_cue(task, self.answer_cue)

    def soft_tokens(self, left: int) -> int:
        """The tokens a sample with ``left`` tokens to go may still spend after a soft interrupt."""
        return max(self.answer_tokens, math.ceil(self.soft_budget * max(left, 0)))


def answer_cue(task: str, given: str = "") -> str:
    """The answer cue of a hard interrupt: ``given``, else the task's (:data:`DEFAULT_CUES`)."""
    return given or DEFAULT_CUES.get(task, GENERIC_CUE)


def _open_thinking(text: str) -> bool:
    opened = text.rfind(THINK_OPEN)
    return opened >= 0 and text.find(THINK_CLOSE, opened) < 0


@dataclass(frozen=True)
class Signal:
    """One interrupt or update: its mode, the update's text, and its number in the run (from 1)."""

    mode: Mode
    text: str = ""
    number: int = 0


@dataclass
class SampleRecord:
    """What a signal did to one sample: ``tokens`` it had generated, ``extra_tokens`` generated
    after the signal (until the next signal or its end), ``concluded`` (an answer cue was added),
    ``restarted`` (an update reached it before its first token: it began again on the updated
    question), ``continued`` (False when the engine could not continue it) and its final
    ``finish_reason`` once it ended."""

    signal: int
    mode: Mode
    sample: int
    tokens: int
    extra_tokens: int = 0
    concluded: bool = False
    restarted: bool = False
    continued: bool = True
    finish_reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "signal": self.signal,
            "mode": self.mode,
            "sample": self.sample,
            "tokens": self.tokens,
            "extra_tokens": self.extra_tokens,
            "concluded": self.concluded,
            "restarted": self.restarted,
            "continued": self.continued,
            "finish_reason": self.finish_reason,
        }


class Live(Protocol):
    """A live stream an interrupt can reach (:class:`ponder.context.interruptible.LiveStream`)."""

    def interrupt(self, signal: Signal) -> int:
        """Act on the stream's live samples; how many it reached."""
        ...


@dataclass
class _Trigger:
    tokens: int
    action: Callable[[], None]


@dataclass
class Interrupts:
    """The signals of one run and the live samples they reach (see the module docstring); shared
    by a run's context and its sub-contexts. Call it on the run's event loop (the runner does).

    ``streams`` (an interruptible run) makes :meth:`StepContext.sample
    <ponder.context.StepContext.sample>` draw through the engine's stream (on a server that takes
    ``n``, one stream per sample, seeded per sample), so interrupts reach its samples too.
    """

    settings: InterruptSettings = field(default_factory=InterruptSettings)
    streams: bool = False
    signals: list[Signal] = field(default_factory=list)
    records: list[SampleRecord] = field(default_factory=list)
    _live: list[Live] = field(default_factory=list)
    _triggers: list[_Trigger] = field(default_factory=list)
    _reported: int = 0  # signals already in the trace
    _reported_records: int = 0

    @property
    def hard(self) -> bool:
        """Whether a hard interrupt was signalled (nothing new may be generated)."""
        return any(s.mode == "hard" for s in self.signals)

    @property
    def updates(self) -> list[str]:
        return [s.text for s in self.signals if s.mode == "update"]

    def question(self, asked: str) -> str:
        """The question as samples starting now see it: ``asked``, then every update so far."""
        return asked + "".join(self.settings.update_question.format(text=text) for text in self.updates)

    def check(self) -> None:
        """Refuse new generations after a hard interrupt (:class:`RunInterrupted`)."""
        if self.hard:
            raise RunInterrupted("the run was interrupted (hard): it generates nothing new")

    # -- live samples ------------------------------------------------------------------------

    def register(self, live: Live) -> None:
        self._live.append(live)

    def unregister(self, live: Live) -> None:
        if live in self._live:
            self._live.remove(live)

    def signal(self, mode: Mode, text: str = "") -> int:
        """Signal every live sample; how many were reached."""
        if mode not in MODES:
            raise InvalidInputError(f"unknown interrupt {mode!r}; use one of {', '.join(MODES)}")
        if mode == "update":
            check_text(text, "the update")
            if not text.strip():
                raise InvalidInputError("the update is empty")
        signal = Signal(mode, text, len(self.signals) + 1)
        self.signals.append(signal)
        return sum(live.interrupt(signal) for live in list(self._live))

    def at_tokens(self, tokens: int, action: Callable[[], None]) -> None:
        """Call ``action`` once, when a live sample has first generated ``tokens`` tokens."""
        if tokens < 1:
            raise InvalidInputError(f"an interrupt point must be >= 1 token, got {tokens}")
        self._triggers.append(_Trigger(tokens, action))

    def grew(self, tokens: int) -> None:
        """A live sample now holds ``tokens`` generated tokens (fires the triggers it reaches)."""
        if not self._triggers:
            return
        due = [t for t in self._triggers if tokens >= t.tokens]
        self._triggers = [t for t in self._triggers if tokens < t.tokens]
        for trigger in due:
            trigger.action()

    # -- the trace -----------------------------------------------------------------------------

    def record(self, signal: Signal, sample: int, tokens: int) -> SampleRecord:
        record = SampleRecord(signal.number, signal.mode, sample, tokens)
        self.records.append(record)
        return record

    def trace_entry(self) -> dict[str, Any] | None:
        """The signals and sample records not yet in the trace, as one trace entry (``None`` when
        there are none): ``signals`` (mode, update text), ``samples`` (:class:`SampleRecord` s) and
        ``extra_tokens`` (their sum)."""
        signals = self.signals[self._reported :]
        records = self.records[self._reported_records :]
        if not signals and not records:
            return None
        self._reported, self._reported_records = len(self.signals), len(self.records)
        return {
            "action": "interrupt",
            "signals": [{"signal": s.number, "mode": s.mode, **({"text": s.text} if s.text else {})} for s in signals],
            "samples": [r.to_dict() for r in records],
            "extra_tokens": sum(r.extra_tokens for r in records),
        }
