"""Step-level search (beam search, DVTS, particle filtering, particle Gibbs, A*) with a scripted
engine and a scripted PRM.

The scripted model writes solutions of three steps. Each step is "good" or "bad" by a coin
flip seeded by the sample's identity; the third step states the answer: 12 if every step was
good, else 7. The scripted PRM scores good steps 0.9 and bad ones 0.1, aggregated by ``min``,
so the high-reward path is exactly the one with the right answer, and a blind sampler rarely
finds it (1 in 8 solutions).
"""

from __future__ import annotations

from typing import Any

import pytest

import ponder
from ponder.engines import Completion, FakeEngine, GenerationRequest
from ponder.errors import InvalidInputError
from ponder.scorers.prm import ScriptedPRM
from ponder.search.steps import Partial, StepParams, grow, prefix, root
from ponder.seeding import derive_seed
from ponder.usage import Usage

QUESTION = "Tom has 3 boxes of 4 apples. How many apples?"
SEARCHES = ["beam-search", "dvts", "particle-filtering", "particle-gibbs", "a-star"]


def draw(request: GenerationRequest, index: int) -> int:
    return derive_seed(request.seed, request.first_index + index)


def three_steps(request: GenerationRequest, index: int) -> str:
    """The scripted model; see the module docstring."""
    done = [s for s in request.assistant_prefix.split("\n\n") if s]
    value = draw(request, index)
    quality = "good" if value % 2 == 0 else "bad"
    if len(done) < 2:
        return f"Step {len(done) + 1} is {quality} (draw {value % 1000}).\n\nleftover text past the delimiter"
    right = all("good" in s for s in done) and quality == "good"
    return f"Step 3 is {quality}. The answer is {12 if right else 7}."


def prm() -> ScriptedPRM:
    return ScriptedPRM(lambda question, steps: [0.9 if "good" in s else 0.1 for s in steps], aggregation="min")


async def search(strategy: str, engine: FakeEngine | None = None, **options: Any) -> Any:
    engine = engine or FakeEngine(three_steps, fork=True)
    run_options = {"budget": 8, "seed": 3, "max_tokens": 200, "options": {"prm": "scripted", **options}}
    return await ponder.asolve(QUESTION, engine=engine, strategy=strategy, scorers={"scripted": prm()}, **run_options)


def blind_success_rate() -> float:
    """How often the scripted model reaches 12 when nothing guides it (a sanity anchor)."""
    return 1 / 8


# -- each search finds the high-reward path -----------------------------------------------


@pytest.mark.parametrize("strategy", SEARCHES)
@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_search_finds_the_high_reward_path(strategy: str, seed: int) -> None:
    engine = FakeEngine(three_steps, fork=True)
    result = await ponder.asolve(QUESTION, engine=engine, strategy=strategy, scorers={"scripted": prm()},
                                 budget=8, seed=seed, max_tokens=200, options={"prm": "scripted"})
    assert result.answer == "12", result.trace
    assert result.stop_reason == "done"
    best = max(result.candidates, key=lambda c: c.score or 0.0)
    assert best.answer == "12" and best.score == pytest.approx(0.9)
    assert best.text.count("good") == 3 and best.text.count("\n\n") == 2
    assert result.usage.completion_tokens > 0 and result.usage.engine_calls >= 3


async def test_blind_sampling_rarely_finds_it() -> None:
    engine = FakeEngine(three_steps, fork=True)
    result = await ponder.asolve(QUESTION, engine=engine, strategy="self-consistency", budget=8, seed=3,
                                 max_tokens=200)
    # self-consistency samples whole answers in one go: the scripted model then only writes step 1.
    assert all("12" not in c.text for c in result.candidates)
    assert blind_success_rate() < 0.2


@pytest.mark.parametrize("strategy", SEARCHES)
async def test_seeds_reproduce_traces(strategy: str) -> None:
    first, second = await search(strategy), await search(strategy)
    assert first.trace == second.trace
    assert [c.text for c in first.candidates] == [c.text for c in second.candidates]


@pytest.mark.parametrize("strategy", SEARCHES)
async def test_other_seeds_give_other_traces(strategy: str) -> None:
    engine_a, engine_b = FakeEngine(three_steps, fork=True), FakeEngine(three_steps, fork=True)
    a = await ponder.asolve(QUESTION, engine=engine_a, strategy=strategy, scorers={"scripted": prm()},
                            budget=8, seed=1, max_tokens=200, options={"prm": "scripted"})
    b = await ponder.asolve(QUESTION, engine=engine_b, strategy=strategy, scorers={"scripted": prm()},
                            budget=8, seed=2, max_tokens=200, options={"prm": "scripted"})
    assert [r.assistant_prefix for r in engine_a.requests] != [r.assistant_prefix for r in engine_b.requests]
    assert [c.text for c in a.candidates] != [c.text for c in b.candidates]


