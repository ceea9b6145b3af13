"""First-order logic for LINC: parse formulas in FOLIO notation and decide entailment with z3.

>>> from ponder.logic import decide
>>> decide(["∀x (Dog(x) → Mammal(x))", "Dog(rex)"], "Mammal(rex)").label
'True'
"""

from ponder.logic.parser import parse
from ponder.logic.prover import INCONSISTENT_PREMISES, Label, OnTimeout, Verdict, decide, decide_formulas
from ponder.logic.syntax import (
    And,
    Const,
    Eq,
    Exists,
    FOLParseError,
    Forall,
    Formula,
    Iff,
    Implies,
    LogicError,
    Not,
    Or,
    Pred,
    Term,
    Var,
    Xor,
    format_formula,
)

__all__ = [
    "INCONSISTENT_PREMISES",
    "And",
    "Const",
    "Eq",
    "Exists",
    "FOLParseError",
    "Forall",
    "Formula",
    "Iff",
    "Implies",
    "Label",
    "LogicError",
    "Not",
    "OnTimeout",
    "Or",
    "Pred",
    "Term",
    "Var",
    "Verdict",
    "Xor",
    "decide",
    "decide_formulas",
    "format_formula",
    "parse",
]
