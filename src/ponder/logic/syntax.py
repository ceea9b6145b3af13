"""The syntax tree of first-order formulas in FOLIO notation, the errors of ``ponder.logic``, and
a printer for the tree.

LINC asks a model to translate sentences into first-order logic; ``ponder.logic.parser`` turns the
text it writes (and the gold formulas of the FOLIO data set) into the tree defined here, and
``ponder.logic.prover`` translates that tree for z3. ``format_formula`` writes a tree back out in
FOLIO notation, every binary connective parenthesised, so that parsing the result gives back an
equal tree. The notation itself (connectives, precedence, names) is described in the docstring of
``ponder.logic.parser``.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

from ponder.core.errors import InvalidInputError, PonderError

# ---------------------------------------------------------------------------------------------
# Errors


class LogicError(PonderError):
    """Base class of the errors raised by ``ponder.logic``."""


class FOLParseError(LogicError, InvalidInputError):
    """A formula is not well-formed. ``position`` is the 0-based character offset of the problem
    in ``text`` (``len(text)`` for "ended too early")."""

    def __init__(self, problem: str, text: str, position: int) -> None:
        self.problem = problem
        self.text = text
        self.position = position
        super().__init__(f"{problem} at position {position} in {text!r}")


# ---------------------------------------------------------------------------------------------
# Syntax tree


@dataclass(frozen=True, slots=True)
class Var:
    """A variable, bound by an enclosing quantifier of the same name."""

    name: str


@dataclass(frozen=True, slots=True)
class Const:
    """A constant: a name in argument position that no enclosing quantifier binds."""

    name: str


Term = Var | Const


@dataclass(frozen=True, slots=True)
class Pred:
    """An atom ``name(args...)``; ``args`` is empty for a propositional atom such as ``Rain``."""

    name: str
    args: tuple[Term, ...]


@dataclass(frozen=True, slots=True)
class Eq:
    """Identity of two individuals, ``left = right``."""

    left: Term
    right: Term


@dataclass(frozen=True, slots=True)
class Not:
    """Negation ``¬body``."""

    body: Formula


@dataclass(frozen=True, slots=True)
class And:
    """Conjunction ``left ∧ right``."""

    left: Formula
    right: Formula


@dataclass(frozen=True, slots=True)
class Or:
    """Inclusive disjunction ``left ∨ right``."""

    left: Formula
    right: Formula


@dataclass(frozen=True, slots=True)
class Xor:
    """Exclusive disjunction ``left ⊕ right`` (true when exactly one side is)."""

    left: Formula
    right: Formula


@dataclass(frozen=True, slots=True)
class Implies:
    """Material implication ``left → right``."""

    left: Formula
    right: Formula


@dataclass(frozen=True, slots=True)
class Iff:
    """Equivalence ``left ↔ right``."""

    left: Formula
    right: Formula


@dataclass(frozen=True, slots=True)
class Forall:
    """Universal quantification ``∀var body``."""

    var: str
    body: Formula


@dataclass(frozen=True, slots=True)
class Exists:
    """Existential quantification ``∃var body``."""

    var: str
    body: Formula


Formula = Pred | Eq | Not | And | Or | Xor | Implies | Iff | Forall | Exists

_BINARY_SYMBOL = MappingProxyType({And: "∧", Or: "∨", Xor: "⊕", Implies: "→", Iff: "↔"})


def format_formula(formula: Formula) -> str:
    """The formula in FOLIO notation with every binary connective parenthesised; ``parse`` of
    the result gives back an equal tree."""
    if isinstance(formula, Pred):
        return formula.name if not formula.args else f"{formula.name}({', '.join(a.name for a in formula.args)})"
    if isinstance(formula, Eq):
        return f"{formula.left.name} = {formula.right.name}"
    if isinstance(formula, Not):
        return f"¬{format_formula(formula.body)}"
    if isinstance(formula, (Forall, Exists)):
        symbol = "∀" if isinstance(formula, Forall) else "∃"
        body = format_formula(formula.body)
        if not isinstance(formula.body, (Forall, Exists, *_BINARY_SYMBOL)):
            body = f"({body})"
        return f"{symbol}{formula.var} {body}"
    left = format_formula(formula.left)
    if _open_ended(formula.left):  # a quantifier's scope would swallow the rest
        left = f"({left})"
    return f"({left} {_BINARY_SYMBOL[type(formula)]} {format_formula(formula.right)})"


def _open_ended(formula: Formula) -> bool:
    """Whether the formatted formula ends inside a quantifier's scope."""
    while isinstance(formula, Not):
        formula = formula.body
    return isinstance(formula, (Forall, Exists))