# -- particle filtering ----------------------------------------------------------------------


async def test_finished_particles_are_never_extended() -> None:
    engine = FakeEngine(three_steps, fork=True)
    result = await search("particle-filtering", engine)
    finished = {c.text for c in result.candidates if c.finish_reason == "stop"}
    assert finished
    assert not finished & {r.assistant_prefix for r in engine.requests}
    # budget: N particles are counted once, whatever the number of steps
    assert result.params["budget"] == 8


async def test_copies_of_a_particle_decode_from_one_request() -> None:
    engine = FakeEngine(three_steps, fork=True)
    result = await search("particle-filtering", engine)
    steps = [r for r in engine.requests if r.stop == ("\n\n",)]
    assert steps[0].n == 8 and steps[0].assistant_prefix == ""  # the first step: one request, 8 forks
    later = steps[1:]
    assert len({r.assistant_prefix for r in later}) == len(later)  # never two requests for one prefix
    assert any(r.n > 1 for r in later)  # resampled copies share their request
    assert sum(r.n for r in later) <= 16
    ancestors = [e["ancestors"] for e in result.trace if "ancestors" in e]
    assert ancestors and all(len(a) == 8 for a in ancestors)


async def test_ess_threshold_skips_resampling_when_weights_are_even() -> None:
    flat = ScriptedPRM(lambda q, steps: [0.5] * len(steps), aggregation="min")
    engine = FakeEngine(three_steps, fork=True)
    result = await ponder.asolve(QUESTION, engine=engine, strategy="particle-filtering", scorers={"flat": flat},
                                 budget=4, seed=0, max_tokens=200, options={"prm": "flat", "ess_threshold": 0.5})
    assert all("ancestors" not in e for e in result.trace)
    assert all(e["ess"] == pytest.approx(4.0) for e in result.trace)


@pytest.mark.parametrize("scheme", ["multinomial", "systematic", "stratified", "residual"])
async def test_every_resampling_scheme_runs(scheme: str) -> None:
    result = await search("particle-filtering", resampling=scheme)
    assert result.answer == "12"


async def test_weighted_vote_answer() -> None:
    result = await search("particle-filtering", answer="vote")
    assert result.answer == "12"
    assert result.votes["12"] > result.votes.get("7", 0.0)


async def test_remote_engines_send_each_prefix_on_its_own() -> None:
    engine = FakeEngine(three_steps, fork=False)
    result = await search("particle-filtering", engine)
    assert result.answer == "12"
    step_calls = [r for r in engine.requests if r.stop == ("\n\n",)]
    assert engine.calls == len(step_calls)  # one request per engine call: scoring overlaps the rest


# -- particle Gibbs ---------------------------------------------------------------------------


async def test_particle_gibbs_keeps_its_reference_particle() -> None:
    result = await search("particle-gibbs", sweeps=2)
    sweeps = [e for e in result.trace if e.get("sweep") == 1]
    assert sweeps, "a second sweep ran"
    assert all(e["ancestors"][0] == 0 for e in sweeps if "ancestors" in e)
    assert result.answer == "12"


async def test_particle_gibbs_needs_two_particles_per_sweep() -> None:
    with pytest.raises(InvalidInputError, match="at least 2 particles per sweep"):
        await ponder.asolve(QUESTION, engine=FakeEngine(three_steps, fork=True), strategy="particle-gibbs",
                            scorers={"scripted": prm()}, budget=3, options={"prm": "scripted", "sweeps": 2})


def test_reference_prefix_carries_its_scores() -> None:
    steps = ("a\n\n", "b\n\n", "c")
    ref = Partial(steps=steps, index=5, completion_tokens=9, finish_reason="stop", path_scores=(0.2, 0.6, 0.9),
                  step_tokens=(2, 3, 4), score=0.9)
    mid = prefix(ref, 2)
    assert mid.steps == steps[:2] and not mid.finished and mid.score == 0.6 and mid.completion_tokens == 5
    assert prefix(ref, 0).steps == () and prefix(ref, 0).score is None
    assert prefix(ref, 3) is ref


# -- beam search, DVTS, A* ---------------------------------------------------------------------


async def test_beam_search_keeps_n_over_m_beams() -> None:
    result = await search("beam-search", width=4)
    kept = [e["kept"] for e in result.trace if e["depth"] < 3]
    assert all(len(k) <= 2 for k in kept)
    assert all(e["expanded"] == 8 for e in result.trace)


async def test_dvts_subtrees_are_independent() -> None:
    result = await search("dvts", width=4)
    assert all(e["subtrees"] <= 2 for e in result.trace)
    assert result.trace[0]["subtrees"] == 2


