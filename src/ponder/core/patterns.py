"""Regular expressions that users supply (``answer_pattern``), matched with a time limit.

A pattern may come from a client of ``ponder serve``, and a pattern with catastrophic
backtracking (``(a|a)+$`` against a long run of ``a``) would hold the CPU for minutes, freezing
the run and every other request the server handles. So user patterns are compiled with the
``regex`` package (syntax compatible with :mod:`re`) and every match runs with a timeout
(:data:`MATCH_TIMEOUT`, 0.5 s). A match that runs out of time raises
:class:`~ponder.core.errors.InvalidInputError` naming the pattern: the pattern is what is wrong,
and the caller learns it at once instead of getting answers that silently depend on timing.
A pattern that is not a regular expression, is longer than :data:`MAX_PATTERN_CHARS`, or is not
valid Unicode is refused when it is compiled; so is one whose counted repeats (``{m,n}``) multiply
past :data:`MAX_REPEAT_PRODUCT`, because the engine expands nested counted repeats when it
compiles: ``((a{1000}){1000}){1000}`` (24 characters) would take gigabytes before any match.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import regex

from ponder.core.errors import InvalidInputError
from ponder.core.text import check_text

MATCH_TIMEOUT = 0.5  # seconds one match of a user pattern may take
MAX_PATTERN_CHARS = 1000
MAX_REPEAT_PRODUCT = 10_000  # the product of all counted repeats' bounds (an over-estimate of nesting)
_COUNTED_REPEAT = regex.compile(r"(?<!\\)\{(\d*)(?:,(\d*))?\}")


def _repeat_product(source: str) -> int:
    """The product of the bounds of every counted repeat in ``source`` (nested or not: a cheap
    upper bound on how far compiling could expand it)."""
    product = 1
    for low, high in _COUNTED_REPEAT.findall(source):
        bound = max(int(low or 0), int(high or 0), 1)
        product *= bound
        if product > MAX_REPEAT_PRODUCT:
            break
    return product


@dataclass(frozen=True)
class UserPattern:
    """A compiled user pattern: ``what`` names it in errors (``answer_pattern``)."""

    source: str
    what: str
    compiled: regex.Pattern[str]
    timeout: float = MATCH_TIMEOUT

    def search(self, text: str) -> bool:
        """Whether the pattern matches anywhere in ``text``; raises if the match takes too long."""
        try:
            return self.compiled.search(text, timeout=self.timeout) is not None
        except TimeoutError:
            raise InvalidInputError(
                f"{self.what} {self.source!r} took more than {self.timeout:g} s to match a "
                f"{len(text)}-character text (catastrophic backtracking?); simplify the pattern"
            ) from None


@lru_cache(maxsize=256)
def compile_pattern(source: str, what: str, timeout: float = MATCH_TIMEOUT) -> UserPattern:
    """``source`` compiled for time-limited matching, or :class:`InvalidInputError` naming ``what``."""
    check_text(source, what)
    if len(source) > MAX_PATTERN_CHARS:
        raise InvalidInputError(f"{what} has {len(source)} characters; at most {MAX_PATTERN_CHARS} are allowed")
    if _repeat_product(source) > MAX_REPEAT_PRODUCT:
        raise InvalidInputError(
            f"{what} {source[:80]!r}: its counted repeats ({{m,n}}) multiply past {MAX_REPEAT_PRODUCT}; "
            "use fewer or smaller counts"
        )
    if timeout <= 0:
        raise InvalidInputError(f"{what}: the match timeout must be > 0 s, got {timeout}")
    try:
        compiled = regex.compile(source)
    except (regex.error, RecursionError, OverflowError) as exc:
        raise InvalidInputError(f"{what} {source!r} is not a regular expression: {exc}") from None
    return UserPattern(source=source, what=what, compiled=compiled, timeout=timeout)
