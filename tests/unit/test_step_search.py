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
from ponder.core.errors import InvalidInputError
from ponder.core.seeding import derive_seed
from ponder.core.usage import Usage
from ponder.engines import Completion, FakeEngine, GenerationRequest
from ponder.scorers.prm import ScriptedPRM
from ponder.search.steps import Partial, StepParams, grow, prefix, root

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
    """0.1 for a step with a bad one in it, else 0.9: min over split steps, and the one score of the
    joined trajectory (particle filtering's default PRM input), agree."""
    return ScriptedPRM(lambda question, steps: [0.1 if "bad" in s else 0.9 for s in steps], aggregation="min")


async def search(strategy: str, engine: FakeEngine | None = None, **options: Any) -> Any:
    engine = engine or FakeEngine(three_steps, fork=True)
    run_options = {"budget": 8, "seed": 3, "max_tokens": 200, "options": {"prm": "scripted", **options}}
    return await ponder.asolve(QUESTION, engine=engine, strategy=strategy, scorers={"scripted": prm()}, **run_options)


# -- each search finds the high-reward path -----------------------------------------------


@pytest.mark.parametrize("strategy", SEARCHES)
@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_search_finds_the_high_reward_path(strategy: str, seed: int) -> None:
    engine = FakeEngine(three_steps, fork=True)
    result = await ponder.asolve(
        QUESTION,
        engine=engine,
        strategy=strategy,
        scorers={"scripted": prm()},
        budget=8,
        seed=seed,
        max_tokens=200,
        options={"prm": "scripted"},
    )
    assert result.answer == "12", result.trace
    assert result.stop_reason == "done"
    best = max(result.candidates, key=lambda c: c.score or 0.0)
    assert best.answer == "12" and best.score == pytest.approx(0.9)
    assert best.text.count("good") == 3 and best.text.count("\n\n") == 2
    assert result.usage.completion_tokens > 0 and result.usage.engine_calls >= 3


async def test_unguided_search_rarely_finds_it() -> None:
    """The anchor for the test above: with a PRM that cannot tell steps apart, particle filtering
    is blind sampling, and about 1 solution in 8 reaches 12."""
    flat = ScriptedPRM(lambda q, steps: [0.5] * len(steps), aggregation="min")
    answers = []
    for seed in range(6):
        result = await ponder.asolve(
            QUESTION,
            engine=FakeEngine(three_steps, fork=True),
            strategy="particle-filtering",
            scorers={"flat": flat},
            budget=8,
            seed=seed,
            max_tokens=200,
            options={"prm": "flat"},
        )
        answers += [c.answer for c in result.candidates]
    assert 0 < answers.count("12") / len(answers) < 0.3


@pytest.mark.parametrize("strategy", SEARCHES)
async def test_seeds_reproduce_traces(strategy: str) -> None:
    first, second = await search(strategy), await search(strategy)
    assert first.trace == second.trace
    assert [c.text for c in first.candidates] == [c.text for c in second.candidates]


@pytest.mark.parametrize("strategy", SEARCHES)
async def test_other_seeds_give_other_traces(strategy: str) -> None:
    engine_a, engine_b = FakeEngine(three_steps, fork=True), FakeEngine(three_steps, fork=True)
    a = await ponder.asolve(
        QUESTION,
        engine=engine_a,
        strategy=strategy,
        scorers={"scripted": prm()},
        budget=8,
        seed=1,
        max_tokens=200,
        options={"prm": "scripted"},
    )
    b = await ponder.asolve(
        QUESTION,
        engine=engine_b,
        strategy=strategy,
        scorers={"scripted": prm()},
        budget=8,
        seed=2,
        max_tokens=200,
        options={"prm": "scripted"},
    )
    assert [r.assistant_prefix for r in engine_a.requests] != [r.assistant_prefix for r in engine_b.requests]
    assert [c.text for c in a.candidates] != [c.text for c in b.candidates]


# -- particle filtering ----------------------------------------------------------------------


def early_or_late(request: GenerationRequest, index: int) -> str:
    """A model that answers at once one time in three (a high-reward answer), else in three steps."""
    done = [s for s in request.assistant_prefix.split("\n\n") if s]
    value = draw(request, index)
    if not done and value % 3 == 0:
        return f"The answer is 12 (draw {value % 1000})."
    if len(done) < 2:
        return f"Step {len(done) + 1} (draw {value % 1000}).\n\nleftover"
    return "Step 3. The answer is 7."


