"""Hogwild! Inference (Rodionov et al. 2025): workers that write one shared history together.

Algorithm: ``W`` workers (``workers``, default 2, the paper's Alice and Bob) answer one question
at the same time from one prompt (:mod:`ponder.strategies.hogwild_prompts`: they are told they
write in parallel, see each other's finished steps, may split the work and check each other, and
that any one of them writes the final answer). They synchronise at step granularity, the paper's
step-wise layout: a step is text up to ``delimiter`` (default a blank line; with ``sentence_end``,
as in the reference code, only after a sentence) or ``step_tokens`` tokens (default: no cap, as the
paper); a finished step joins a *common history* in the order steps finish, and each worker writes
its next step after the whole history as it stands. The answer is the one the first step that
states a final answer gives (in the task's format, one the task can read); the collaboration then
stops. When none does before the budget ends, the answer is a majority vote over the workers' own
texts (each worker's steps and its step in progress).

Where it runs. On an engine with a shared-cache primitive (the embedded llama.cpp engine,
``capabilities.shared_cache``), the workers decode in one batch with whatever else is running and
the history lives once in the KV cache, shared by every worker's sequence: a finished step is
moved, not recomputed (:mod:`ponder.engines.llama.collab`). Elsewhere (HTTP servers, the fake
engine; or ``shared=false``), the same protocol re-sends the history as the prompt of each step
(:mod:`ponder.context.collaboration_resend`): the same history and answer rule, but not
concurrent attention, and each step's prompt is computed again except what a prefix cache serves.

Deviations from the paper, each behind a parameter: the others' steps in progress are not shown
(exactness on llama.cpp's cache; see :mod:`ponder.engines.llama.collab`); the prompt has no few-shot
examples (``prompt``); on a budget with no final answer the paper forces one with a finisher cue,
ponder votes over the workers' answers instead.

Budget: the workers are ``W`` generations (a generation budget below ``workers`` runs that many);
each writes at most ``max_tokens`` tokens (the run's setting; the reference code's ``max_steps``
counts the same forward passes); a token budget caps all workers together and a time budget cuts
the run, each leaving the answer so far. ``max_steps`` caps the steps in the history. A hard or
soft interrupt ends the collaboration and answers from what the workers wrote (an update is not
delivered: the history cannot take a note without recomputing). Each trace entry is one step of
the history (worker, its step number, order, tokens, start and end seconds, its text); the last
says why it ended, where the answer came from and the engine's cache counters.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, ClassVar

from ponder.context import StepContext
from ponder.context.collaboration import MeteredCollaboration
from ponder.core.decision import Decision
from ponder.core.params import check, param
from ponder.core.result import Candidate, FinishReason
from ponder.core.voting import vote
from ponder.engines.base import GenerationRequest
from ponder.engines.collaboration import CollabEnd, CollabEvent, CollabRequest, FinishedStep
from ponder.strategies.base import StepInfo, Strategy, step_info
from ponder.strategies.hogwild_prompts import (
    COLLABORATION,
    NAMES,
    PROMPT_FIELDS,
    answer_format,
    headers,
    names_text,
    openers,
)
from ponder.strategies.templates import check_template

SENTENCE_END = ".?!"


@dataclass(frozen=True)
class HogwildParams:
    workers: int = param(2, f"workers writing together (the paper: 2; 1 to {len(NAMES)})")
    delimiter: str = param("\n\n", "text that ends a step (the paper: a blank line)")
    sentence_end: bool = param(True, "a step ends at the delimiter only after a sentence, as the reference code")
    step_tokens: int = param(0, "token cap per step; 0: none (the paper)")
    max_steps: int = param(0, "most steps in the common history; 0: no cap")
    shared: bool = param(True, "use the engine's shared KV cache when it has one; false re-sends the history")
    openers: bool = param(True, "open each worker's first step with a greeting, as the reference code")
    prompt: str = param(COLLABORATION, "the collaboration prompt: {question} {workers} {names} {first} {answer_format}")

    def __post_init__(self) -> None:
        check(1 <= self.workers <= len(NAMES), f"workers must be in 1..{len(NAMES)}, got {self.workers}")
        check(bool(self.delimiter), "the step delimiter must not be empty")
        check(self.step_tokens >= 0, f"step_tokens must be >= 0, got {self.step_tokens}")
        check(self.max_steps >= 0, f"max_steps must be >= 0, got {self.max_steps}")
        check_template("the hogwild prompt", self.prompt, PROMPT_FIELDS)


@dataclass(frozen=True)
class HogwildState:
    """The collaboration (once started), the history so far and, once over, how it ended."""

    session: MeteredCollaboration | None = None
    names: tuple[str, ...] = ()
    first_identity: int = 0
    steps: tuple[FinishedStep, ...] = ()
    end: CollabEnd | None = None


class Hogwild(Strategy[HogwildParams, HogwildState]):
    """Workers on one shared history; see the module docstring."""

    name: ClassVar[str] = "hogwild"
    summary: ClassVar[str] = "parallel workers write one shared history step by step (Hogwild! Inference)"
    Params: ClassVar[type] = HogwildParams

    def init(self, ctx: StepContext) -> HogwildState:
        return HogwildState()

    def request(self, ctx: StepContext) -> CollabRequest:
        """The collaboration this run asks for."""
        p = self.params
        names = NAMES[: max(min(p.workers, ctx.ledger.remaining()), 1)]
        fmt = answer_format(ctx.task.name)
        user = p.prompt.format(
            question=ctx.question,
            workers=len(names),
            names=names_text(names),
            first=names[0],
            answer_format=fmt.wording,
        )
        prompt = GenerationRequest(
            messages=ctx.messages(user=user),
            max_tokens=ctx.settings.max_tokens,
            temperature=self.temperature(ctx, n=len(names)),
            top_p=ctx.settings.top_p,
            seed=ctx.settings.seed,
        )
        return CollabRequest(
            prompt,
            headers(names),
            openers(names) if p.openers else (),
            delimiter=p.delimiter,
            end_chars=SENTENCE_END if p.sentence_end else "",
            step_tokens=p.step_tokens,
            max_steps=p.max_steps,
            final=fmt.stated,
        )

    async def step(self, state: HogwildState, ctx: StepContext) -> tuple[HogwildState, StepInfo]:
        session = state.session
        if session is None:
            request = self.request(ctx)
            session = ctx.collaborate(request, shared=self.params.shared)
            names = NAMES[: request.workers]
            state = replace(state, session=session, names=names, first_identity=session.request.prompt.first_index)
        events: list[CollabEvent] = [await session.next()]
        if not isinstance(events[-1], CollabEnd) and ctx.ledger.limit_reached() is not None:
            session.cancel()  # the runner stops after this step: end the collaboration and take its end
        while session.stopping and not isinstance(events[-1], CollabEnd):  # interrupted: take what is left
            events.append(await session.next())
        steps = tuple(e for e in events if isinstance(e, FinishedStep))
        end = next((e for e in events if isinstance(e, CollabEnd)), None)
        state = replace(state, steps=state.steps + steps, end=end)
        if end is None and len(steps) == 1:
            return state, step_info("step", **self._step_entry(state, steps[0]))
        return state, self._end_entry(state, steps, end, ctx)

    def _step_entry(self, state: HogwildState, step: FinishedStep) -> dict[str, Any]:
        return {
            "worker": state.names[step.worker],
            "number": step.number,
            "order": step.order,
            "tokens": step.tokens,
            "started": step.started,
            "ended": step.ended,
            "final": step.final,
            "text": step.text.strip(),
        }

    def _end_entry(
        self, state: HogwildState, steps: tuple[FinishedStep, ...], end: CollabEnd | None, ctx: StepContext
    ) -> StepInfo:
        final = self._final(state, ctx)
        details: dict[str, Any] = {"steps": [self._step_entry(state, s) for s in steps]}
        if end is not None:
            details |= {
                "reason": end.reason,
                "answer_from": "vote" if final is None else f"{state.names[final.worker]} [{final.number}]",
                "in_progress": [
                    {"worker": state.names[i], "tokens": tokens, "text": text.strip()}
                    for i, (text, tokens) in enumerate(zip(end.partial, end.partial_tokens, strict=True))
                    if text.strip()
                ],
                "shared_cache": self.params.shared and ctx.engine.capabilities.shared_cache,
                "counters": dict(end.counters),
            }
        return StepInfo("end" if end is not None else "steps", details)

    def done(self, state: HogwildState, ctx: StepContext) -> bool:
        """Over once the collaboration ended (when a budget ran out, the runner says which:
        its stop reason is then ``tokens`` or ``seconds``)."""
        return state.end is not None and ctx.ledger.limit_reached() is None

    def decide(self, state: HogwildState, ctx: StepContext) -> Decision:
        candidates = self._candidates(state, ctx)
        final = self._final(state, ctx)
        answer = ctx.task.extract(final.text) if final is not None else None
        if answer is None:
            return vote(candidates, ctx.task)
        return Decision(answer=answer, candidates=tuple(candidates), votes={answer: 1.0})

    def _final(self, state: HogwildState, ctx: StepContext) -> FinishedStep | None:
        """The first step in the history that states a final answer the task can read."""
        return next((s for s in state.steps if s.final and ctx.task.extract(s.text) is not None), None)

    def _candidates(self, state: HogwildState, ctx: StepContext) -> list[Candidate]:
        """One candidate per worker: its own steps and its step in progress, in its own words."""
        end = state.end
        finish: FinishReason = "cancelled"
        if end is not None:
            finish = (
                "stop"
                if end.reason in ("answer", "exhausted")
                else "cancelled"
                if end.reason == "cancelled"
                else "length"
            )
        candidates = []
        for worker in range(len(state.names)):
            own = [s for s in state.steps if s.worker == worker]
            parts = [s.text.strip() for s in own]  # without headers: their step numbers are not answers
            tokens = sum(s.tokens for s in own)
            if end is not None and end.partial[worker].strip():
                parts.append(end.partial[worker].strip())
                tokens += end.partial_tokens[worker]
            text = "\n\n".join(parts)
            candidates.append(
                Candidate(
                    text=text,
                    answer=ctx.task.extract(text) if text.strip() else None,
                    finish_reason=finish,
                    completion_tokens=tokens,
                    index=state.first_identity + worker,
                )
            )
        return candidates
