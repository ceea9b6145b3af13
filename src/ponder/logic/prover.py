"""Decide whether premises entail a conclusion, its negation, or neither, with the z3 solver.

This is LINC's prover: a translation of a problem into first-order logic goes in, one of FOLIO's
labels (True, False, Uncertain) comes out, or Error with the reason when no label can be given.

Algorithm: each formula is translated into a z3 term over one uninterpreted sort of individuals
(z3 sorts are non-empty, as in classical first-order logic); a predicate becomes one function
per (name, arity) into Bool (0-ary: a Bool constant), a constant a z3 constant of the sort, and a
bound variable a fresh z3 constant, so a quantifier never captures a constant of the same name.
Then, with P the premises and c the conclusion:

    P ∧ ¬c unsat,  P ∧ c sat    ->  True        (P entails c)
    P ∧ ¬c sat,    P ∧ c unsat  ->  False       (P entails ¬c)
    P ∧ ¬c sat,    P ∧ c sat    ->  Uncertain
    P ∧ ¬c unsat,  P ∧ c unsat  ->  Error       (the premises are inconsistent: they entail anything)

When one check is unsat and the other unknown (z3 gave up or ran out of time), a check of P
alone settles it (sat: the unsat side's label; unsat: inconsistent premises); any other unknown
is an Error. Each call builds a fresh z3 Context and Solver, so calls may run in parallel
threads; ``timeout_ms`` bounds the whole call, each check getting what the earlier ones left.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from types import MappingProxyType
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


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the prover concluded: a FOLIO label, or ``"Error"`` when it could not give one;
    ``reason`` says why in a sentence (the parse error, the timeout, inconsistent premises)."""

    label: Label
    reason: str

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


def decide(premises: Sequence[str], conclusion: str, *, timeout_ms: int = 10_000) -> Verdict:
    """Whether the premises (FOLIO-notation strings) entail the conclusion (True), its negation
    (False) or neither (Uncertain); Error with the reason when a formula does not parse, the
    premises are inconsistent, or z3 cannot decide within ``timeout_ms`` for the whole call."""
    if timeout_ms < 1:
        raise InvalidInputError(f"timeout_ms must be >= 1, got {timeout_ms}")
    try:
        parsed, goal = _parse_all(premises, conclusion)
    except FOLParseError as error:
        return Verdict("Error", f"parse error: {error}")
    return decide_formulas(parsed, goal, timeout_ms=timeout_ms)


def decide_formulas(premises: Sequence[Formula], conclusion: Formula, *, timeout_ms: int = 10_000) -> Verdict:
    """``decide`` for formulas already parsed."""
    if timeout_ms < 1:
        raise InvalidInputError(f"timeout_ms must be >= 1, got {timeout_ms}")
    deadline = time.monotonic() + timeout_ms / 1000
    ctx = z3.Context()
    try:
        translator = _Translator(ctx)
        axioms = [translator.formula(p, {}) for p in premises]
        goal = translator.formula(conclusion, {})
        solver = z3.Solver(ctx=ctx)
        solver.add(*axioms)
        counter = _check(solver, z3.Not(goal, ctx), deadline)  # P ∧ ¬c
        support = _check(solver, goal, deadline)  # P ∧ c
        results = (counter.result, support.result)
        if results in _OUTCOMES:
            return _OUTCOMES[results]
        if "unsat" in results:
            # One side refuted, the other undecided: the label stands if the premises are consistent.
            alone = _check(solver, None, deadline)
            if alone.result == "unsat":
                return _INCONSISTENT
            if alone.result == "sat":
                return _TRUE if counter.result == "unsat" else _FALSE
            why = alone.why(timeout_ms)
            return Verdict("Error", f"z3 could not decide whether the premises are consistent ({why})")
        undecided = counter if counter.result == "unknown" else support
        return Verdict("Error", f"z3 could not decide ({undecided.why(timeout_ms)})")
    except z3.Z3Exception as error:
        return Verdict("Error", f"z3 failed: {error}")


_TRUE = Verdict("True", "the premises entail the conclusion")
_FALSE = Verdict("False", "the premises entail the negation of the conclusion")
_INCONSISTENT = Verdict("Error", "the premises are inconsistent (they entail both the conclusion and its negation)")
# (result for P ∧ ¬c, result for P ∧ c) -> verdict, when both checks came back sat or unsat.
_OUTCOMES = MappingProxyType(
    {
        ("unsat", "sat"): _TRUE,
        ("sat", "unsat"): _FALSE,
        ("sat", "sat"): Verdict("Uncertain", "the premises entail neither the conclusion nor its negation"),
        ("unsat", "unsat"): _INCONSISTENT,
    }
)


@dataclass(frozen=True, slots=True)
class _Outcome:
    """One satisfiability check: ``"sat"``, ``"unsat"`` or ``"unknown"``, and z3's reason when unknown."""

    result: Literal["sat", "unsat", "unknown"]
    reason: str = ""

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
