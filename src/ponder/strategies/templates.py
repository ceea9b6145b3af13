"""Prompt templates that users may replace: ``str.format`` templates checked for their fields
when the parameters are made, so a typo fails before any model runs, naming the fields allowed."""

from __future__ import annotations

import string

from ponder.core.errors import InvalidInputError


def template_fields(template: str) -> set[str]:
    """The ``{name}`` fields of a ``str.format`` template (InvalidInputError if malformed)."""
    try:
        return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as exc:
        raise InvalidInputError(f"malformed prompt template {template[:40]!r}...: {exc}") from None


def check_template(name: str, template: str, allowed: frozenset[str]) -> None:
    """Refuse a template that uses a field other than ``allowed`` (or positional ``{}``)."""
    unknown = sorted(template_fields(template) - allowed)
    if unknown:
        available = ", ".join("{" + field + "}" for field in sorted(allowed))
        raise InvalidInputError(f"{name} uses unknown field {{{unknown[0]}}}; available: {available}")
