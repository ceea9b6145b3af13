"""Step-level search faithful to its papers: step defaults (step cap, answer pattern, a step cut
by its cap), beam search's stopping rule, DVTS's candidates, A*'s path cost, and user answer
patterns matched with a time limit. Scripted engine and PRM throughout."""

from __future__ import annotations

import time
from typing import Any

import pytest

import ponder
from ponder.core.errors import InvalidInputError
from ponder.core.patterns import MAX_PATTERN_CHARS, compile_pattern
from ponder.core.usage import Usage
from ponder.engines import Completion, FakeEngine, GenerationRequest
from ponder.scorers.prm import ScriptedPRM
from ponder.search.steps import ANSWER_PATTERNS, StepParams, grow, root
from ponder.strategies.a_star import AStarParams
from ponder.strategies.beam_search import BeamParams
from ponder.strategies.particle_filtering import ParticleFilteringParams

QUESTION = "Tom has 3 boxes of 4 apples. How many apples?"


def completion(text: str, finish: str = "stop", stop: str | None = "\n\n", tokens: int = 5) -> Completion:
    return Completion(
        text=text,
        completion_tokens=tokens,
        finish_reason=finish,  # type: ignore[arg-type]
        usage=Usage(),
        stop_sequence=stop,
    )


def step_of(params: StepParams, text: str, finish: str = "stop", stop: str | None = "\n\n") -> Any:
    return grow(root(), completion(text, finish, stop), 1, params, max_tokens=10_000, reports_stop=True)


# -- step defaults (#18 item 3) ------------------------------------------------------------------


def test_step_defaults_follow_the_papers() -> None:
    assert StepParams().step_tokens == 1024  # Puri et al. 2025
    assert ParticleFilteringParams().step_tokens == 1024
    assert BeamParams().step_tokens == 2048  # search-and-learn (beam search and DVTS)
    assert AStarParams().step_tokens == 1024
    assert StepParams().answer_pattern == "boxed" and BeamParams().capped_step == "finish"
    assert StepParams().capped_step == "continue"


def test_a_step_saying_answer_is_goes_on_unless_the_broad_pattern_is_asked_for() -> None:
    said = "So the answer is 12."
    assert not step_of(StepParams(), said).finished  # the papers stop on EOS or \boxed
    assert step_of(StepParams(), "So the answer is \\boxed{12}.").finish_reason == "stop"
    assert step_of(StepParams(answer_pattern="broad"), said).finish_reason == "stop"
    assert step_of(StepParams(answer_pattern="Answer:"), "Answer: 12").finish_reason == "stop"  # a regex
    assert ANSWER_PATTERNS["broad"].startswith(ANSWER_PATTERNS["boxed"])


def test_a_step_cut_by_its_cap_finishes_where_search_and_learn_says_so() -> None:
    cut = "3 x 4 = "
    assert not step_of(StepParams(), cut, "length", None).finished
    assert step_of(BeamParams(), cut, "length", None).finish_reason == "length"
    assert not step_of(BeamParams(capped_step="continue"), cut, "length", None).finished


@pytest.mark.parametrize(("max_tokens", "cap"), [(512, 512), (5000, 2048)])
async def test_a_step_is_capped_by_the_nearer_of_step_tokens_and_max_tokens(max_tokens: int, cap: int) -> None:
    engine = FakeEngine(lambda request, index: "So \\boxed{12}.", fork=True)
    prm = ScriptedPRM(lambda q, steps: [0.5] * len(steps))
    await ponder.asolve(
        QUESTION, engine=engine, strategy="beam-search", scorers={"p": prm}, budget=4, max_tokens=max_tokens,
        options={"prm": "p"},
    )  # fmt: skip
    assert engine.requests[0].max_tokens == cap


# -- beam search runs until no beam is left (#18 item 6) ------------------------------------------


def early_finishers(request: GenerationRequest, index: int) -> str:
    """Half the samples of every step guess 7 at once (and stop); the others take a step; after two
    steps the solution boxes 12."""
    done = [s for s in request.assistant_prefix.split("\n\n") if s]
    if len(done) == 2:
        return "So \\boxed{12}."
    if index % 2 == 0:
        return f"Quick guess: \\boxed{{7}} (sample {request.first_index + index})."
    return f"Step {len(done) + 1} (sample {request.first_index + index}).\n\nleftover"


def guess_prm() -> ScriptedPRM:
    return ScriptedPRM(lambda q, steps: [0.95 if "12" in s else 0.3 if "guess" in s else 0.6 for s in steps])


