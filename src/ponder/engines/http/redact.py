"""Keeping an API key out of errors: the text of anything a server said, and of every error the
HTTP engine raises, passes through :class:`Redactor` first.

A server may echo the request's ``Authorization`` header in its error message; without this the
CLI would print ``error: ... Bearer sk-...``. The key is replaced wherever it occurs (``***``), and
so is any token after ``Bearer`` (``Bearer ***``), whoever's key it is. Redact a whole text before
cutting it short, so that no prefix of a key survives the cut.
"""

from __future__ import annotations

import re
from typing import TypeVar

from ponder.core.errors import PonderError

HIDDEN = "***"
_BEARER = re.compile(r"(?i)\b(bearer)(\s+)[^\s\"',;]+")

E = TypeVar("E", bound=PonderError)


class Redactor:
    """Hides ``secret`` (an API key; none: only ``Bearer`` tokens) in texts and errors."""

    def __init__(self, secret: str | None) -> None:
        self._secret = secret or None

    def text(self, text: str) -> str:
        if self._secret:
            text = text.replace(self._secret, HIDDEN)
        return _BEARER.sub(rf"\1\2{HIDDEN}", text)

    def error(self, error: E) -> E:
        """``error`` with its message redacted (in place: its type, status and cause stay)."""
        error.args = tuple(self.text(a) if isinstance(a, str) else a for a in error.args)
        return error
