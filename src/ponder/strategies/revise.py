"""Revision (self-refine; Madaan et al. 2023, as studied in "Think Deep, Think Fast" and "Bag of
Tricks"): answer, critique, revise, for R rounds, and keep the best draft by a scorer (or the last).

Algorithm: step 1 drafts an answer to the question (one generation). Each later step is one
round: the model critiques the latest draft with ``critique_prompt`` (one generation), then,
in the question's chat continued by that draft and a user turn ``revise_prompt`` carrying the
critique, writes a new draft (one generation). With a ``scorer`` every draft is scored as it
is written and the answer is that of the top-scored draft (ties go to the earlier one); without
one the answer is the last draft's (or the latest draft that states an answer). A critique that
contains ``stop_phrase`` ends the run early (the draft needs no revision).

Budget: a run of R rounds spends ``1 + 2R`` generations; ``rounds=0`` runs as many rounds as
the budget allows, and a budget too small for ``rounds`` ends the run after the last whole
round. Each step is a checkpoint: over a token or time budget the run stops with its best
draft so far.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from ponder.context import StepContext
from ponder.core.decision import Decision
from ponder.core.params import check, param
from ponder.core.result import Candidate
from ponder.core.voting import best_scored
from ponder.engines.base import Message
from ponder.strategies.base import StepInfo, Strategy, step_info
from ponder.strategies.templates import check_template

CRITIQUE_PROMPT = (
    "Question: {question}\n\nProposed solution:\n{answer}\n\n"
    "Check the solution step by step. Point out every mistake in its reasoning or arithmetic. "
    "If it is fully correct, say: No mistakes."
)
REVISE_PROMPT = (
    "A reviewer checked your solution:\n{critique}\n\n"
    "Write an improved solution that fixes any mistakes. Finish with 'The answer is' followed by the answer."
)
_CRITIQUE_FIELDS = frozenset({"question", "answer"})
_REVISE_FIELDS = frozenset({"question", "answer", "critique"})


@dataclass(frozen=True)
class ReviseParams:
    rounds: int = param(0, "critique-and-revise rounds; 0: as many as the budget allows (2 generations each)")
    scorer: str = param("", "scorer that picks the best draft (e.g. self-eval); empty: keep the last draft")
    critique_prompt: str = param(CRITIQUE_PROMPT, "critique request; fields {question} and {answer}")
    revise_prompt: str = param(REVISE_PROMPT, "revision request; fields {critique}, {question}, {answer}")
    critique_temperature: float = param(0.0, "temperature of the critiques (drafts use the run's, default 0.7)")
    stop_phrase: str = param("", "a critique containing this (case-insensitive) ends the run; empty: never")

    def __post_init__(self) -> None:
        check(self.rounds >= 0, f"rounds must be >= 0, got {self.rounds}")
        check(self.critique_temperature >= 0, f"critique_temperature must be >= 0, got {self.critique_temperature}")
        check_template("critique_prompt", self.critique_prompt, _CRITIQUE_FIELDS)
        check_template("revise_prompt", self.revise_prompt, _REVISE_FIELDS)


@dataclass(frozen=True)
class Drafts:
    """The drafts so far (oldest first, scored when there is a scorer), the critiques between
    them, and whether a critique found nothing to fix."""

    drafts: tuple[Candidate, ...] = ()
    critiques: tuple[str, ...] = ()
    settled: bool = False


class Revise(Strategy[ReviseParams, Drafts]):
    """Draft, then critique-and-revise rounds; the best draft by a scorer, or the last."""

    name: ClassVar[str] = "revise"
    summary: ClassVar[str] = "answer, critique, revise for R rounds; keep the best draft (or the last)"
    Params: ClassVar[type] = ReviseParams
    default_temperature: ClassVar[float] = 0.7

    def init(self, ctx: StepContext) -> Drafts:
        return Drafts()

    def rounds(self, ctx: StepContext) -> int:
        """Rounds this run will try: the parameter, or as many as the budget holds."""
        return self.params.rounds or max((ctx.budget.generations - 1) // 2, 0)

    async def step(self, state: Drafts, ctx: StepContext) -> tuple[Drafts, StepInfo]:
        """The first draft, or one round: a critique of the latest draft, then (unless settled) a revision."""
        temperature = self.temperature(ctx)
        if not state.drafts:
            [draft] = await ctx.sample(1, temperature=temperature)
            draft = await self._scored(draft, ctx)
            return Drafts((draft,)), step_info("draft", round=0, temperature=temperature, **_about(draft))
        last = state.drafts[-1]
        round_number = len(state.drafts)
        fields = {"question": ctx.question, "answer": last.text.strip()}
        [critique] = await ctx.sample(
            1,
            temperature=self.params.critique_temperature,
            messages=(Message("user", self.params.critique_prompt.format(**fields)),),
        )
        phrase = self.params.stop_phrase.lower()
        if phrase and phrase in critique.text.lower():
            info = step_info("critique", round=round_number, critique=critique.text, settled=True)
            return Drafts(state.drafts, state.critiques + (critique.text,), settled=True), info
        request = self.params.revise_prompt.format(critique=critique.text, **fields)
        chat = ctx.messages() + (Message("assistant", last.text), Message("user", request))
        [draft] = await ctx.sample(1, temperature=temperature, messages=chat)
        draft = await self._scored(draft, ctx)
        info = step_info("revise", round=round_number, critique=critique.text, **_about(draft))
        return Drafts(state.drafts + (draft,), state.critiques + (critique.text,)), info

    async def _scored(self, draft: Candidate, ctx: StepContext) -> Candidate:
        if not self.params.scorer:
            return draft
        [scored] = await ctx.score(self.params.scorer, [draft])
        return scored

    def done(self, state: Drafts, ctx: StepContext) -> bool:
        if not state.drafts:
            return False
        return state.settled or len(state.drafts) > self.rounds(ctx) or ctx.ledger.remaining() < 2

    def decide(self, state: Drafts, ctx: StepContext) -> Decision:
        if self.params.scorer:
            return best_scored(state.drafts, ctx.task)
        answered = [d for d in state.drafts if d.answer is not None]
        answer = answered[-1].answer if answered else None
        return Decision(answer=answer, candidates=state.drafts, votes={answer: 1.0} if answer is not None else {})


def _about(draft: Candidate) -> dict[str, Any]:
    """What the trace records of a draft."""
    return {
        "answer": draft.answer,
        "tokens": draft.completion_tokens,
        **({"score": round(draft.score, 4)} if draft.score is not None else {}),
    }
