"""Plain-text rendering of results for the terminal."""

from __future__ import annotations

from ponder.core.result import SolveResult


def format_votes(result: SolveResult) -> str:
    parts = [f"{answer} x{support:g}" for answer, support in sorted(result.votes.items(), key=lambda kv: -kv[1])]
    unanswered = sum(c.answer is None for c in result.candidates)
    if unanswered:
        parts.append(f"(no answer) x{unanswered}")
    return ", ".join(parts) or "(none)"


def format_result(result: SolveResult) -> str:
    usage = result.usage
    lines = [
        f"answer:  {result.answer if result.answer is not None else '(no answer found)'}",
        f"votes:   {format_votes(result)}",
        f"samples: {len(result.candidates)} with {result.strategy} on {result.engine.get('model', '?')}",
        (
            f"tokens:  {usage.completion_tokens} generated, {usage.prompt_tokens} prompt "
            f"({usage.prompt_tokens_computed} computed), {usage.engine_calls} engine call"
            f"{'s' if usage.engine_calls != 1 else ''}"
        ),
        f"time:    {usage.wall_seconds:.2f} s",
    ]
    if usage.scorer_calls:
        lines.insert(
            -1,
            f"scorers: {usage.scorer_tokens} tokens ({usage.scorer_prompt_tokens_computed} prompt "
            f"computed), {usage.scorer_calls} call{'s' if usage.scorer_calls != 1 else ''}",
        )
    return "\n".join(lines)