async def test_finished_particles_are_frozen_never_extended_nor_recounted() -> None:
    engine = FakeEngine(early_or_late, fork=True)
    judge = ScriptedPRM({"answer is 12": 0.95}, default=0.4)
    run = ponder.start(
        QUESTION,
        engine,
        strategy="particle-filtering",
        scorers={"j": judge},
        budget=8,
        seed=3,
        max_tokens=200,
        options={"prm": "j"},
    )
    result = await run.run()
    finished = {p.text for p in run.state.particles if p.finished}
    early = {p.index for p in run.state.particles if p.finished and len(p.steps) == 1}
    assert early, "some particles finished at the first step"
    assert not finished & {r.assistant_prefix for r in engine.requests}  # none was continued
    assert len(run.state.particles) > len({p.index for p in run.state.particles})  # resampling copied some
    steps = [r for r in engine.requests if r.stop == ("\n\n",)]
    assert sum(r.n for r in steps) > 8 and run.ctx.ledger.spent == 8  # N particles counted once
    assert result.answer == "12"


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
    result = await ponder.asolve(
        QUESTION,
        engine=engine,
        strategy="particle-filtering",
        scorers={"flat": flat},
        budget=4,
        seed=0,
        max_tokens=200,
        options={"prm": "flat", "ess_threshold": 0.5},
    )
    assert all("ancestors" not in e for e in result.trace)
    assert all(e["ess"] == pytest.approx(4.0) for e in result.trace)


async def test_ess_threshold_resamples_exactly_when_ess_falls_below_it() -> None:
    result = await search("particle-filtering", ess_threshold=0.5)
    live = [e for e in result.trace if e["finished"] < 8]
    assert live and all(("ancestors" in e) == (e["ess"] < 0.5 * 8) for e in live)
    assert {"ancestors" in e for e in live} == {True, False}  # both cases happen in this run


@pytest.mark.parametrize("scheme", ["multinomial", "systematic", "stratified", "residual"])
async def test_every_resampling_scheme_runs(scheme: str) -> None:
    result = await search("particle-filtering", resampling=scheme)
    assert result.answer == "12"


async def test_weighted_vote_answer() -> None:
    result = await search("particle-filtering", answer="vote")
    assert result.answer == "12"
    assert result.votes["12"] > result.votes.get("7", 0.0)


async def test_remote_engines_send_each_prefix_on_its_own() -> None:
    engine = FakeEngine(three_steps, fork=True, remote=True)
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


async def test_particle_gibbs_never_extends_its_reference() -> None:
    run = ponder.start(
        QUESTION,
        FakeEngine(three_steps, fork=True),
        strategy="particle-gibbs",
        scorers={"scripted": prm()},
        budget=8,
        seed=3,
        max_tokens=200,
        options={"prm": "scripted", "sweeps": 2},
    )
    result = await run.run()
    second = [e for e in result.trace if e.get("sweep") == 1]
    assert second and all(e["extended"] <= 3 for e in second)  # N - 1 = 3: slot 0 only replays
    reference = run.state.particles[0]
    assert reference.index in {p.index for p in run.state.pool}  # a particle of the first sweep
    assert reference == next(p for p in run.state.pool if p.index == reference.index)
    assert run.ctx.ledger.spent == 4 + 3  # the reference costs nothing


async def test_particle_gibbs_needs_two_particles_per_sweep() -> None:
    with pytest.raises(InvalidInputError, match="at least 2 particles per sweep"):
        await ponder.asolve(
            QUESTION,
            engine=FakeEngine(three_steps, fork=True),
            strategy="particle-gibbs",
            scorers={"scripted": prm()},
            budget=3,
            options={"prm": "scripted", "sweeps": 2},
        )


def test_reference_prefix_carries_its_scores() -> None:
    steps = ("a\n\n", "b\n\n", "c")
    ref = Partial(
        steps=steps,
        index=5,
        completion_tokens=9,
        finish_reason="stop",
        path_scores=(0.2, 0.6, 0.9),
        step_tokens=(2, 3, 4),
        score=0.9,
    )
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


async def test_dvts_with_a_budget_under_its_width_grows_one_narrower_subtree() -> None:
    engine = FakeEngine(three_steps, fork=True)
    result = await ponder.asolve(
        QUESTION,
        engine=engine,
        strategy="dvts",
        scorers={"scripted": prm()},
        budget=2,
        seed=3,
        max_tokens=200,
        options={"prm": "scripted", "width": 4},
    )
    assert result.trace[0]["subtrees"] == 1
    assert all(r.n <= 2 for r in engine.requests if r.stop == ("\n\n",))


async def test_a_star_stops_at_the_first_finished_solution() -> None:
    engine = FakeEngine(three_steps, fork=True)
    result = await search("a-star", engine, k=4)
    assert result.trace[-1]["action"] == "found"
    expansions = [e for e in result.trace if e["action"] == "expand"]
    assert len(expansions) <= 4  # root, then one good node per depth
    assert all(r.n <= 4 for r in engine.requests)


