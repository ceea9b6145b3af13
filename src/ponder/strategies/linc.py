"""LINC (Olausson et al. 2023): the model translates, a theorem prover reasons.

Algorithm: a problem is premises plus a conclusion. Each of K samples (the budget) asks the
model, with a few-shot prompt that pairs every sentence with its first-order formula (FOLIO
notation), to translate the premises and the conclusion; ponder parses the formulas and asks z3
whether the premises entail the conclusion (True), its negation (False) or neither (Uncertain).
A translation that does not parse, or that the prover cannot decide, is an Error and does not
vote; the answer is the majority label over the rest.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, replace
from typing import ClassVar

from ponder.answers import get_task
from ponder.context import StepContext
from ponder.core.decision import Decision
from ponder.core.errors import InvalidInputError
from ponder.core.params import check, param
from ponder.core.result import Candidate
from ponder.core.voting import vote
from ponder.engines.base import Message
from ponder.logic import decide
from ponder.strategies.base import StepInfo, Strategy, step_info
from ponder.strategies.sampling import Samples

LABELS = get_task("label")

SYSTEM = (
    "Translate each sentence into first-order logic. Use the symbols ∀ ∃ ¬ ∧ ∨ → ↔ ⊕ and predicates "
    "like Dog(x). Answer with one TEXT line and one FOL line per sentence, the conclusion last, "
    "then </EVALUATE>."
)
EXAMPLE = """<PREMISES>
All dogs are mammals.
Every mammal that barks is loud.
Rex is a dog and Rex barks.
</PREMISES>
<CONCLUSION>
Rex is loud.
</CONCLUSION>
<EVALUATE>
TEXT: All dogs are mammals.
FOL: ∀x (Dog(x) → Mammal(x))
TEXT: Every mammal that barks is loud.
FOL: ∀x ((Mammal(x) ∧ Barks(x)) → Loud(x))
TEXT: Rex is a dog and Rex barks.
FOL: Dog(rex) ∧ Barks(rex)
TEXT: Rex is loud.
FOL: Loud(rex)
</EVALUATE>"""

_PREMISES_RE = re.compile(r"premises\s*:\s*(.*?)\s*conclusion\s*:\s*(.*)", re.IGNORECASE | re.DOTALL)
_FOL_RE = re.compile(r"^\s*FOL\s*:\s*(.+?)\s*$", re.MULTILINE)


def format_problem(premises: list[str], conclusion: str) -> str:
    """The plain-text form of a problem: a ``Premises:`` part, one per line, and a ``Conclusion:``."""
    if not premises or not all(p.strip() for p in premises) or not conclusion.strip():
        raise InvalidInputError("a logic problem needs non-empty premises and a conclusion")
    return "Premises:\n" + "\n".join(p.strip() for p in premises) + f"\nConclusion: {conclusion.strip()}"


def parse_problem(text: str) -> tuple[list[str], str]:
    """Premises (one per line) and the conclusion of a ``Premises: ... Conclusion: ...`` text."""
    match = _PREMISES_RE.search(text)
    if not match:
        raise InvalidInputError("a LINC problem needs a 'Premises:' part followed by a 'Conclusion:' part")
    premises = [line.strip(" -*\t") for line in match.group(1).splitlines() if line.strip(" -*\t")]
    conclusion = " ".join(match.group(2).split())
    if not premises or not conclusion:
        raise InvalidInputError("a LINC problem needs at least one premise and a conclusion")
    return premises, conclusion


def prompt_for(premises: list[str], conclusion: str) -> str:
    body = "\n".join(premises)
    return f"{EXAMPLE}\n\n<PREMISES>\n{body}\n</PREMISES>\n<CONCLUSION>\n{conclusion}\n</CONCLUSION>"


def judge(candidate: Candidate, timeout_ms: int) -> Candidate:
    """The candidate with its answer set to the prover's label, or None and the reason on Error."""
    formulas = _FOL_RE.findall(candidate.text)
    if len(formulas) < 2:
        return replace(candidate, answer=None, evidence="the translation has fewer than two FOL lines")
    verdict = decide(formulas[:-1], formulas[-1], timeout_ms=timeout_ms)
    if verdict.label == "Error":
        return replace(candidate, answer=None, evidence=verdict.reason)
    return replace(candidate, answer=verdict.label, evidence=verdict.reason or None)


@dataclass(frozen=True)
class LincParams:
    timeout_ms: int = param(10_000, "prover time limit per translation, in milliseconds")

    def __post_init__(self) -> None:
        check(self.timeout_ms >= 1, f"timeout_ms must be >= 1, got {self.timeout_ms}")


class Linc(Strategy[LincParams, Samples]):
    """K translations to first-order logic, each decided by z3; majority over decided labels."""

    name: ClassVar[str] = "linc"
    summary: ClassVar[str] = "translate to first-order logic, prove with z3, vote over K translations"
    Params: ClassVar[type] = LincParams

    def init(self, ctx: StepContext) -> Samples:
        parse_problem(ctx.question)  # a malformed problem fails before any generation
        return Samples()

    async def step(self, state: Samples, ctx: StepContext) -> tuple[Samples, StepInfo]:
        premises, conclusion = parse_problem(ctx.question)
        n = ctx.ledger.remaining()
        temperature = self.temperature(ctx)
        messages = (Message("system", SYSTEM), Message("user", prompt_for(premises, conclusion)))
        drafts = await ctx.sample(
            n, temperature=temperature, messages=messages, assistant_prefix="<EVALUATE>\n", stop=("</EVALUATE>",)
        )
        judged = await asyncio.gather(*(asyncio.to_thread(judge, c, self.params.timeout_ms) for c in drafts))
        votes = vote(judged, LABELS).votes
        info = step_info(
            "translate-and-prove",
            n=n,
            temperature=temperature,
            votes=votes,
            errors=sum(c.answer is None for c in judged),
        )
        return Samples(tuple(judged), finished=True), info

    def done(self, state: Samples, ctx: StepContext) -> bool:
        return state.finished

    def decide(self, state: Samples, ctx: StepContext) -> Decision:
        return vote(state.candidates, LABELS)
