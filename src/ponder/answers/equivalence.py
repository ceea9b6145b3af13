"""Whether two answers are the same value, with math-verify (LaTeX, fractions, sets, units)."""

from __future__ import annotations

import logging
import threading
from functools import lru_cache

from math_verify import parse, verify

# math-verify warns on every call where its signal-based timeout cannot work (outside the main
# thread); ponder accepts that: parsing a short final answer is fast.
logging.getLogger("math_verify").setLevel(logging.ERROR)


def _timeout() -> int | None:
    """math-verify's timeouts use signals, which work in the main thread only."""
    return 5 if threading.current_thread() is threading.main_thread() else None


@lru_cache(maxsize=4096)
def _parsed(answer: str) -> tuple:
    text = answer if "$" in answer or "\\boxed" in answer else f"${answer}$"
    return tuple(parse(text, parsing_timeout=_timeout()))


def math_equivalent(a: str, b: str) -> bool:
    """True when math-verify finds the two final answers equal (``1/2`` = ``0.5`` = ``\\frac{1}{2}``)."""
    if a == b:
        return True
    left, right = _parsed(a), _parsed(b)
    if not left or not right:
        return False
    return bool(verify(list(left), list(right), timeout_seconds=_timeout()))
