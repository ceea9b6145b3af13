"""First-order formulas in FOLIO notation: the parser that turns text into a syntax tree.

LINC asks a model to translate sentences into first-order logic; this module turns the text it
writes (and the gold formulas of the FOLIO data set) into a tree (``ponder.logic.syntax``) that
the prover can translate.

Algorithm: a hand-written lexer (``ponder.logic.lexer``) turns the text into tokens, then a
recursive-descent parser with one function per precedence level builds the tree. From loosest to
tightest binding::

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

from ponder.logic.lexer import Tok, Token, tokenize
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
    Not,
    Or,
    Pred,
    Term,
    Var,
    Xor,
)


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