async def test_beam_search_runs_until_no_beam_is_left() -> None:
    """N=4, M=4 (one beam): 2 guesses finish at each of the first two steps, so N solutions have
    finished while a beam is still live. search-and-learn goes on; with ``sort_completed`` the
    later, better-scored solutions win (stopping at N finished would answer 7)."""
    result = await ponder.asolve(
        QUESTION, engine=FakeEngine(early_finishers, fork=True), strategy="beam-search", scorers={"p": guess_prm()},
        budget=4, seed=0, max_tokens=200, options={"prm": "p", "width": 4, "sort_completed": True},
    )  # fmt: skip
    finished = [sum(e["finished"] for e in result.trace[: i + 1]) for i in range(len(result.trace))]
    assert finished[1] == 4 and result.trace[1]["kept"]  # N finished, one beam still live ...
    assert len(result.trace) == 3 and not result.trace[-1]["kept"]  # ... and the search went on
    assert result.answer == "12"
    assert len(result.candidates) <= 4  # the top N finished


async def test_beam_search_decides_over_the_first_n_to_finish_by_default() -> None:
    """search-and-learn's default (``sort_completed=False``) keeps ``completed_beams[:n]``: the
    first N to finish, here the four early guesses, however well later solutions score."""
    result = await ponder.asolve(
        QUESTION, engine=FakeEngine(early_finishers, fork=True), strategy="beam-search", scorers={"p": guess_prm()},
        budget=4, seed=0, max_tokens=200, options={"prm": "p", "width": 4},
    )  # fmt: skip
    assert len(result.trace) == 3  # the search still runs until no beam is left
    assert result.answer == "7" and {c.answer for c in result.candidates} == {"7"}


async def test_beam_search_votes_over_the_top_n_finished() -> None:
    result = await ponder.asolve(
        QUESTION, engine=FakeEngine(early_finishers, fork=True), strategy="beam-search", scorers={"p": guess_prm()},
        budget=4, seed=0, max_tokens=200, options={"prm": "p", "width": 4, "answer": "vote", "sort_completed": True},
    )  # fmt: skip
    assert result.answer == "12"
    assert result.votes["12"] == pytest.approx(4 * 0.95)  # the 4 boxed-12 solutions outrank the 4 guesses


# -- DVTS pools the M siblings of every subtree (#18 item 7) ---------------------------------------


def one_of_four_says_seven(request: GenerationRequest, index: int) -> str:
    """Every first step answers at once: sample 0 of each group of 4 says 7, the others 12."""
    return "So \\boxed{7}." if index % 4 == 0 else f"So \\boxed{{12}} (sample {index})."


async def test_dvts_votes_over_all_n_siblings_not_the_n_over_m_leaves() -> None:
    """Budget 8, width 4: two subtrees; each keeps its 7 (scored 0.9) over three 12s (0.8 each).
    A vote over the two kept leaves says 7; search-and-learn pools all 8: 12 has 4.8 against 1.8."""
    prm = ScriptedPRM(lambda q, steps: [0.9 if "{7}" in s else 0.8 for s in steps])
    result = await ponder.asolve(
        QUESTION, engine=FakeEngine(one_of_four_says_seven, fork=True), strategy="dvts", scorers={"p": prm},
        budget=8, seed=0, max_tokens=200, options={"prm": "p", "width": 4, "answer": "vote"},
    )  # fmt: skip
    assert result.trace[0]["subtrees"] == 2
    assert len(result.candidates) == 8
    assert result.answer == "12"
    assert result.votes["12"] == pytest.approx(6 * 0.8) and result.votes["7"] == pytest.approx(2 * 0.9)
    best = await ponder.asolve(
        QUESTION, engine=FakeEngine(one_of_four_says_seven, fork=True), strategy="dvts", scorers={"p": prm},
        budget=8, seed=0, max_tokens=200, options={"prm": "p", "width": 4},
    )  # fmt: skip
    assert best.answer == "7" and len(best.candidates) == 8  # best: the top-scored of all N


# -- A*: g is the accumulated drop of the PRM score (#18 item 12) ---------------------------------


def alpha_or_beta(request: GenerationRequest, index: int) -> str:
    prefix = request.assistant_prefix
    if not prefix:
        return ["Alpha start.\n\nx", "Beta start.\n\nx"][index % 2]
    if prefix.startswith("Alpha") and prefix.count("\n\n") == 1:
        return "Alpha slip.\n\nx"
    return "Done: \\boxed{1}."


ALPHA_PRM = {"Done": 0.95, "Alpha start": 0.9, "Alpha slip": 0.6, "Beta start": 0.55}


