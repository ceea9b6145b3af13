"""The reasoning actions of DOTS (Yue et al. 2024, "DOTS: Learning to Reason Dynamically in LLMs
via Optimal Reasoning Trajectories Search"), in three layers:

- analysis: ``rewrite`` (restate the question clearly) or ``plan`` (decompose it into steps);
- solution: ``cot`` (chain-of-thought prose) or ``pot`` (program of thought: a Python program
  the sandbox runs);
- verification: ``verify`` (the model checks the solution and confirms or corrects its answer).

Each action is one prompt sent through :meth:`~ponder.context.StepContext.sample`, so its
generations, tokens and calls are metered like any other sample. Actions read and extend a
:class:`Work` record: analysis adds a note that the solution prompt shows, the solution adds
candidates, verification adds a verdict.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Literal

from ponder.answers.program import PROGRAM_SYSTEM_PROMPT
from ponder.context import StepContext
from ponder.context.programs import execute
from ponder.core.result import Candidate
from ponder.core.voting import vote
from ponder.engines.base import Message

Layer = Literal["analysis", "solution", "verification"]
LAYERS: tuple[Layer, ...] = ("analysis", "solution", "verification")

REWRITE_PROMPT = (
    "Rewrite the question below so that it is clear and complete: keep every given fact and number "
    "and say exactly what is asked. Do not solve it. Reply with the rewritten question only."
)
PLAN_PROMPT = (
    "Break the problem below into a short numbered list of steps that lead to its answer. "
    "Do not carry the steps out. Reply with the steps only."
)
COT_SUFFIX = " Reason step by step before giving the final answer."
VERIFY_PROMPT = (
    "Check the proposed solution to the problem step by step. If it is right, repeat its final "
    "answer; if it is wrong, correct it. Finish with 'The answer is' followed by the final answer."
)


@dataclass(frozen=True)
class Work:
    """What a trajectory has produced so far: analysis notes ``(label, text)``, solution
    candidates (``programs``: they are programs, answered by running them), and the verifier's
    candidate (None until verified)."""

    notes: tuple[tuple[str, str], ...] = ()
    solutions: tuple[Candidate, ...] = ()
    verdict: Candidate | None = None
    programs: bool = False


Run = Callable[[StepContext, Work, int, float], Awaitable[Work]]
"""An action's body: (context, work so far, samples to draw, temperature) -> work extended."""


@dataclass(frozen=True)
class Action:
    """One reasoning action: its name, its layer, what it does (for help and traces), its body."""

    name: str
    layer: Layer
    about: str
    run: Run


def posed(ctx: StepContext, work: Work) -> str:
    """The question with the analysis notes after it (what a solution action sees)."""
    notes = "".join(f"\n\n{label}:\n{text}" for label, text in work.notes)
    return ctx.question + notes


async def _one(ctx: StepContext, messages: tuple[Message, ...], temperature: float) -> Candidate:
    [candidate] = await ctx.sample(1, temperature=temperature, messages=messages)
    return candidate


def _note(label: str, prompt: str) -> Run:
    async def run(ctx: StepContext, work: Work, n: int, temperature: float) -> Work:
        reply = await _one(ctx, ctx.messages(prompt), temperature)
        text = reply.text.strip()
        if reply.finish_reason == "error" or not text:  # nothing usable: the solution sees the question alone
            return work
        return replace(work, notes=work.notes + ((label, text),))

    return run


async def _cot(ctx: StepContext, work: Work, n: int, temperature: float) -> Work:
    system = ctx.settings.system_prompt or "Answer the question. Finish with 'The answer is' and the answer."
    new = await ctx.sample(n, temperature=temperature, messages=ctx.messages(system + COT_SUFFIX, posed(ctx, work)))
    return replace(work, solutions=work.solutions + tuple(new))


async def _pot(ctx: StepContext, work: Work, n: int, temperature: float) -> Work:
    drafts = await ctx.sample(
        n, temperature=temperature, messages=ctx.messages(PROGRAM_SYSTEM_PROMPT, posed(ctx, work))
    )
    return replace(work, solutions=work.solutions + tuple(await execute(drafts)), programs=True)


def _shown(candidate: Candidate, program: bool) -> str:
    """A solution as the verifier sees it: a program comes with what its run gave."""
    if not program:
        return candidate.text
    printed = candidate.answer if candidate.answer is not None else f"no answer ({candidate.evidence})"
    return f"{candidate.text}\n\nRunning the program gave: {printed}"


async def _verify(ctx: StepContext, work: Work, n: int, temperature: float) -> Work:
    if not work.solutions:
        return work
    answer = vote(work.solutions, ctx.task).answer  # the proposed solution: the first with the voted answer
    shown = next((c for c in work.solutions if c.answer == answer), work.solutions[0])
    user = f"Problem:\n{ctx.question}\n\nProposed solution:\n{_shown(shown, work.programs)}"
    verdict = await _one(ctx, ctx.messages(VERIFY_PROMPT, user), temperature)
    return replace(work, verdict=verdict)


ACTIONS: dict[str, Action] = {
    action.name: action
    for action in (
        Action(
            "rewrite",
            "analysis",
            "restate the question clearly, without solving it",
            _note("Rewritten question", REWRITE_PROMPT),
        ),
        Action(
            "plan",
            "analysis",
            "decompose the question into steps, without carrying them out",
            _note("Plan", PLAN_PROMPT),
        ),
        Action("cot", "solution", "chain-of-thought: reason in prose to the answer", _cot),
        Action("pot", "solution", "program of thought: a Python program run in the sandbox", _pot),
        Action("verify", "verification", "check the solution and confirm or correct its answer", _verify),
    )
}
"""Every action by name; a layer may also be skipped (``none``)."""


def layer_actions(layer: Layer) -> list[str]:
    """The names of a layer's actions, in declaration order."""
    return [name for name, action in ACTIONS.items() if action.layer == layer]
