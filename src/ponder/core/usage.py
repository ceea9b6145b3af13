"""Usage accounting: what a call, a strategy or a run cost."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields


@dataclass(frozen=True)
class Usage:
    """Counts of work done; ``+`` adds two records field by field.

    ``prompt_tokens`` counts prompt tokens as requested (n samples of a P-token prompt request
    n * P); ``prompt_tokens_computed`` counts those the backend actually prefilled (the rest were
    served from a cache or a forked prefix). These and ``completion_tokens`` and
    ``engine_calls`` (batches sent to the engine) are the generator's; what scorers spent is
    counted apart in ``scorer_calls``, ``scorer_tokens`` (prompt plus completion tokens, as
    requested) and ``scorer_prompt_tokens_computed`` (the judges' prompt tokens the backend
    actually prefilled: a judge that continues the sample's own chat computes little more than
    its question; a remote PRM that reports no such count adds 0). ``interrupt_tokens`` counts the
    completion tokens generated after an interrupt or an update (answer cues' answers, soft and
    update continuations: :mod:`ponder.context.interrupts`), already counted in ``completion_tokens``.
    """

    prompt_tokens: int = 0
    prompt_tokens_computed: int = 0
    completion_tokens: int = 0
    engine_calls: int = 0
    scorer_calls: int = 0
    scorer_tokens: int = 0
    scorer_prompt_tokens_computed: int = 0
    interrupt_tokens: int = 0
    wall_seconds: float = 0.0

    def __add__(self, other: Usage) -> Usage:
        return Usage(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)})

    @property
    def total_tokens(self) -> int:
        """Every token requested: the generator's prompts and completions and the scorers'."""
        return self.prompt_tokens + self.completion_tokens + self.scorer_tokens

    def as_scorer_usage(self) -> Usage:
        """This record (an engine's usage on a scorer's behalf) moved to the scorer fields."""
        return Usage(
            scorer_calls=self.engine_calls,
            scorer_tokens=self.prompt_tokens + self.completion_tokens,
            scorer_prompt_tokens_computed=self.prompt_tokens_computed,
        )

    def to_dict(self) -> dict[str, float | int]:
        data: dict[str, float | int] = asdict(self)
        data["wall_seconds"] = round(self.wall_seconds, 4)
        return data


def total(usages: list[Usage] | tuple[Usage, ...]) -> Usage:
    """Sum a sequence of usage records."""
    result = Usage()
    for usage in usages:
        result = result + usage
    return result
