"""Judges that continue the sample's own chat reuse its cached prefix on the embedded engine.

best-of-n@8 with the self-evaluation judge: asked as the next turn of each sample's chat, the
judge's prompt begins with exactly the sample's tokens (prompt + text), which the engine's slots
still hold, so the prompt tokens it computes are about its own question only; asked in a fresh
prompt (``self-eval:fresh``), it computes the question and the quoted solution again. Run with
``-s`` to see the measured counts.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

import ponder
from ponder.core.result import SolveResult
from ponder.core.settings import SolveSettings
from ponder.engines.base import Completion, GenerationRequest, Message
from ponder.engines.llama import LlamaEngine
from ponder.scorers import SelfEvalJudge
from ponder.scorers.judge import continued

pytestmark = pytest.mark.model

QUESTION = "Sara had 15 pencils. She gave 6 to her friend. How many pencils does Sara have now?"
RUN = {"strategy": "best-of-n", "budget": 8, "max_tokens": 64, "seed": 5}
SLACK = 4  # tokens per judge where a retokenized sample may differ from the tokens it was generated as


def chat() -> tuple[Message, ...]:
    """The chat best-of-n samples (the default settings' system prompt and the question)."""
    system = SolveSettings().system_prompt
    return ((Message("system", system),) if system else ()) + (Message("user", QUESTION),)


def own_tokens(engine: LlamaEngine, text: str) -> int:
    """The tokens a judge request adds to its sample's tokens (the sample's prompt and text)."""
    sample = engine.count_tokens(GenerationRequest(messages=chat(), assistant_prefix=text))
    judge = engine.count_tokens(GenerationRequest(messages=continued(chat(), text, SelfEvalJudge.follow_up)))
    return judge - sample


async def best_of_n(engine: LlamaEngine, scorer: str) -> SolveResult:
    engine.reset_cache()  # both forms start from an empty cache
    return await ponder.asolve(QUESTION, engine=engine, options={"scorer": scorer}, **RUN)  # type: ignore[arg-type]


async def test_the_judge_computes_only_its_own_tokens(llama_engine: LlamaEngine) -> None:
    reused = await best_of_n(llama_engine, "self-eval")
    fresh = await best_of_n(llama_engine, "self-eval:fresh")
    own = [own_tokens(llama_engine, c.text) for c in reused.candidates]
    print(
        f"\njudge prompt tokens computed, best-of-n@8: reused chat {reused.usage.scorer_prompt_tokens_computed}"
        f" (judges' own tokens {sum(own)}, requested {reused.usage.scorer_tokens - 8}); fresh prompts "
        f"{fresh.usage.scorer_prompt_tokens_computed} (requested {fresh.usage.scorer_tokens - 8}); generator "
        f"computed {reused.usage.prompt_tokens_computed} of {reused.usage.prompt_tokens}"
    )
    assert len(reused.candidates) == len(fresh.candidates) == 8
    assert reused.usage.scorer_calls == fresh.usage.scorer_calls == 1
    # the judges computed their own question (and the turn markers), not the sample again
    assert 0 < reused.usage.scorer_prompt_tokens_computed <= sum(own) + SLACK * len(own)
    assert reused.usage.scorer_prompt_tokens_computed * 3 < fresh.usage.scorer_prompt_tokens_computed
    # the generator's count is its own: the prompt computed once and forked
    assert reused.usage.prompt_tokens_computed * 8 == reused.usage.prompt_tokens
    # the verdicts still come from real logprobs of the first token
    assert all(c.score is not None and 0.0 <= c.score <= 1.0 for c in reused.candidates)
    assert len({round(c.score or 0.0, 6) for c in reused.candidates}) > 1


class Recording:
    """The embedded engine, recording the requests a scorer sends through it."""

    def __init__(self, engine: LlamaEngine) -> None:
        self.engine = engine
        self.capabilities = engine.capabilities
        self.info = engine.info
        self.requests: list[GenerationRequest] = []

    async def generate(self, requests: Sequence[GenerationRequest]) -> list[list[Completion]]:
        self.requests.extend(requests)
        return await self.engine.generate(requests)

    async def aclose(self) -> None:
        return None


async def test_the_self_eval_prm_reuses_the_partials_in_step_search(llama_engine: LlamaEngine) -> None:
    usage, asked = {}, {}
    for prm in ("self-eval-prm", "self-eval-prm:fresh"):
        llama_engine.reset_cache()
        judge = Recording(llama_engine)
        result = await ponder.asolve(
            QUESTION,
            engine=llama_engine,
            scorer_engine=judge,
            strategy="particle-filtering",
            budget=4,
            max_tokens=72,
            seed=5,
            options={"step_tokens": 24, "prm": prm},
        )
        usage[prm], asked[prm] = result.usage, judge.requests
    reused, fresh = usage["self-eval-prm"], usage["self-eval-prm:fresh"]
    own = [
        llama_engine.count_tokens(r)
        - llama_engine.count_tokens(
            GenerationRequest(messages=r.messages[:-2], assistant_prefix=r.messages[-2].content)
        )  # type: ignore[index]
        for r in asked["self-eval-prm"]
    ]
    print(
        f"\nPRM prompt tokens computed, particle-filtering@4: reused chat {reused.scorer_prompt_tokens_computed} "
        f"for {len(own)} partials (their own tokens {sum(own)}); fresh prompts "
        f"{fresh.scorer_prompt_tokens_computed} for {len(asked['self-eval-prm:fresh'])} partials"
    )
    assert all(r.messages[:-2] == chat() for r in asked["self-eval-prm"])  # type: ignore[index]
    assert 0 < reused.scorer_prompt_tokens_computed <= sum(own) + SLACK * len(own)
    assert reused.scorer_prompt_tokens_computed < fresh.scorer_prompt_tokens_computed
