"""Think-and-execute and a tiny action-routing search on the embedded model (short generations)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import ponder
from ponder.bench.route_search import aroute
from ponder.engines.llama import LlamaEngine
from ponder.routing import load_router

pytestmark = pytest.mark.model

EXAMPLES = [
    {"question": "Tom had 5 apples and ate 2. How many apples are left?", "answer": "3"},
    {"question": "A box holds 4 pens. How many pens are in 3 boxes?", "answer": "12"},
]
QUESTIONS = [
    "Sara had 15 pencils. She gave 6 to her friend. How many pencils does Sara have now?",
    "Jim has 3 bags with 2 marbles each. How many marbles does Jim have?",
]


async def test_think_and_execute_writes_pseudocode_once_and_reuses_it(
    llama_engine: LlamaEngine, tmp_path: Path
) -> None:
    options = {"examples": json.dumps(EXAMPLES), "cache": str(tmp_path / "cache"), "think_tokens": 80}
    first, second = [
        await ponder.asolve(
            q, engine=llama_engine, strategy="think-and-execute", budget=1, max_tokens=60, seed=1, options=options
        )
        for q in QUESTIONS
    ]
    think1, think2 = first.trace[0], second.trace[0]
    assert think1["action"] == "think" and think1["source"] == "written" and think1["pseudocode"]
    assert think1["usage"]["completion_tokens"] > 0 and think1["usage"]["engine_calls"] == 1
    assert think2["source"] == "memory" and think2["usage"]["completion_tokens"] == 0
    assert think2["pseudocode"] == think1["pseudocode"]
    assert list((tmp_path / "cache").glob("*.json"))  # kept on disk for the next process
    for result in (first, second):
        execute = result.trace[1]
        assert execute["action"] == "execute" and execute["n"] == 1
        assert len(result.candidates) == 1 and result.stop_reason == "done"
    assert first.usage.engine_calls == 2 and second.usage.engine_calls == 1
    assert second.usage.completion_tokens == second.trace[1]["usage"]["completion_tokens"]


async def test_a_tiny_route_search_writes_a_router_that_routed_applies(
    llama_engine: LlamaEngine, tmp_path: Path
) -> None:
    out = tmp_path / "router.json"
    router = await aroute(
        "mawps-singleop",
        out=str(out),
        limit=2,
        trajectories="cot,pot,plan+cot",
        max_tokens=48,
        seed=0,
        engine=llama_engine,
    )
    assert load_router(out) == router
    assert router.fallback in {"cot", "pot", "plan+cot"}
    assert sum(stats["n"] for stats in router.overall.values()) == 2 * 3
    for kind, by_trajectory in router.evidence.items():
        assert set(by_trajectory) == {"cot", "pot", "plan+cot"}
        assert router.routes[kind] in by_trajectory
        assert all(s["engine_calls"] >= 1 and s["completion_tokens"] > 0 for s in by_trajectory.values())
    result = await ponder.asolve(
        QUESTIONS[0], engine=llama_engine, strategy="routed", budget=3, max_tokens=48, options={"router": str(out)}
    )
    route = result.trace[0]["route"]
    assert route["by"] in {"route", "fallback"} and route["trajectory"] in {"cot", "pot", "plan+cot"}
    assert result.usage.engine_calls == len(result.trace)
    assert all(step["usage"]["engine_calls"] == 1 for step in result.trace)
