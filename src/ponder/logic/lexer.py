"""The lexer for formulas in FOLIO notation: it turns text into the tokens that
``ponder.logic.parser`` reads.

Every spelling of a connective (the Unicode symbols of FOLIO, the ASCII forms and lower-case
keywords that models write) becomes the one token kind of that connective; symbols are matched
longest spelling first, so that ``<->`` wins over ``<`` and ``!=`` over ``!``. The spellings
accepted and the rules for names are listed in the docstring of ``ponder.logic.parser``. A
character that starts no token is a FOLParseError.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from types import MappingProxyType

from ponder.logic.syntax import FOLParseError


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
            "∀": Tok.FORALL,
            "Ɐ": Tok.FORALL,
            "∃": Tok.EXISTS,
            "¬": Tok.NOT,
            "~": Tok.NOT,
            "!": Tok.NOT,
            "∧": Tok.AND,
            "&&": Tok.AND,
            "&": Tok.AND,
            "∨": Tok.OR,
            "||": Tok.OR,
            "|": Tok.OR,
            "⊕": Tok.XOR,
            "⊻": Tok.XOR,
            "→": Tok.IMPLIES,
            "->": Tok.IMPLIES,
            "=>": Tok.IMPLIES,
            "⇒": Tok.IMPLIES,
            "⟶": Tok.IMPLIES,
            "↔": Tok.IFF,
            "<->": Tok.IFF,
            "<=>": Tok.IFF,
            "⇔": Tok.IFF,
            "⟷": Tok.IFF,
            "=": Tok.EQ,
            "≠": Tok.NEQ,
            "!=": Tok.NEQ,
            "(": Tok.LPAREN,
            ")": Tok.RPAREN,
            ",": Tok.COMMA,
            ".": Tok.DOT,
        }.items(),
        key=lambda item: -len(item[0]),
    )
)
_KEYWORDS = MappingProxyType(
    {
        "forall": Tok.FORALL,
        "exists": Tok.EXISTS,
        "not": Tok.NOT,
        "and": Tok.AND,
        "or": Tok.OR,
        "xor": Tok.XOR,
        "implies": Tok.IMPLIES,
        "iff": Tok.IFF,
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