async def test_a_star_respects_its_step_cap() -> None:
    stuck = FakeEngine(lambda request, index: "Still thinking.\n\nmore", fork=True)
    result = await ponder.asolve(
        QUESTION,
        engine=stuck,
        strategy="a-star",
        scorers={"scripted": prm()},
        budget=1,
        max_tokens=10_000,
        options={"prm": "scripted", "max_steps": 3, "k": 2},
    )
    assert sum(r.n for r in stuck.requests) <= 3
    assert result.stop_reason == "done"


@pytest.mark.parametrize("strategy", SEARCHES)
async def test_every_sample_has_an_identity_of_its_own(strategy: str) -> None:
    """Children take fresh identities (an identity seeds a sample), so no two samples collide."""
    engine = FakeEngine(three_steps, fork=True)
    await search(strategy, engine)
    taken = [r.first_index + i for r in engine.requests if r.stop == ("\n\n",) for i in range(r.n)]
    assert len(taken) == len(set(taken))


class ShortRows(FakeEngine):
    """A broken engine that returns one sample too few for every request of more than one."""

    async def generate(self, requests: Any) -> list[list[Completion]]:
        return [row[:-1] if len(row) > 1 else row for row in await super().generate(requests)]


@pytest.mark.parametrize("fork", [True, False])
async def test_an_engine_that_drops_samples_is_a_clear_error(fork: bool) -> None:
    from ponder.core.errors import UpstreamError

    with pytest.raises(UpstreamError, match="returned 7 samples for a request of 8"):
        await search("particle-filtering", ShortRows(three_steps, fork=fork))


# -- deciding -------------------------------------------------------------------------------


def test_decide_prefers_finished_partials_and_counts_copies() -> None:
    from ponder.answers import get_task
    from ponder.search.decide import decide_partials

    task = get_task("math")
    twelve = Partial(steps=("The answer is 12.",), index=1, finish_reason="stop", score=0.6)
    seven = Partial(steps=("The answer is 7.",), index=2, finish_reason="stop", score=0.7)
    open_ = Partial(steps=("The answer is 9",), index=3, score=0.99)  # unfinished: not a candidate
    best = decide_partials([twelve, seven, open_], task, "best")
    assert best.answer == "7" and {c.index for c in best.candidates} == {1, 2}
    voted = decide_partials([twelve, twelve, seven], task, "vote", [0.3, 0.3, 0.4])
    assert voted.answer == "12" and voted.votes["12"] == pytest.approx(0.6)
    assert [c.index for c in voted.candidates] == [1, 2]  # copies listed once
    nothing = decide_partials([open_, Partial(steps=("So 3 x 4",), index=4, score=0.2)], task, "best")
    assert nothing.answer == "9" and all(c.finish_reason == "length" for c in nothing.candidates)
    assert decide_partials([], task, "best").answer is None


# -- steps --------------------------------------------------------------------------------


def completion(text: str, finish: str = "stop", stop: str | None = None, tokens: int = 5) -> Completion:
    return Completion(
        text=text,
        completion_tokens=tokens,
        finish_reason=finish,
        usage=Usage(),  # type: ignore[arg-type]
        stop_sequence=stop,
    )