@pytest.mark.parametrize(
    ("cost", "third"), [("score-drops", "Beta start.\n\n"), ("none", "Alpha start.\n\nAlpha slip.\n\n")]
)
async def test_a_star_path_cost_is_the_accumulated_score_drop(cost: str, third: str) -> None:
    """After the root and Alpha (0.9) are expanded, the frontier holds Beta (0.55: f = 0.45) and
    Alpha's child that slipped to 0.6 (h = 0.4, g = 0.9 - 0.6 = 0.3: f = 0.7). A* expands Beta;
    greedy best-first on h alone (g = 0, the former default) expands the slipped Alpha."""
    engine = FakeEngine(alpha_or_beta, fork=True)
    result = await ponder.asolve(
        QUESTION, engine=engine, strategy="a-star", scorers={"p": ScriptedPRM(ALPHA_PRM)}, budget=2, seed=0,
        max_tokens=200, options={"prm": "p", "k": 2, "cost": cost},
    )  # fmt: skip
    prefixes = [r.assistant_prefix for r in engine.requests]
    assert prefixes[:2] == ["", "Alpha start.\n\n"] and prefixes[2] == third
    assert result.answer == "1" and result.trace[-1]["action"] == "found"
    assert AStarParams().cost == "score-drops"


# -- user regexes are matched with a time limit (#17 item 1) ---------------------------------------


def test_a_backtracking_answer_pattern_returns_within_a_bounded_time() -> None:
    """``(a+)+$`` against 27 a's and '!' took 18 s with Python's re (and froze a server)."""
    started = time.monotonic()
    child = step_of(StepParams(answer_pattern="(a+)+$"), "a" * 27 + "!")
    assert time.monotonic() - started < 5
    assert not child.finished


def test_a_pattern_that_runs_out_of_time_is_a_clear_error() -> None:
    params = StepParams(answer_pattern="(a|a)+$")
    started = time.monotonic()
    with pytest.raises(InvalidInputError, match=r"answer_pattern '\(a\|a\)\+\$' took more than 0.5 s"):
        step_of(params, "a" * 40 + "!")
    assert time.monotonic() - started < 5


async def test_a_run_with_a_backtracking_pattern_fails_fast_and_names_it() -> None:
    engine = FakeEngine(lambda request, index: "a" * 40 + "!\n\nrest", fork=True)
    prm = ScriptedPRM(lambda q, steps: [0.5] * len(steps))
    started = time.monotonic()
    with pytest.raises(InvalidInputError, match="answer_pattern"):
        await ponder.asolve(
            QUESTION, engine=engine, strategy="beam-search", scorers={"p": prm}, budget=2, max_tokens=200,
            options={"prm": "p", "answer_pattern": "(a|a)+$"},
        )  # fmt: skip
    assert time.monotonic() - started < 10


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("(", "not a regular expression"),
        ("a" * (MAX_PATTERN_CHARS + 1), "at most"),
        ("\ud800", "not valid UTF-8"),
        ("((a{1000}){1000}){1000}", "multiply past"),  # would expand to gigabytes when compiled
        ("(a{1000}){1000}", "multiply past"),
    ],
)
def test_bad_answer_patterns_are_refused_when_the_options_are_read(pattern: str, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        StepParams(answer_pattern=pattern)


def test_compiled_patterns_are_cached_and_named() -> None:
    assert compile_pattern(r"\d+", "answer_pattern") is compile_pattern(r"\d+", "answer_pattern")
    assert compile_pattern(r"\d+", "answer_pattern").search("x 12")
    assert StepParams(answer_pattern="broad").answer_regex().source == ANSWER_PATTERNS["broad"]


async def test_beam_search_does_not_end_a_solution_on_a_boxed_step_but_dvts_does() -> None:
    """search-and-learn's beam search completes a beam at EOS or a cap only; its DVTS prunes on boxed{."""

    def boxed_then_more(request: GenerationRequest, index: int) -> str:
        done = [s for s in request.assistant_prefix.split("\n\n") if s]
        return "So \\boxed{7}.\n\nmore" if not done else "Then \\boxed{12}."

    prm = ScriptedPRM(lambda q, steps: [0.5] * len(steps))
    options = {"prm": "p", "width": 2}
    beam = await ponder.asolve(
        QUESTION, engine=FakeEngine(boxed_then_more, fork=True), strategy="beam-search", scorers={"p": prm},
        budget=2, seed=0, max_tokens=200, options=options,
    )  # fmt: skip
    assert beam.trace[0]["finished"] == 0 and len(beam.trace) == 2 and beam.answer == "12"
    dvts = await ponder.asolve(
        QUESTION, engine=FakeEngine(boxed_then_more, fork=True), strategy="dvts", scorers={"p": prm},
        budget=2, seed=0, max_tokens=200, options=options,
    )  # fmt: skip
    assert dvts.answer == "7"
