"""First-order formulas in FOLIO notation: the syntax tree and a parser for it.

LINC asks a model to translate sentences into first-order logic; this module turns the text it
writes (and the gold formulas of the FOLIO data set) into a tree that the prover can translate.

Algorithm: a hand-written lexer turns the text into tokens, then a recursive-descent parser with
one function per precedence level builds the tree. From loosest to tightest binding::

    formula := iff
    iff     := implies (IFF implies)*          left-associative (↔ is associative anyway)
    implies := or (IMPLIES implies)?           right-associative: a → b → c = a → (b → c)
    or      := xor (OR xor)*                   left-associative
    xor     := and (XOR and)*                  left-associative: a ⊕ b ⊕ c = (a ⊕ b) ⊕ c (parity)
    and     := unary (AND unary)*              left-associative
    unary   := NOT unary | QUANT vars body | '(' formula ')' | atom
    body    := formula                         a quantifier's scope extends as far right as
                                               possible: ∀x P(x) → Q(x) = ∀x (P(x) → Q(x))
    vars    := name (',' name)* '.'?           ∀x, y (...) = ∀x ∀y (...); ∀x. P(x) is accepted
    atom    := name '(' term (',' term)* ')' | name | term ('=' | '≠') term
    term    := name                            a variable if an enclosing quantifier binds the
                                               name, else a constant (function terms: an error)

So ¬ > ∧ > ⊕ > ∨ > → > ↔. Checked against the distinct formulas of the FOLIO validation data:
unparenthesised ∧, ∨ and ⊕ next to → (27, 9 and 9 formulas: ``A ∧ B → C``, ``A ∨ B → C``,
``∀x (NLP(x) → NLG(x) ⊕ NLU(x))``, ``A ⊕ B → C ∧ D``) and ∧ next to ↔ (``A ∧ B ⟷ C ∧ D``) all
mean what this order gives. Unparenthesised ∧ next to ∨ occurs in 4: 3 translate "either both A
and B, or neither" (``(A ∧ B) ∨ ¬A ∧ ¬B``: ∧ first), 1 needs ∨ first (``R(p) ∧ In(p, a) ∨ In(p,
b)`` for "a range in a or b"); no order serves both, so the conventional one stands. No formula
mixes ⊕ with ∨ unparenthesised; ⊕ sits between ∧ and ∨ as a kind of disjunction. A quantifier's
body in the data is always one parenthesised group that runs to the end of the enclosing group,
so the scope rule changes nothing there; it decides model output such as ``∀x P(x) → Q(x)``.

Spellings accepted for each connective (the ASCII forms are for model output; keywords are
lower-case and reserved, so no predicate or constant may be called ``and``, ``or`` and so on):

    ∀   Ɐ  forall            ∃   exists
    ¬   ~  !  not            ∧   &  &&  and
    ∨   |  ||  or            ⊕   ⊻  xor
    →   ->  =>  ⇒  ⟶  implies
    ↔   <->  <=>  ⇔  ⟷  iff
    =                        ≠   !=

Names are runs of letters, digits, ``_`` and apostrophes (``'`` and ``’``, as in FOLIO's
``GrowthCompanies’Stocks``); a ``.`` belongs to a name only between two digits (FOLIO's constant
``y42.3billion``), so ``∀x.P(x)`` still reads as a quantifier followed by ``P(x)``. One final
``.`` after a whole formula is ignored (models end sentences with one). Nothing else is repaired:
unbalanced parentheses or a comma used as a conjunction are parse errors, since guessing where the
missing parenthesis belongs would guess the meaning.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from types import MappingProxyType
from typing import Union

from ponder.errors import InvalidInputError, PonderError

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


Term = Union[Var, Const]


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


Formula = Union[Pred, Eq, Not, And, Or, Xor, Implies, Iff, Forall, Exists]

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


# ---------------------------------------------------------------------------------------------
# Lexer


class Tok(enum.Enum):
    """Token kinds."""

    FORALL = "a quantifier ∀"
    EXISTS = "a quantifier ∃"
    NOT = "'¬'"
    AND = "'∧'"
    OR = "'∨'"
    XOR = "'⊕'"
    IMPLIES = "'→'"
    IFF = "'↔'"
    EQ = "'='"
    NEQ = "'≠'"
    LPAREN = "'('"
    RPAREN = "')'"
    COMMA = "','"
    DOT = "'.'"
    NAME = "a name"
    END = "end of input"


@dataclass(frozen=True, slots=True)
class Token:
    """One token: its kind, its text as written and its 0-based offset."""

    kind: Tok
    text: str
    position: int


# Longest spellings first, so that '<->' wins over '<' and '!=' over '!'.
_SYMBOLS: tuple[tuple[str, Tok], ...] = tuple(
    sorted(
        {
            "∀": Tok.FORALL, "Ɐ": Tok.FORALL, "∃": Tok.EXISTS,
            "¬": Tok.NOT, "~": Tok.NOT, "!": Tok.NOT,
            "∧": Tok.AND, "&&": Tok.AND, "&": Tok.AND,
            "∨": Tok.OR, "||": Tok.OR, "|": Tok.OR,
            "⊕": Tok.XOR, "⊻": Tok.XOR,
            "→": Tok.IMPLIES, "->": Tok.IMPLIES, "=>": Tok.IMPLIES, "⇒": Tok.IMPLIES, "⟶": Tok.IMPLIES,
            "↔": Tok.IFF, "<->": Tok.IFF, "<=>": Tok.IFF, "⇔": Tok.IFF, "⟷": Tok.IFF,
            "=": Tok.EQ, "≠": Tok.NEQ, "!=": Tok.NEQ,
            "(": Tok.LPAREN, ")": Tok.RPAREN, ",": Tok.COMMA, ".": Tok.DOT,
        }.items(),
        key=lambda item: -len(item[0]),
    )
)
_KEYWORDS = MappingProxyType(
    {
        "forall": Tok.FORALL, "exists": Tok.EXISTS, "not": Tok.NOT, "and": Tok.AND, "or": Tok.OR,
        "xor": Tok.XOR, "implies": Tok.IMPLIES, "iff": Tok.IFF,
    }
)
_NAME_EXTRA = frozenset("_'’")


def _is_name_char(text: str, i: int) -> bool:
    char = text[i]
    if char.isalnum() or char in _NAME_EXTRA:
        return True
    return char == "." and 0 < i < len(text) - 1 and text[i - 1].isdigit() and text[i + 1].isdigit()


def tokenize(text: str) -> list[Token]:
    """The tokens of ``text``, ending with an ``END`` token; raises FOLParseError on a character
    that starts no token."""
    tokens: list[Token] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char.isspace():
            i += 1
            continue
        symbol = next(((spelling, kind) for spelling, kind in _SYMBOLS if text.startswith(spelling, i)), None)
        if symbol is not None:  # before names: 'Ɐ' counts as a letter
            tokens.append(Token(symbol[1], symbol[0], i))
            i += len(symbol[0])
        elif char.isalnum() or char == "_":
            start = i
            while i < len(text) and _is_name_char(text, i):
                i += 1
            word = text[start:i]
            tokens.append(Token(_KEYWORDS.get(word, Tok.NAME), word, start))
        else:
            raise FOLParseError(f"unexpected character {char!r}", text, i)
    tokens.append(Token(Tok.END, "", len(text)))
    return tokens


# ---------------------------------------------------------------------------------------------
# Parser


class _Parser:
    """Recursive descent over one token list; one method per precedence level."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.index = 0

    # -- helpers ------------------------------------------------------------------------------

    @property
    def current(self) -> Token:
        return self.tokens[self.index]

    def advance(self) -> Token:
        token = self.tokens[self.index]
        if token.kind is not Tok.END:
            self.index += 1
        return token

    def fail(self, problem: str, token: Token | None = None) -> FOLParseError:
        return FOLParseError(problem, self.text, (token or self.current).position)

    def expect(self, kind: Tok, context: str) -> Token:
        if self.current.kind is not kind:
            raise self.fail(f"expected {kind.value} {context}, found {self._describe(self.current)}")
        return self.advance()

    @staticmethod
    def _describe(token: Token) -> str:
        return Tok.END.value if token.kind is Tok.END else repr(token.text)

    # -- grammar ------------------------------------------------------------------------------

    def parse(self) -> Formula:
        if self.current.kind is Tok.END:
            raise self.fail("empty formula")
        formula = self.formula(frozenset())
        if self.current.kind is Tok.DOT and self.tokens[self.index + 1].kind is Tok.END:
            self.advance()  # a sentence-final full stop
        if self.current.kind is not Tok.END:
            if self.current.kind is Tok.RPAREN:
                raise self.fail("unmatched ')'")
            raise self.fail(f"expected a connective or end of input, found {self._describe(self.current)}")
        return formula

    def formula(self, bound: frozenset[str]) -> Formula:
        left = self.implies(bound)
        while self.current.kind is Tok.IFF:
            self.advance()
            left = Iff(left, self.implies(bound))
        return left

    def implies(self, bound: frozenset[str]) -> Formula:
        left = self.disjunction(bound)
        if self.current.kind is Tok.IMPLIES:
            self.advance()
            return Implies(left, self.implies(bound))
        return left

    def disjunction(self, bound: frozenset[str]) -> Formula:
        left = self.exclusive(bound)
        while self.current.kind is Tok.OR:
            self.advance()
            left = Or(left, self.exclusive(bound))
        return left

    def exclusive(self, bound: frozenset[str]) -> Formula:
        left = self.conjunction(bound)
        while self.current.kind is Tok.XOR:
            self.advance()
            left = Xor(left, self.conjunction(bound))
        return left

    def conjunction(self, bound: frozenset[str]) -> Formula:
        left = self.unary(bound)
        while self.current.kind is Tok.AND:
            self.advance()
            left = And(left, self.unary(bound))
        return left

    def unary(self, bound: frozenset[str]) -> Formula:
        token = self.current
        if token.kind is Tok.NOT:
            self.advance()
            return Not(self.unary(bound))
        if token.kind in (Tok.FORALL, Tok.EXISTS):
            return self.quantified(bound)
        if token.kind is Tok.LPAREN:
            self.advance()
            inner = self.formula(bound)
            if self.current.kind is not Tok.RPAREN:
                found = self._describe(self.current)
                raise self.fail(f"expected ')' to close the '(' opened at position {token.position}, found {found}")
            self.advance()
            return inner
        if token.kind is Tok.NAME:
            return self.atom(bound)
        raise self.fail(f"expected a formula, found {self._describe(token)}")

    def quantified(self, bound: frozenset[str]) -> Formula:
        quantifier = self.advance()
        names = [self.expect(Tok.NAME, f"(a variable) after {quantifier.text!r}").text]
        while self.current.kind is Tok.COMMA:
            self.advance()
            names.append(self.expect(Tok.NAME, "(a variable) after ','").text)
        if self.current.kind is Tok.DOT:
            self.advance()
        if self.current.kind is Tok.END:
            raise self.fail(f"expected the body of the quantifier {quantifier.text}{', '.join(names)}")
        body = self.formula(bound | frozenset(names))
        node = Forall if quantifier.kind is Tok.FORALL else Exists
        for name in reversed(names):
            body = node(name, body)
        return body

    def atom(self, bound: frozenset[str]) -> Formula:
        name = self.advance()
        if self.current.kind is Tok.LPAREN:
            self.advance()
            args: list[Term] = []
            if self.current.kind is not Tok.RPAREN:
                args.append(self.term(bound))
                while self.current.kind is Tok.COMMA:
                    self.advance()
                    args.append(self.term(bound))
            self.expect(Tok.RPAREN, f"to close the arguments of {name.text!r}")
            return Pred(name.text, tuple(args))
        if self.current.kind in (Tok.EQ, Tok.NEQ):
            relation = self.advance()
            left, right = self._resolve(name, bound), self.term(bound)
            return Eq(left, right) if relation.kind is Tok.EQ else Not(Eq(left, right))
        if name.text in bound:
            raise self.fail(f"variable {name.text!r} used where a formula is expected", name)
        return Pred(name.text, ())

    def term(self, bound: frozenset[str]) -> Term:
        token = self.expect(Tok.NAME, "(a term)")
        if self.current.kind is Tok.LPAREN:
            raise self.fail(f"function terms such as {token.text}(...) are not supported", self.current)
        return self._resolve(token, bound)

    @staticmethod
    def _resolve(token: Token, bound: frozenset[str]) -> Term:
        return Var(token.text) if token.text in bound else Const(token.text)


def parse(text: str) -> Formula:
    """The syntax tree of one formula in FOLIO notation (see the module docstring).

    Raises FOLParseError, naming the position and the problem, when ``text`` is not a formula.
    """
    try:
        return _Parser(text).parse()
    except RecursionError:
        raise FOLParseError("formula nested too deeply", text, 0) from None
