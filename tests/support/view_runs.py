"""Runs for the viewer's tests: strategies on a scripted engine and PRM (no model), seeded.

The model writes steps ``Step k (sample i) <b>x</b>.`` and, after two to four of them, a boxed
answer; its whole answers (for sampling strategies) carry a ``<script>`` to prove that model text
is shown as text. The PRM favours sample 1's steps and dislikes sample 2's, so particle
filtering resamples unevenly: some particles are drawn several times, others are pruned.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import ponder
from ponder.bench.runner import record_for
from ponder.bench.store import BenchStore
from ponder.bench.types import Config, Problem
from ponder.engines import FakeEngine, GenerationRequest
from ponder.scorers.prm import ScriptedPRM

QUESTION = "What is 3 + 4? <i>quickly</i>"
HOSTILE = "<script>alert('pwned')</script>"


def model(request: GenerationRequest, index: int) -> str:
    done = [s for s in request.assistant_prefix.split("\n\n") if s]
    if request.stop != ("\n\n",):
        return f"I think {HOSTILE} step by step. The answer is {3 + index % 2}."
    if len(done) < 2 + index % 3:
        return f"Step {len(done) + 1} (sample {index}) <b>x</b>.\n\nleftover"
    return f"Step end. The answer is \\boxed{{{7 + index % 3}}}."


def prm() -> ScriptedPRM:
    return ScriptedPRM({"sample 1)": 0.9, "sample 2)": 0.2, "Step 2": 0.6}, default=0.5)


def solve(strategy: str, budget: int = 8, **options: Any) -> ponder.SolveResult:
    """``strategy`` on the scripted model, with the scripted PRM as ``p``."""
    extra = (
        {"prm": "p"} if strategy in ("particle-filtering", "particle-gibbs", "beam-search", "dvts", "a-star") else {}
    )
    return ponder.solve(
        QUESTION,
        engine=FakeEngine(model, fork=True),
        strategy=strategy,
        scorers={"p": prm()},
        budget=budget,
        seed=3,
        max_tokens=400,
        options={**extra, **options},
    )


def solve_pipeline(pipeline: dict[str, Any]) -> ponder.SolveResult:
    return ponder.solve(QUESTION, engine=FakeEngine(model, fork=True), pipeline=pipeline, scorers={"p": prm()}, seed=3)


def bench_db(path: Path) -> Path:
    """A benchmark database with two configurations (self-consistency, particle filtering) of
    two problems each (one id and one label carry markup)."""
    store = BenchStore(path)
    run = store.start_run(
        ponder_version="test", dataset="toy", engine="fake", model="fake", model_sha256=None, settings={}
    )
    problems = [
        Problem(id="p1", question=QUESTION, gold="7", grader="math", data={}),
        Problem(id="p<2>", question="Twice 2? " + HOSTILE, gold="4", grader="math", data={}),
    ]
    for strategy, options in (("self-consistency", ()), ("particle-filtering", (("note", "<b>"),))):
        config = Config("toy", strategy, 8, 3, None, 400, "fake", "fake", options=options)
        config_id = store.config_id(run, config)
        for problem in problems:
            store.add_result(config_id, record_for(problem, solve(strategy)))
    store.close()
    return path
