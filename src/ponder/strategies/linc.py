"""LINC (Olausson et al. 2023): the model translates, a theorem prover reasons.

Algorithm: a problem is premises plus a conclusion. Each of K samples (the budget) asks the
model to translate the premises and the conclusion into first-order logic with LINC's 8-shot
prompt: its instructions, then 8 worked problems, each ``<PREMISES>`` (one sentence a line),
``<CONCLUSION>`` and ``<EVALUATE>`` with a ``TEXT:`` line and a ``FOL:`` line per sentence, the
conclusion last, closed by ``</EVALUATE>``; then the problem, up to ``<EVALUATE>``; generation
stops at ``</EVALUATE>``. In a chat, as LINC's chat runs do, the system prompt asks the model to
continue the text, and ``<EVALUATE>`` opens the reply. The ``FOL:`` lines are the premises, the
last one the conclusion, and :func:`ponder.logic.decide` gives LINC's label: True if the
premises prove the conclusion, else False if they prove its negation, else Uncertain
(inconsistent premises prove both, so they give True, as in LINC; the candidate's evidence and
the step's trace count them). A translation without any ``FOL:`` line, one that does not parse,
or (``on_timeout="Error"``, LINC's code) one whose proof attempt runs out of time, is an Error
and does not vote; the answer is the majority label over the rest, ties to the label seen first.

Deliberate differences from LINC, both of notation: the formulas are in FOLIO's own notation
(∀ ∃ ¬ ∧ ∨ → ↔ ⊕), which :mod:`ponder.logic` reads, not NLTK's, which LINC's Prover9 bridge reads
(the instruction line that names the notation says so); and the 8 worked problems are ponder's
own (``prompts/linc_fewshot.json``), written in FOLIO's form after the 8 FOLIO-train stories LINC
uses, with the same labels in the same order, since FOLIO's text is CC BY-SA and is not shipped;
none comes from the FOLIO validation problems.
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass, replace
from functools import cache
from importlib.resources import files
from typing import ClassVar

from ponder.answers import get_task
from ponder.context import StepContext
from ponder.core.decision import Decision
from ponder.core.errors import InvalidInputError
from ponder.core.params import check, param
from ponder.core.result import Candidate
from ponder.core.voting import vote
from ponder.engines.base import Message
from ponder.logic import INCONSISTENT_PREMISES, OnTimeout, decide
from ponder.strategies.base import StepInfo, Strategy, step_info
from ponder.strategies.sampling import Samples

LABELS = get_task("label")

# LINC's system prompt for chat models (its ``chat_system_instruction``).
SYSTEM = (
    "You are a helpful assistant that carefully follows instructions. You should complete the user text, "
    "continuing from the example format, rather than providing a conversational response."
)
# LINC's instructions for its neurosymbolic mode; the last line names FOLIO's notation instead of NLTK's.
INSTRUCTIONS = (
    "The following is a first-order logic (FOL) problem.\n"
    "The problem is to determine whether the conclusion follows from the premises.\n"
    "The premises are given in the form of a set of first-order logic sentences.\n"
    "The conclusion is given in the form of a single first-order logic sentence.\n"
    "The task is to translate each of the premises and conclusions into FOL expressions, so that the expressions "
    "can be evaluated by a theorem solver to determine whether the conclusion follows from the premises.\n"
    "Expressions should adhere to the FOLIO notation: the symbols ∀ ∃ ¬ ∧ ∨ → ↔ ⊕, predicates like Dog(x) and "
    "constants like rex.\n\n"
)
EVALUATE = "<EVALUATE>\n"
FEWSHOT_FILE = "prompts/linc_fewshot.json"


@dataclass(frozen=True)
class Example:
    """A worked problem of the prompt: sentences, their formulas, and the label the prover gives."""

    premises: tuple[str, ...]
    premise_formulas: tuple[str, ...]
    conclusion: str
    conclusion_formula: str
    label: str


@cache
def fewshot_examples() -> tuple[Example, ...]:
    """The prompt's 8 worked problems, shipped with the package (see the file's ``source``)."""
    data = json.loads(files("ponder.strategies").joinpath(FEWSHOT_FILE).read_text(encoding="utf-8"))
    return tuple(
        Example(tuple(e["premises"]), tuple(e["premises-FOL"]), e["conclusion"], e["conclusion-FOL"], e["label"])
        for e in data["examples"]
    )


def _problem_block(premises: list[str] | tuple[str, ...], conclusion: str) -> str:
    body = "".join(f"{p.strip()}\n" for p in premises)
    return f"<PREMISES>\n{body}</PREMISES>\n<CONCLUSION>\n{conclusion.strip()}\n</CONCLUSION>\n"


def _worked(example: Example) -> str:
    pairs = zip(
        (*example.premises, example.conclusion), (*example.premise_formulas, example.conclusion_formula), strict=True
    )
    lines = "".join(f"TEXT:\t{text.strip()}\nFOL:\t{formula.strip()}\n" for text, formula in pairs)
    return _problem_block(example.premises, example.conclusion) + EVALUATE + lines + "</EVALUATE>\n"


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
    """LINC's prompt for a problem, up to (not including) the ``<EVALUATE>`` that opens the reply:
    instructions, the 8 worked problems, then the problem."""
    worked = "\n".join(_worked(e) for e in fewshot_examples())
    return "\n".join([INSTRUCTIONS, worked, _problem_block(premises, conclusion)])


def judge(candidate: Candidate, timeout_ms: int, on_timeout: OnTimeout = "Error") -> Candidate:
    """The candidate with its answer set to the prover's label, or None and the reason on Error."""
    formulas = _FOL_RE.findall(candidate.text)
    if not formulas:
        return replace(candidate, answer=None, evidence="the translation has no FOL line")
    verdict = decide(formulas[:-1], formulas[-1], timeout_ms=timeout_ms, on_timeout=on_timeout)
    if verdict.label == "Error":
        return replace(candidate, answer=None, evidence=verdict.reason)
    return replace(candidate, answer=verdict.label, evidence=verdict.reason or None)


@dataclass(frozen=True)
class LincParams:
    timeout_ms: int = param(10_000, "prover time limit per translation, in milliseconds")
    on_timeout: OnTimeout = param("Error", "a proof attempt out of time: Error, no vote (LINC's code), or Uncertain")

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
            n, temperature=temperature, messages=messages, assistant_prefix=EVALUATE, stop=("</EVALUATE>",)
        )
        judged = await asyncio.gather(
            *(asyncio.to_thread(judge, c, self.params.timeout_ms, self.params.on_timeout) for c in drafts)
        )
        votes = vote(judged, LABELS).votes
        info = step_info(
            "translate-and-prove",
            n=n,
            temperature=temperature,
            votes=votes,
            errors=sum(c.answer is None for c in judged),
            inconsistent=sum(c.evidence == INCONSISTENT_PREMISES for c in judged),
        )
        return Samples(tuple(judged), finished=True), info

    def done(self, state: Samples, ctx: StepContext) -> bool:
        return state.finished

    def decide(self, state: Samples, ctx: StepContext) -> Decision:
        return vote(state.candidates, LABELS)
