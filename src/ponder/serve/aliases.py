"""Model names a client may ask for: the served model, or an alias that picks strategy and budget.

An alias is ``MODEL::STRATEGY`` or ``MODEL::STRATEGY:BUDGET`` (``smollm2-135m::self-consistency:8``).
``::`` cannot clash with model names that contain hyphens, slashes or a single colon
(``org/model-7b``, ``qwen2.5:1.5b``).
"""

from __future__ import annotations

from dataclasses import dataclass

from ponder.core.errors import InvalidInputError, UnknownNameError
from ponder.registry import strategy_class

SEPARATOR = "::"
LISTED = ("greedy", "self-consistency:8", "adaptive-self-consistency:16", "best-of-n:4", "weighted-majority:8")


@dataclass(frozen=True)
class ModelChoice:
    """What a model name asks for; ``None`` leaves the choice to the request or the server."""

    strategy: str | None = None
    budget: int | None = None


def listed_models(base: str) -> list[str]:
    """The served model and the aliases ``/v1/models`` advertises."""
    return [base] + [f"{base}{SEPARATOR}{alias}" for alias in LISTED]


def parse_model(name: str, base: str) -> ModelChoice:
    """The strategy and budget a model name selects; unknown names raise :class:`UnknownNameError`."""
    if name == base:
        return ModelChoice()
    prefix, sep, alias = name.rpartition(SEPARATOR)
    if not sep or prefix != base:
        raise UnknownNameError(
            f"model {name!r} not found; this server serves {base!r} and its {base}::STRATEGY[:BUDGET] aliases"
        )
    strategy, _, budget = alias.partition(":")
    strategy_class(strategy)  # an unknown strategy is named in the error
    if not budget:
        return ModelChoice(strategy=strategy)
    if not (budget.isascii() and budget.isdigit()) or int(budget) < 1:  # "²".isdigit(), but int("²") fails
        raise InvalidInputError(f"model alias {name!r}: the budget after ':' must be a positive integer")
    return ModelChoice(strategy=strategy, budget=int(budget))
