"""A shipped pipeline and the revise strategy end to end on the embedded model (short generations)."""

from __future__ import annotations

from pathlib import Path

import pytest

import ponder
from ponder.engines.llama import LlamaEngine
from ponder.registry import load_pipeline

pytestmark = pytest.mark.model

QUESTION = "Sara had 15 pencils. She gave 6 to her friend. How many pencils does Sara have now?"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "pipelines"


async def test_generate_critique_fuse_pipeline(llama_engine: LlamaEngine) -> None:
    path = EXAMPLES / "generate-critique-fuse.yaml"
    result = await ponder.asolve(QUESTION, engine=llama_engine, pipeline=path, max_tokens=40, seed=3)
    assert result.strategy == "pipeline" and result.stop_reason == "done"
    assert result.params["budget"] == load_pipeline(path).generations() == 9
    assert [entry["name"] for entry in result.trace] == ["generator", "critic", "fuser"]
    components = [c for entry in result.trace for c in entry["components"]]
    assert [c["generations"] for c in components] == [4, 4, 1]
    assert all(c["usage"]["engine_calls"] == 1 and c["usage"]["completion_tokens"] > 0 for c in components)
    assert sum(c["usage"]["completion_tokens"] for c in components) == result.usage.completion_tokens
    fused = result.trace[2]["candidates"]
    assert len(fused) == 1 and [c.index for c in result.candidates] == [0, 1, 2, 3, *fused]
    if result.answer is not None:
        assert result.answer in result.votes


async def test_code_pipeline_runs_generated_tests(llama_engine: LlamaEngine) -> None:
    question = "Write a Python function add(a, b) that returns the sum of a and b."
    result = await ponder.asolve(
        question, engine=llama_engine, pipeline=EXAMPLES / "code-unit-tests.yaml", task="code", max_tokens=60, seed=1
    )
    assert result.stop_reason == "done" and len(result.trace) == 2
    evaluator = result.trace[1]["components"][0]
    assert evaluator["type"] == "test_evaluator"
    if evaluator["tests"]:  # the small model may write no assert lines at all
        assert len(evaluator["passed"]) == 4
        assert all(
            c.evidence is not None and "tests passed" in c.evidence for c in result.candidates if c.score is not None
        )


async def test_revise_on_the_embedded_model(llama_engine: LlamaEngine) -> None:
    result = await ponder.asolve(
        QUESTION,
        engine=llama_engine,
        strategy="revise",
        budget=5,
        max_tokens=40,
        seed=3,
        options={"scorer": "self-eval"},
    )
    assert result.strategy == "revise" and result.stop_reason == "done"
    assert [entry["action"] for entry in result.trace] == ["draft", "revise", "revise"]
    assert len(result.candidates) == 3 and all(c.score is not None for c in result.candidates)
    assert result.usage.engine_calls == 5 and result.usage.scorer_calls == 3
    assert all(isinstance(entry["critique"], str) for entry in result.trace[1:])


async def test_pipeline_wrapping_particle_filtering(llama_engine: LlamaEngine) -> None:
    result = await ponder.asolve(
        QUESTION, engine=llama_engine, pipeline=EXAMPLES / "search-then-fuse.yaml", max_tokens=48, seed=2
    )
    assert result.stop_reason == "done"
    first = result.trace[0]["components"]
    assert [c["type"] for c in first] == ["strategy", "generator"]
    assert first[0]["generations"] == 4 and first[0]["usage"]["scorer_calls"] >= 1  # the PRM judged the particles
    assert result.usage.scorer_calls >= first[0]["usage"]["scorer_calls"]
    assert len(result.trace) == 3 and result.trace[2]["components"][0]["type"] == "fuser"