@pytest.mark.parametrize(
    ("text", "finish", "stop", "reports", "expected"),
    [
        ("First, 3 x 4.", "stop", "\n\n", True, None),  # delimiter: continue
        ("So 3 x 4 = 12.", "stop", None, True, "stop"),  # EOS: finished
        ("So the answer is \\boxed{12}.", "stop", "\n\n", True, "stop"),  # answer boxed: finished
        ("So the answer is 12.", "stop", "\n\n", True, None),  # merely "answer is": the papers go on
        ("3 x 4 = ", "length", None, True, None),  # step cap: continue
        ("So the answer is \\boxed{1", "length", None, True, None),  # cut mid-answer by the cap: continue
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
        await ponder.asolve(
            QUESTION,
            engine=FakeEngine(three_steps, fork=True),
            strategy="beam-search",
            scorers={"p": SequenceProbability()},
            budget=4,
            options={"prm": "p"},
        )


class ClosingPRM(ScriptedPRM):
    """The scripted PRM, counting how often it is closed."""

    closed = 0

    async def aclose(self) -> None:
        self.closed += 1


async def test_a_run_closes_the_prm_it_built_but_not_one_passed_in(monkeypatch: pytest.MonkeyPatch) -> None:
    import ponder.context.scorers as prm_module

    built = ClosingPRM(lambda q, steps: [0.9 if "good" in s else 0.1 for s in steps], aggregation="min")
    monkeypatch.setattr(prm_module, "make_prm", lambda spec, engine: built)
    result = await ponder.asolve(
        QUESTION,
        engine=FakeEngine(three_steps, fork=True),
        strategy="beam-search",
        budget=4,
        seed=3,
        max_tokens=200,
        options={"prm": "from-spec"},
    )
    assert result.answer == "12" and built.closed == 1
    passed = ClosingPRM(lambda q, steps: [0.5] * len(steps))
    await ponder.asolve(
        QUESTION,
        engine=FakeEngine(three_steps, fork=True),
        strategy="beam-search",
        scorers={"mine": passed},
        budget=4,
        seed=3,
        max_tokens=200,
        options={"prm": "mine"},
    )
    assert passed.closed == 0  # the caller's to close


def test_claim_counts_generations_and_refuses_more_than_left() -> None:
    from ponder.answers import get_task
    from ponder.context import StepContext
    from ponder.core.budget import Budget
    from ponder.core.settings import SolveSettings

    ctx = StepContext(QUESTION, FakeEngine(["x"]), SolveSettings(), get_task("math"), Budget(generations=4))
    ctx.ledger.spend(3)
    assert ctx.ledger.remaining() == 1
    for bad in (0, 2):
        with pytest.raises(InvalidInputError, match="generations with 1 left"):
            ctx.ledger.spend(bad)


# -- a PRM served over HTTP ------------------------------------------------------------------


async def test_particle_filtering_with_a_vllm_prm_over_http() -> None:
    from tests.support.prm_server import PrmServer, pooling_answer

    def respond(path: str, body: dict[str, Any]) -> tuple[int, Any]:
        steps = body["messages"][-1]["content"].split("<extra_0>")[:-1]
        return 200, pooling_answer([[0.1 if "bad" in s else 0.9 for s in steps]])

    with PrmServer(respond) as server:
        engine = FakeEngine(three_steps, fork=True)
        result = await ponder.asolve(
            QUESTION,
            engine=engine,
            strategy="particle-filtering",
            budget=8,
            seed=3,
            max_tokens=200,
            options={"prm": f"vllm:{server.url}"},
        )
    assert result.answer == "12"
    assert all(path == "/pooling" for path, _, _ in server.requests)
    assert result.usage.scorer_calls == len(server.requests) > 0
    assert result.usage.scorer_tokens == 50 * len(server.requests)


def test_delimiter_escapes_typed_on_a_command_line() -> None:
    from ponder.core.params import build_params
    from ponder.strategies.particle_filtering import ParticleFilteringParams

    assert build_params(ParticleFilteringParams, {"delimiter": "\\n"}).delimiter == "\n"
    assert build_params(ParticleFilteringParams, {"delimiter": "\\n\\n"}).delimiter == "\n\n"
    assert build_params(ParticleFilteringParams, {"delimiter": ". "}).delimiter == ". "
    with pytest.raises(InvalidInputError, match="bad escape"):
        build_params(ParticleFilteringParams, {"delimiter": "\\x"})


# -- the self-evaluation PRM judges partials in the chat they continue ------------------------


async def test_self_eval_prm_asks_after_the_search_chat() -> None:
    import math

    from ponder.engines import Message, Scripted
    from ponder.scorers.prm.self_eval import WHOLE_FOLLOW_UP

    def script(request: GenerationRequest, index: int) -> Any:
        assert request.messages is not None
        if request.messages[-1].content == WHOLE_FOLLOW_UP:  # a verdict on the partial in the assistant turn
            p = 0.1 if "bad" in request.messages[-2].content else 0.9
            return Scripted("Yes", top=(("Yes", math.log(p)), ("No", math.log(1 - p))))
        return three_steps(request, index)

    engine = FakeEngine(script, fork=True)
    result = await ponder.asolve(
        QUESTION, engine=engine, strategy="particle-filtering", budget=8, seed=3, max_tokens=200
    )  # the default PRM: self-eval-prm
    assert result.answer == "12"
    steps = [r for r in engine.requests if r.max_tokens > 1]
    judges = [r for r in engine.requests if r.max_tokens == 1]
    assert judges and all(j.messages[-1] == Message("user", WHOLE_FOLLOW_UP) for j in judges)  # type: ignore[index]
    chat = steps[0].messages
    assert all(j.messages[:-2] == chat for j in judges)  # type: ignore[index]
    # each partial is judged exactly as generated: the text a later step continues
    judged = {j.messages[-2].content for j in judges}  # type: ignore[index]
    assert {s.assistant_prefix for s in steps if s.assistant_prefix} <= judged
    assert 0 < result.usage.scorer_prompt_tokens_computed <= result.usage.scorer_tokens  # counted apart
