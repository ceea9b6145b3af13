"""Decide whether premises entail a conclusion, its negation, or neither, with the z3 solver.

This is LINC's prover: a translation of a problem into first-order logic goes in, one of FOLIO's
labels (True, False, Uncertain) comes out, or Error with the reason when no label can be given.

Algorithm: each formula is translated into a z3 term over one uninterpreted sort of individuals
(z3 sorts are non-empty, as in classical first-order logic); a predicate becomes one function
per (name, arity) into Bool (0-ary: a Bool constant), a constant a z3 constant of the sort, and a
bound variable a fresh z3 constant, so a quantifier never captures a constant of the same name.
Then LINC's mapping (Olausson et al. 2023, ``evaluate`` in github:benlipkin/linc), with P the
premises, c the conclusion and "prove g" meaning that P ∧ ¬g is unsatisfiable:

    prove c                       ->  True
    else prove ¬c                 ->  False
    else                          ->  Uncertain  (neither proved: z3 found a model, or gave up
                                                  with ``unknown`` short of its time limit)

as LINC's reference code does with Prover9. Inconsistent premises prove anything, so they give
True, as in LINC; a third check (is P ∧ c unsatisfiable too?) marks the verdict
:attr:`Verdict.inconsistent` and says so in its reason, so the inconsistency stays visible. The
time limit: in LINC's code Prover9 hitting its limit raises (NLTK's
``Prover9LimitExceededException``), which LINC turns into Error, a sample that does not vote;
``on_timeout="Error"`` (the default) does the same when a proof attempt runs out of time before
a label is reached, ``on_timeout="Uncertain"`` counts it as not proved instead. Error otherwise
means a formula that does not parse or a z3 failure. Each call builds a fresh z3 Context and
Solver, so calls may run in parallel threads; ``timeout_ms`` bounds the whole call, each check
getting what the earlier ones left (LINC gives each Prover9 call 10 s).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import z3

from ponder.core.errors import InvalidInputError
from ponder.logic.parser import parse
from ponder.logic.syntax import (
    And,
    Eq,
    Exists,
    FOLParseError,
    Forall,
    Formula,
    Iff,
    Implies,
    Not,
    Or,
    Pred,
    Term,
    Var,
    Xor,
)

Label = Literal["True", "False", "Uncertain", "Error"]
OnTimeout = Literal["Error", "Uncertain"]


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the prover concluded: a FOLIO label, or ``"Error"`` when it could not give one;
    ``reason`` says why in a sentence (the parse error, the timeout, inconsistent premises);
    ``inconsistent`` when the premises were found to contradict each other (the label is then
    True, as LINC's mapping gives)."""

    label: Label
    reason: str
    inconsistent: bool = False

    @property
    def is_error(self) -> bool:
        """True when the prover gave no label."""
        return self.label == "Error"


class _Translator:
    """Translates syntax trees into z3 terms in one context, declaring symbols on first use."""

    def __init__(self, ctx: z3.Context) -> None:
        self.ctx = ctx
        self.individual = z3.DeclareSort("Individual", ctx)
        self.predicates: dict[tuple[str, int], z3.FuncDeclRef | z3.BoolRef] = {}
        self.constants: dict[str, z3.ExprRef] = {}

    def formula(self, node: Formula, scope: dict[str, z3.ExprRef]) -> z3.BoolRef:
        """The z3 term of ``node``; ``scope`` maps bound variable names to their z3 constants."""
        match node:
            case Pred(name, args):
                return self._atom(name, [self.term(a, scope) for a in args])
            case Eq(left, right):
                return self.term(left, scope) == self.term(right, scope)
            case Not(body):
                return z3.Not(self.formula(body, scope), self.ctx)
            case And(left, right):
                return z3.And(self.formula(left, scope), self.formula(right, scope))
            case Or(left, right):
                return z3.Or(self.formula(left, scope), self.formula(right, scope))
            case Xor(left, right):
                return z3.Xor(self.formula(left, scope), self.formula(right, scope))
            case Implies(left, right):
                return z3.Implies(self.formula(left, scope), self.formula(right, scope))
            case Iff(left, right):
                return self.formula(left, scope) == self.formula(right, scope)
            case Forall(var, body) | Exists(var, body):
                bound = z3.FreshConst(self.individual, prefix=var)
                inner = self.formula(body, {**scope, var: bound})
                return (z3.ForAll if isinstance(node, Forall) else z3.Exists)([bound], inner)
        raise TypeError(f"not a formula: {node!r}")

    def term(self, node: Term, scope: dict[str, z3.ExprRef]) -> z3.ExprRef:
        """The z3 individual named by ``node``."""
        if isinstance(node, Var) and node.name in scope:
            return scope[node.name]
        if node.name not in self.constants:  # a Const, or a Var built outside any quantifier
            self.constants[node.name] = z3.Const(node.name, self.individual)
        return self.constants[node.name]

    def _atom(self, name: str, args: list[z3.ExprRef]) -> z3.BoolRef:
        key = (name, len(args))
        if key not in self.predicates:
            if args:
                sorts = [self.individual] * len(args)
                self.predicates[key] = z3.Function(name, *sorts, z3.BoolSort(self.ctx))
            else:
                self.predicates[key] = z3.Bool(name, self.ctx)
        symbol = self.predicates[key]
        return symbol(*args) if args else symbol


