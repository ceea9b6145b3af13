"""Particle filtering and particle Gibbs as Puri et al. 2025 and their code run them (issue #18):
a sweep ends when its free particles finish, the PRM reads the whole partial trajectory as one
step, ESS-gated resampling keeps the weights it skipped, and particle Gibbs answers from its last
sweep. Scripted engine and PRMs; no model."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

import ponder
from ponder.core.chat import Message
from ponder.engines import FakeEngine, GenerationRequest
from ponder.scorers.prm import ScriptedPRM
from ponder.search.resampling import effective_sample_size, logit, softmax

QUESTION = "Tom has 3 boxes of 4 apples. How many apples?"


def steps_of(request: GenerationRequest) -> list[str]:
    return [s for s in request.assistant_prefix.split("\n\n") if s]


class LongThenShort:
    """A model whose first particles (sweep 1's: the first request without a prefix) write four
    steps and answer 7, and whose later particles (sweep 2's) answer 12 at their first step."""

    def __init__(self) -> None:
        self.first_root: int | None = None

    def __call__(self, request: GenerationRequest, index: int) -> str:
        done = steps_of(request)
        if not done:
            self.first_root = request.first_index if self.first_root is None else self.first_root
            if request.first_index != self.first_root:
                return "The answer is 12."
        if len(done) < 3:
            return f"Step {len(done) + 1}.\n\nleftover"
        return "Step 4. The answer is 7."


def long_then_short() -> FakeEngine:
    return FakeEngine(LongThenShort(), fork=True)


def start(engine: FakeEngine, prm: Any, strategy: str = "particle-gibbs", budget: int = 8, **options: Any) -> Any:
    return ponder.start(
        QUESTION,
        engine,
        strategy=strategy,
        scorers={"p": prm},
        budget=budget,
        seed=3,
        max_tokens=400,
        options={"prm": "p", **options},
    )


def step_requests(engine: FakeEngine) -> list[GenerationRequest]:
    return [r for r in engine.requests if r.stop == ("\n\n",)]


# -- item 1: a sweep ends when its free particles have finished ------------------------------


async def test_gibbs_sweep_ends_when_its_free_particles_finish() -> None:
    """N=4, 2 sweeps; sweep 2's particles answer at step 1, so sweep 2 is one step long: nothing
    of it is extended again (before the fix, copies of the reference's unfinished prefix
    replaced the finished particles and were grown at depths 2-4)."""
    engine = long_then_short()
    run = start(engine, ScriptedPRM({"Step": 0.9}, default=0.1), sweeps=2)
    result = await run.run()
    first = [e for e in result.trace if e["sweep"] == 0]
    second = [e for e in result.trace if e["sweep"] == 1]
    assert [e["depth"] for e in first] == [1, 2, 3, 4]
    assert [e["depth"] for e in second] == [1]
    assert second[0]["extended"] == 3 and "ancestors" not in second[0]
    last = step_requests(engine)[-1]
    assert last.assistant_prefix == "" and last.n == 3  # sweep 2's only step: its three roots
    assert sum(r.n for r in step_requests(engine) if r.assistant_prefix) == 4 * 3  # sweep 1's steps 2-4, no more
    reference = run.state.particles[0]
    assert reference.finished and reference.text.endswith("The answer is 7.")  # all of it, at the end
    assert [p.text for p in run.state.particles[1:]] == ["The answer is 12."] * 3
    assert run.ctx.ledger.spent == 4 + 3


# -- item 5: particle Gibbs answers from its last sweep --------------------------------------


@pytest.mark.parametrize(("answer_from", "expected"), [("last", "12"), ("all", "7")])
async def test_gibbs_answers_from_the_last_sweep_unless_asked_to_pool(answer_from: str, expected: str) -> None:
    """Even weights and a vote: the last sweep holds three 12s and the reference's 7; every
    sweep together holds five 7s (sweep 1's four and the reference) and three 12s."""
    flat = ScriptedPRM(lambda q, steps: 0.5)
    run = start(long_then_short(), flat, sweeps=2, answer="vote", answer_from=answer_from)
    result = await run.run()
    assert result.answer == expected
    assert result.votes["12"] == pytest.approx(3 / 4 if answer_from == "last" else 3 / 8)


async def test_gibbs_best_answer_is_the_best_particle_of_the_last_sweep() -> None:
    """The reference code's answer: the highest-reward particle of the last sweep (its three new
    particles and the reference), not one of the other particles of sweep 1."""
    prm = ScriptedPRM({"answer is 12": 0.8, "answer is 7": 0.6}, default=0.5)
    run = start(long_then_short(), prm, sweeps=2)
    result = await run.run()
    assert result.answer == "12"
    assert sorted(c.index for c in result.candidates) == sorted(p.index for p in run.state.particles)
    assert len(result.candidates) == 4 and len(run.state.pool) == 4


async def test_gibbs_stopped_inside_a_sweep_answers_from_the_last_sweep_that_ended() -> None:
    run = start(FakeEngine(three_steps, fork=True), ScriptedPRM(lambda q, steps: 0.5), sweeps=2)
    for _ in range(4):  # sweep 1's three steps, then sweep 2's first
        assert await run.step()
    assert run.state.sweep == 1 and not run.state.finished
    result = run.result()
    assert {c.index for c in result.candidates} == {p.index for p in run.state.pool}
    assert result.answer == "12" and all(c.finish_reason == "stop" for c in result.candidates)


# -- item 2: the PRM reads the whole partial trajectory as one step ---------------------------


def three_steps(request: GenerationRequest, index: int) -> str:
    done = steps_of(request)
    if len(done) < 2:
        return f"Step {len(done) + 1}.\n\nleftover"
    return "Step 3. The answer is 12."


@pytest.mark.parametrize("strategy", ["particle-filtering", "particle-gibbs"])
async def test_prm_reads_the_joined_trajectory_by_default(strategy: str) -> None:
    prm = ScriptedPRM(lambda q, steps: [0.5] * len(steps))
    await start(FakeEngine(three_steps, fork=True), prm, strategy=strategy, budget=4).run()
    partials = [partial for _, asked in prm.calls for partial in asked]
    assert partials and all(len(partial) == 1 for partial in partials)
    assert ["Step 1.\n\nStep 2.\n\nStep 3. The answer is 12."] in partials  # the whole trajectory, one step


async def test_prm_reads_split_steps_when_asked() -> None:
    prm = ScriptedPRM(lambda q, steps: [0.5] * len(steps))
    await start(FakeEngine(three_steps, fork=True), prm, strategy="particle-filtering", prm_input="steps").run()
    partials = [partial for _, asked in prm.calls for partial in asked]
    assert ["Step 1.", "Step 2.", "Step 3. The answer is 12."] in partials
    assert max(len(partial) for partial in partials) == 3


class ChatRecorder(ScriptedPRM):
    """A PRM that judges partials as continuations of their chat, recording the steps it got."""

    def __init__(self) -> None:
        super().__init__(lambda q, steps: [0.5] * len(steps))
        self.chat_calls: list[list[list[str]]] = []

    async def score_steps_in_chat(
        self, question: str, prompt: tuple[Message, ...], steps: Sequence[Sequence[str]]
    ) -> list[list[float]]:
        self.chat_calls.append([list(partial) for partial in steps])
        return [[0.5] * len(partial) for partial in steps]


async def test_chat_prm_reads_the_joined_trajectory_as_generated() -> None:
    prm = ChatRecorder()
    await start(FakeEngine(three_steps, fork=True), prm, strategy="particle-filtering", budget=4).run()
    partials = [partial for asked in prm.chat_calls for partial in asked]
    assert partials and all(len(partial) == 1 for partial in partials)
    assert ["Step 1.\n\nStep 2.\n\nStep 3. The answer is 12."] in partials  # delimiters kept


# -- item 4: ESS-gated resampling multiplies the weights it did not reset ---------------------

SCORES = {"p0": (0.9, 0.8, 0.7), "p1": (0.6, 0.3, 0.5), "p2": (0.2, 0.7, 0.4), "p3": (0.5, 0.5, 0.5)}


def tagged(request: GenerationRequest, index: int) -> str:
    """Three steps; each carries the tag of the particle's first sample (p0-p3: the first step of
    the four particles is one request of four samples)."""
    done = steps_of(request)
    tag = done[0].split()[-1] if done else f"p{index}"
    if len(done) < 2:
        return f"Step {len(done) + 1} {tag}\n\nleftover"
    return f"Step 3 {tag}. The answer is 7."


def tagged_score(question: str, steps: Sequence[str]) -> float:
    """The scripted score of a partial trajectory: by its tag and how many steps it has."""
    text = "\n\n".join(steps)
    match = re.search(r"p\d", text)
    assert match is not None
    return SCORES[match.group()][text.count("Step") - 1]


def increments(depth: int, temperature: float) -> np.ndarray:
    return np.array([logit(SCORES[f"p{i}"][depth - 1]) / temperature for i in range(4)])


async def test_weights_multiply_across_steps_that_skip_resampling() -> None:
    """ESS threshold 0.1 of 4 particles never resamples: after two steps the log weights are the
    sums of each step's logit(score) / T (w_t = w_(t-1) G_t), not the last step's alone."""
    run = start(
        FakeEngine(tagged, fork=True),
        ScriptedPRM(tagged_score),
        strategy="particle-filtering",
        budget=4,
        ess_threshold=0.1,
        weight_temperature=2.0,
    )
    assert await run.step() and await run.step()
    assert [p.text.split()[2] for p in run.state.particles] == ["p0", "p1", "p2", "p3"]  # no resampling
    expected = increments(1, 2.0) + increments(2, 2.0)
    assert run.state.log_weights == pytest.approx(expected.tolist())
    assert run.trace[-1]["ess"] == pytest.approx(effective_sample_size(softmax(expected)), abs=1e-3)
    assert "ancestors" not in run.trace[-1]
    assert await run.step()  # the last step: every particle answers
    final = expected + increments(3, 2.0)
    result = run.result()
    assert run.state.log_weights == pytest.approx(final.tolist())
    assert result.candidates and all(c.answer == "7" for c in result.candidates)


async def test_weights_reset_to_uniform_after_a_resample() -> None:
    run = start(
        FakeEngine(tagged, fork=True),
        ScriptedPRM(tagged_score),
        strategy="particle-filtering",
        budget=4,
        weight_temperature=2.0,
    )
    assert await run.step()
    assert "ancestors" in run.trace[-1]  # ess_threshold 1: every step resamples
    assert run.trace[-1]["ess"] == pytest.approx(effective_sample_size(softmax(increments(1, 2.0))), abs=1e-3)
    assert run.state.log_weights == (0.0, 0.0, 0.0, 0.0)
    assert await run.step()
    entry = run.trace[-1]
    for slot, ancestor in enumerate(entry["ancestors"]):  # slot k now holds the particle at ancestors[k]
        tag = run.state.particles[slot].text.split()[2]
        assert entry["log_weights"][ancestor] == pytest.approx(logit(SCORES[tag][1]) / 2.0, abs=1e-3)  # G_2 alone
