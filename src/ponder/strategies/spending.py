"""What one piece of a strategy spent, for its trace entry: the engine usage between two moments."""

from __future__ import annotations

from ponder.usage import Usage


def spent(before: Usage, after: Usage) -> dict[str, int]:
    """The prompt tokens, completion tokens and engine calls added between ``before`` and ``after``
    (two readings of a :class:`~ponder.strategies.core.MeteredEngine`'s usage)."""
    return {
        "prompt_tokens": after.prompt_tokens - before.prompt_tokens,
        "completion_tokens": after.completion_tokens - before.completion_tokens,
        "engine_calls": after.engine_calls - before.engine_calls,
    }
