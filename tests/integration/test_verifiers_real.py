"""Program of thought and LINC end to end on the embedded model."""

from __future__ import annotations

import pytest

import ponder
from ponder.bench.catalog import builtin_file
from ponder.core.jsonl import read_jsonl
from ponder.engines.llama import LlamaEngine

pytestmark = pytest.mark.model


async def test_program_of_thought_runs_the_models_programs(llama_engine: LlamaEngine) -> None:
    result = await ponder.asolve(
        "What is 12 times 7?", engine=llama_engine, strategy="program-of-thought", budget=3, max_tokens=96, seed=1
    )
    assert len(result.candidates) == 3 and result.usage.engine_calls == 1
    for candidate in result.candidates:
        status = (candidate.evidence or "").split(":")[0]
        assert status in {"ok", "error", "timeout", "limit"}
        assert (candidate.answer is not None) == (status == "ok")
    if result.answer is not None:
        assert result.votes[result.answer] == max(result.votes.values())


async def test_linc_translates_and_proves_a_folio_problem(llama_engine: LlamaEngine) -> None:
    row = next(row for _, row in read_jsonl(builtin_file("folio")))
    result = await ponder.alinc(row["premises"], row["conclusion"], engine=llama_engine, budget=2, max_tokens=160)
    assert result.strategy == "linc" and len(result.candidates) == 2
    assert set(result.votes) <= {"True", "False", "Uncertain"}
    for candidate in result.candidates:
        assert candidate.answer in {"True", "False", "Uncertain"} or candidate.evidence  # an Error says why
    assert result.trace[0]["errors"] == sum(c.answer is None for c in result.candidates)