def _parse_all(premises: Sequence[str], conclusion: str) -> tuple[list[Formula], Formula]:
    parsed: list[Formula] = []
    for i, text in enumerate(premises):
        try:
            parsed.append(parse(text))
        except FOLParseError as error:
            raise FOLParseError(f"premise {i + 1}: {error.problem}", error.text, error.position) from error
    try:
        goal = parse(conclusion)
    except FOLParseError as error:
        raise FOLParseError(f"conclusion: {error.problem}", error.text, error.position) from error
    return parsed, goal


def decide(
    premises: Sequence[str], conclusion: str, *, timeout_ms: int = 10_000, on_timeout: OnTimeout = "Error"
) -> Verdict:
    """LINC's label for the premises (FOLIO-notation strings) and the conclusion: True when they
    entail it, else False when they entail its negation, else Uncertain; Error with the reason
    when a formula does not parse, z3 fails, or (with ``on_timeout="Error"``) a proof attempt
    runs out of the ``timeout_ms`` the whole call has (see the module docstring)."""
    _check_options(timeout_ms, on_timeout)
    try:
        parsed, goal = _parse_all(premises, conclusion)
    except FOLParseError as error:
        return Verdict("Error", f"parse error: {error}")
    return decide_formulas(parsed, goal, timeout_ms=timeout_ms, on_timeout=on_timeout)


def decide_formulas(
    premises: Sequence[Formula], conclusion: Formula, *, timeout_ms: int = 10_000, on_timeout: OnTimeout = "Error"
) -> Verdict:
    """``decide`` for formulas already parsed."""
    _check_options(timeout_ms, on_timeout)
    deadline = time.monotonic() + timeout_ms / 1000
    ctx = z3.Context()
    try:
        translator = _Translator(ctx)
        axioms = [translator.formula(p, {}) for p in premises]
        goal = translator.formula(conclusion, {})
        solver = z3.Solver(ctx=ctx)
        solver.add(*axioms)
        counter = _check(solver, z3.Not(goal, ctx), deadline)  # P ∧ ¬c: unsat proves c
        if counter.result == "unsat":
            support = _check(solver, goal, deadline)  # P ∧ c unsat too: the premises are inconsistent
            return _INCONSISTENT if support.result == "unsat" else _TRUE
        if counter.timed_out and on_timeout == "Error":
            return Verdict("Error", f"z3 could not prove the conclusion ({counter.why(timeout_ms)})")
        support = _check(solver, goal, deadline)  # P ∧ c: unsat proves ¬c
        if support.result == "unsat":
            return _FALSE
        if support.timed_out and on_timeout == "Error":
            return Verdict("Error", f"z3 could not prove the negation of the conclusion ({support.why(timeout_ms)})")
        undecided = [o for o in (counter, support) if o.result == "unknown"]
        if undecided:
            return Verdict("Uncertain", f"{_NEITHER}; z3 gave up ({undecided[0].why(timeout_ms)})")
        return _UNCERTAIN
    except z3.Z3Exception as error:
        return Verdict("Error", f"z3 failed: {error}")


def _check_options(timeout_ms: int, on_timeout: str) -> None:
    if timeout_ms < 1:
        raise InvalidInputError(f"timeout_ms must be >= 1, got {timeout_ms}")
    if on_timeout not in ("Error", "Uncertain"):
        raise InvalidInputError(f"on_timeout must be 'Error' or 'Uncertain', got {on_timeout!r}")


_NEITHER = "the premises entail neither the conclusion nor its negation"
_TRUE = Verdict("True", "the premises entail the conclusion")
_FALSE = Verdict("False", "the premises entail the negation of the conclusion")
_UNCERTAIN = Verdict("Uncertain", _NEITHER)
INCONSISTENT_PREMISES = (
    "the premises are inconsistent: they entail the conclusion and its negation alike (True, as in LINC)"
)
_INCONSISTENT = Verdict("True", INCONSISTENT_PREMISES, inconsistent=True)


@dataclass(frozen=True, slots=True)
class _Outcome:
    """One satisfiability check: ``"sat"``, ``"unsat"`` or ``"unknown"``, and z3's reason when unknown."""

    result: Literal["sat", "unsat", "unknown"]
    reason: str = ""

    @property
    def timed_out(self) -> bool:
        """z3 stopped at its time limit (rather than finishing, or giving up for another reason)."""
        return self.result == "unknown" and self.reason in ("timeout", "canceled")

    def why(self, timeout_ms: int) -> str:
        """The reason for "unknown" in words."""
        if self.reason in ("timeout", "canceled"):
            return f"no answer within {timeout_ms} ms"
        return self.reason or "unknown"


def _check(solver: z3.Solver, extra: z3.BoolRef | None, deadline: float) -> _Outcome:
    """Check the solver's assertions plus ``extra`` (if any) within what is left until ``deadline``."""
    left_ms = int((deadline - time.monotonic()) * 1000)
    if left_ms < 1:
        return _Outcome("unknown", "timeout")
    solver.set("timeout", left_ms)
    solver.push()
    try:
        if extra is not None:
            solver.add(extra)
        result = solver.check()
        if result == z3.sat:
            return _Outcome("sat")
        if result == z3.unsat:
            return _Outcome("unsat")
        return _Outcome("unknown", solver.reason_unknown())
    finally:
        solver.pop()