async def test_a_star_stops_at_the_first_finished_solution() -> None:
    engine = FakeEngine(three_steps, fork=True)
    result = await search("a-star", engine, k=4)
    assert result.trace[-1]["action"] == "found"
    expansions = [e for e in result.trace if e["action"] == "expand"]
    assert len(expansions) <= 4  # root, then one good node per depth
    assert all(r.n <= 4 for r in engine.requests)


async def test_a_star_respects_its_step_cap() -> None:
    stuck = FakeEngine(lambda request, index: "Still thinking.\n\nmore", fork=True)
    result = await ponder.asolve(QUESTION, engine=stuck, strategy="a-star", scorers={"scripted": prm()}, budget=1,
                                 max_tokens=10_000, options={"prm": "scripted", "max_steps": 3, "k": 2})
    assert sum(r.n for r in stuck.requests) <= 3
    assert result.stop_reason == "done"


# -- steps --------------------------------------------------------------------------------


def completion(text: str, finish: str = "stop", stop: str | None = None, tokens: int = 5) -> Completion:
    return Completion(text=text, completion_tokens=tokens, finish_reason=finish, usage=Usage(),  # type: ignore[arg-type]
                      stop_sequence=stop)


@pytest.mark.parametrize(
    ("text", "finish", "stop", "reports", "expected"),
    [
        ("First, 3 x 4.", "stop", "\n\n", True, None),  # delimiter: continue
        ("So 3 x 4 = 12.", "stop", None, True, "stop"),  # EOS: finished
        ("So the answer is 12.", "stop", "\n\n", True, "stop"),  # answer stated: finished
        ("3 x 4 = ", "length", None, True, None),  # step cap: continue
        ("", "error", None, True, "error"),
        ("First, 3 x 4.", "stop", None, False, None),  # backend silent: a non-empty step met the delimiter
        ("", "stop", None, False, "stop"),  # backend silent, empty step: EOS
    ],
)
def test_grow_classifies_steps(text: str, finish: str, stop: str | None, reports: bool, expected: str | None) -> None:
    child = grow(root(), completion(text, finish, stop), 1, StepParams(), max_tokens=100, reports_stop=reports)
    assert child.finish_reason == expected
    assert child.parent == 0 and child.index == 1
    if stop == "\n\n" or (not reports and text and finish == "stop"):
        assert child.text == text + "\n\n"


def test_grow_stops_at_max_steps_and_max_tokens() -> None:
    params = StepParams(max_steps=2)
    one = grow(root(), completion("a", stop="\n\n"), 1, params, max_tokens=100, reports_stop=True)
    two = grow(one, completion("b", stop="\n\n"), 2, params, max_tokens=100, reports_stop=True)
    assert not one.finished and two.finish_reason == "length" and two.step_tokens == (5, 5)
    capped = grow(root(), completion("a", stop="\n\n", tokens=50), 1, StepParams(), max_tokens=50, reports_stop=True)
    assert capped.finish_reason == "length"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"delimiter": ""}, "delimiter"),
        ({"step_tokens": 0}, "step_tokens"),
        ({"answer_pattern": "("}, "not a regular expression"),
        ({"resampling": "bogus"}, "choose one of"),
        ({"ess_threshold": 0}, "ess_threshold"),
        ({"weight_temperature": 0}, "weight_temperature"),
    ],
)
async def test_bad_options_are_named(options: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        await search("particle-filtering", **options)


async def test_a_scorer_that_is_not_a_prm_is_refused() -> None:
    from ponder.scorers import SequenceProbability

    with pytest.raises(InvalidInputError, match="not a process reward model"):
        await ponder.asolve(QUESTION, engine=FakeEngine(three_steps, fork=True), strategy="beam-search",
                            scorers={"p": SequenceProbability()}, budget=4, options={"prm": "p"})


# -- a PRM served over HTTP ------------------------------------------------------------------


async def test_particle_filtering_with_a_vllm_prm_over_http() -> None:
    from tests.support.prm_server import PrmServer, pooling_answer

    def respond(path: str, body: dict[str, Any]) -> tuple[int, Any]:
        steps = body["messages"][-1]["content"].split("<extra_0>")[:-1]
        return 200, pooling_answer([[0.9 if "good" in s else 0.1 for s in steps]])

    with PrmServer(respond) as server:
        engine = FakeEngine(three_steps, fork=True)
        result = await ponder.asolve(QUESTION, engine=engine, strategy="particle-filtering", budget=8, seed=3,
                                     max_tokens=200, options={"prm": f"vllm:{server.url}"})
    assert result.answer == "12"
    assert all(path == "/pooling" for path, _, _ in server.requests)
    assert result.usage.scorer_calls == len(server.requests) > 0
    assert result.usage.scorer_tokens == 50 * len(server.requests)
