"""The self-evaluation PRM on the embedded model: real logprobs, one batch per call, caching."""

from __future__ import annotations

import pytest

from ponder.context import MeteredEngine
from ponder.core.result import Candidate
from ponder.engines.llama import LlamaEngine
from ponder.scorers.prm import SelfEvalPRM

pytestmark = pytest.mark.model

QUESTION = "Sara had 15 pencils. She gave 6 to her friend. How many pencils does Sara have now?"
GOOD = ["Sara starts with 15 pencils and gives away 6.", "15 - 6 = 9.", "The answer is 9."]
BAD = ["Sara starts with 15 pencils and gets 6 more.", "15 + 6 = 21.", "The answer is 21."]


async def test_self_eval_prm_whole_reads_real_logprobs(llama_engine: LlamaEngine) -> None:
    engine = MeteredEngine(llama_engine)
    prm = SelfEvalPRM(engine)
    scores = await prm.score_steps(QUESTION, [GOOD[:1], GOOD, BAD])
    assert engine.usage.engine_calls == 1
    assert all(len(row) == 1 and 0.0 <= row[0] <= 1.0 for row in scores)
    assert len({round(row[0], 6) for row in scores}) > 1  # P(yes) differs between partials
    again = await prm.score_steps(QUESTION, [GOOD, BAD])
    assert again == scores[1:] and engine.usage.engine_calls == 1  # cached


async def test_self_eval_prm_per_step_and_as_a_scorer(llama_engine: LlamaEngine) -> None:
    engine = MeteredEngine(llama_engine)
    prm = SelfEvalPRM(engine, aggregation="min")
    scores = await prm.score_steps(QUESTION, [GOOD, BAD])
    assert [len(row) for row in scores] == [3, 3] and engine.usage.engine_calls == 1
    assert all(0.0 <= s <= 1.0 for row in scores for s in row)
    text = "\n\n".join(GOOD)
    candidate = Candidate(text=text, answer="9", finish_reason="stop", completion_tokens=20)
    assert await prm.score(QUESTION, [candidate]) == [pytest.approx(min(scores[0]))]
    assert engine.usage.engine_calls == 1
