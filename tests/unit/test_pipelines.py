"""Pipeline layer semantics with the fake engine: generators, critics, rankers, fusers, verifiers,
unit tests run in the sandbox, strategies as components, concurrency, budgets, usage and trace."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, ClassVar

import pytest
from click.testing import CliRunner

import ponder
from ponder.answers import get_task
from ponder.cli.main import cli
from ponder.context import StepContext
from ponder.core.budget import Budget
from ponder.core.errors import InvalidInputError
from ponder.core.result import Candidate
from ponder.core.settings import SolveSettings
from ponder.core.usage import Usage, total
from ponder.engines import Completion, FakeEngine, GenerationRequest
from ponder.engines.fake import prompt_text
from ponder.pipelines.components.ranker import read_ranking
from ponder.scorers import ScorerInfo

QUESTION = "What is 2 + 2?"
CRITIQUE_MARK = "Check the solution step by step"
FUSE_MARK = "several proposed solutions"
RANK_MARK = "Rank the solutions"
TEST_MARK = "unit tests for the function"


def script(request: GenerationRequest, index: int) -> str:
    """Drafts answer their sample identity; critics, fusers and rankers answer in kind."""
    prompt = prompt_text(request)
    identity = request.first_index + index
    if CRITIQUE_MARK in prompt:
        return f"critique number {identity}"
    if FUSE_MARK in prompt:
        return "Fused from all of them: The answer is 4."
    if RANK_MARK in prompt:
        return "[3] > [1] > [2]"
    return f"Draft {identity}. The answer is {identity}."


class AnswerScorer:
    """Scores a candidate by a table of answers (0 for others); counts its calls."""

    name: ClassVar[str] = "table"
    info: ClassVar[ScorerInfo] = ScorerInfo(kind="verifier", exact=True, cost="free")

    def __init__(self, table: dict[str, float]) -> None:
        self.table = table
        self.calls = 0

    async def score(self, question: str, candidates: Sequence[Candidate]) -> list[float]:
        self.calls += 1
        return [self.table.get(c.answer or "", 0.0) for c in candidates]


class SlowEngine(FakeEngine):
    """A fake whose calls take ``delay`` seconds; records how many were in flight at once."""

    def __init__(self, script: Any, delay: float = 0.05) -> None:
        super().__init__(script)
        self.delay = delay
        self.in_flight = 0
        self.most_in_flight = 0

    async def generate(self, requests: Sequence[GenerationRequest]) -> list[list[Completion]]:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.delay)
            return await super().generate(requests)
        finally:
            self.in_flight -= 1


def layers(*items: Any) -> dict[str, Any]:
    return {"layers": list(items)}


async def solve(pipeline: dict[str, Any], engine: FakeEngine | None = None, **options: Any) -> ponder.SolveResult:
    return await ponder.asolve(QUESTION, engine=engine or FakeEngine(script), pipeline=pipeline, **options)


# -- components ------------------------------------------------------------------------------


async def test_generate_critique_fuse_end_to_end() -> None:
    engine = FakeEngine(script)
    result = await solve(layers({"type": "generator", "samples": 3}, {"type": "critic"}, {"type": "fuser"}), engine)
    assert result.answer == "4"
    assert result.strategy == "pipeline" and result.stop_reason == "done"
    assert [entry["action"] for entry in result.trace] == ["layer"] * 3
    assert [c.index for c in result.candidates] == [0, 1, 2, 6]  # drafts 0-2, critiques 3-5, the fusion 6
    assert result.trace[2]["candidates"] == [6]
    assert result.params["budget"] == 7  # the pipeline's own need: 3 + 3 + 1


async def test_fuser_sees_every_candidate_and_its_critique() -> None:
    engine = FakeEngine(script)
    await solve(layers({"type": "generator", "samples": 3}, {"type": "critic"}, {"type": "fuser"}), engine)
    [fuse] = [r for r in engine.requests if FUSE_MARK in prompt_text(r)]
    prompt = fuse.messages[-1].content  # type: ignore[index]
    for identity in range(3):
        assert f"[{identity + 1}] Draft {identity}. The answer is {identity}." in prompt
        assert f"Critique of [{identity + 1}]: critique number {identity + 3}" in prompt
    assert fuse.messages[0].role == "system"  # the run's system prompt (answer format) stays


async def test_critic_critiques_each_candidate_in_one_engine_call() -> None:
    engine = FakeEngine(script)
    result = await solve(layers({"type": "generator", "samples": 2}, {"type": "critic"}), engine)
    critic = result.trace[1]["components"][0]
    assert critic["critiqued"] == [0, 1] and critic["critiques"] == ["critique number 2", "critique number 3"]
    assert critic["usage"]["engine_calls"] == 1 and critic["generations"] == 2
    assert result.trace[1]["candidates"] == [0, 1]  # a critic passes its candidates on


async def test_ranker_by_model_keeps_top_k_in_rank_order() -> None:
    result = await solve(layers({"type": "generator", "samples": 3}, {"type": "ranker", "top_k": 2}))
    ranker = result.trace[1]["components"][0]
    assert ranker["ranking"] == "[3] > [1] > [2]"
    assert ranker["kept"] == [2, 0] and result.trace[1]["candidates"] == [2, 0]
    assert result.answer == "2"  # a vote over the kept two; the tie goes to the first, the top-ranked


def test_a_ranking_reads_bracketed_numbers_when_there_are_any() -> None:
    assert read_ranking("[2] > [3] > [1]", 3) == [1, 2, 0]
    assert read_ranking("[2] is right, since 3 + 4 = 7; then [1]", 3) == [1, 0, 2]
    assert read_ranking("2, then 1", 3) == [1, 0, 2]
    assert read_ranking("none of them", 2) == [0, 1]


async def test_ranker_by_scorer_keeps_top_k() -> None:
    scorer = AnswerScorer({"0": 0.2, "1": 0.9, "2": 0.5})
    result = await solve(
        layers({"type": "generator", "samples": 3}, {"type": "ranker", "top_k": 2, "by": "table"}),
        scorers={"table": scorer},
    )
    assert result.trace[1]["candidates"] == [1, 2]
    assert result.trace[1]["components"][0]["generations"] == 0
    assert result.answer == "1"  # every kept candidate is scored: the top score wins


async def test_ranker_with_few_candidates_spends_nothing() -> None:
    engine = FakeEngine(script)
    result = await solve(layers({"type": "generator", "samples": 2}, {"type": "ranker", "top_k": 2}), engine)
    assert result.trace[1]["components"][0]["ranked"] is False
    assert not any(RANK_MARK in prompt_text(r) for r in engine.requests)


async def test_verifier_drops_failures() -> None:
    scorer = AnswerScorer({"1": 1.0, "3": 1.0})
    result = await solve(
        layers({"type": "generator", "samples": 4}, {"type": "verifier", "scorer": "table", "threshold": 0.5}),
        scorers={"table": scorer},
    )
    verifier = result.trace[1]["components"][0]
    assert verifier["dropped"] == [0, 2] and result.trace[1]["candidates"] == [1, 3]
    assert result.answer == "1"
    assert [c.score for c in result.candidates] == [0.0, 1.0, 0.0, 1.0]  # all candidates with their scores


async def test_verifier_rejecting_everything_abstains() -> None:
    result = await solve(
        layers({"type": "generator", "samples": 2}, {"type": "verifier", "scorer": "table"}),
        scorers={"table": AnswerScorer({})},
    )
    assert result.answer is None and result.votes == {}
    assert len(result.candidates) == 2  # still reported


CODE_GOOD = "```python\ndef add(a, b):\n    return a + b\n```"
CODE_WRONG = "```python\ndef add(a, b):\n    return a - b\n```"
CODE_EXITS = "```python\nimport sys\ndef add(a, b):\n    return a + b\nsys.exit(0)\n```"
TESTS = "assert add(1, 2) == 3\nassert add(0, 0) == 0\nassert add(-1, 1) == 0\nassert add(2, 2) == 4"


def code_script(request: GenerationRequest, index: int) -> str:
    if TEST_MARK in prompt_text(request):
        return f"Here are tests:\n```python\n{TESTS}\n```"
    return [CODE_WRONG, CODE_GOOD, CODE_EXITS][(request.first_index + index) % 3]


async def test_generated_unit_tests_really_run_in_the_sandbox() -> None:
    pipeline = layers(
        [{"type": "generator", "samples": 3}, {"type": "test_generator"}], {"type": "test_evaluator", "threshold": 0.5}
    )
    result = await solve(pipeline, FakeEngine(code_script), task="code")
    generator_layer, evaluator_layer = result.trace
    assert generator_layer["components"][1]["tests"] == TESTS.splitlines()
    evaluator = evaluator_layer["components"][0]
    # a - b passes only add(0, 0); the one that calls sys.exit(0) stops before the tests finish
    assert evaluator["passed"] == [1, 4, 0] and evaluator["dropped"] == [0, 2]
    [kept] = [c for c in result.candidates if c.index == 1]
    assert kept.score == 1.0 and kept.evidence == "4/4 tests passed (ok)"
    exits = next(c for c in result.candidates if c.index == 2)
    assert "before the tests finished" in (exits.evidence or "")
    assert result.answer is not None and "return a + b" in result.answer


async def test_several_samples_of_one_prompt_are_drawn_warm_one_is_greedy() -> None:
    pipeline = layers(
        [{"type": "generator", "samples": 2}, {"type": "test_generator", "samples": 2}],
        [{"type": "fuser"}, {"type": "fuser", "samples": 2}],
    )
    result = await solve(pipeline, FakeEngine(code_script), task="code")
    assert result.trace[0]["components"][1]["temperature"] == 0.8  # at 0 both would write the same tests
    assert [c["temperature"] for c in result.trace[1]["components"]] == [0.0, 0.8]
    pinned = await solve(pipeline, FakeEngine(code_script), task="code", temperature=0.3)
    assert [c["temperature"] for c in pinned.trace[1]["components"]] == [0.3, 0.3]  # the run's wins


async def test_evaluator_without_tests_passes_candidates_on() -> None:
    def no_tests(request: GenerationRequest, index: int) -> str:
        return "I cannot write tests." if TEST_MARK in prompt_text(request) else CODE_GOOD

    pipeline = layers([{"type": "generator", "samples": 2}, {"type": "test_generator"}], {"type": "test_evaluator"})
    result = await solve(pipeline, FakeEngine(no_tests), task="code")
    assert result.trace[1]["components"][0]["tests"] == 0
    assert result.trace[1]["candidates"] == [0, 1]


async def test_strategy_as_a_component() -> None:
    def majority(request: GenerationRequest, index: int) -> str:
        return ["The answer is 7.", "The answer is 7.", "The answer is 9."][index % 3]

    pipeline = layers(
        [{"type": "strategy", "name": "self-consistency", "budget": 3}, {"type": "generator", "samples": 1}]
    )
    engine = FakeEngine(majority)
    result = await solve(pipeline, engine)
    component = result.trace[0]["components"][0]
    assert component["strategy"] == "self-consistency" and component["answer"] == "7"
    assert component["generations"] == 3 and component["trace"][0]["action"] == "sample"
    assert result.trace[0]["candidates"] == [0, 3]  # the strategy's answer (renumbered), then the generator's
    assert result.params["budget"] == 4
    seeds = {r.seed for r in engine.requests}
    assert len(seeds) == 2  # the nested strategy samples with its own derived seed


async def test_a_strategy_component_stops_on_the_runs_token_budget_with_its_best_answer() -> None:
    engine = FakeEngine(script)
    pipeline = layers({"type": "strategy", "name": "revise", "budget": 7}, {"type": "fuser"})
    result = await solve(pipeline, engine, token_budget=8)
    component = result.trace[0]["components"][0]
    assert component["stop_reason"] == "tokens"  # revise's own checkpoint, not the whole layer lost
    assert [step["action"] for step in component["trace"]] == ["draft", "revise"]
    assert component["generations"] == 3 and len(engine.requests) == 3  # of 7 it could have spent
    assert result.stop_reason == "tokens" and len(result.trace) == 1  # the fuser never ran
    assert result.answer == component["answer"] == "2"


async def test_a_sub_context_meters_itself_and_its_remote_prms_count_in_the_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class RemotePRM:
        """A PRM that counts its own (remote) usage and holds a connection."""

        usage = Usage(scorer_calls=1, scorer_tokens=5)
        closed = False

        async def score_steps(self, question: str, steps: Sequence[Sequence[str]]) -> list[list[float]]:
            return [[1.0] * len(s) for s in steps]

        async def aclose(self) -> None:
            self.closed = True

    monkeypatch.setattr("ponder.context.scorers.make_prm", lambda spec, engine: RemotePRM())
    ctx = StepContext(QUESTION, FakeEngine(script), SolveSettings(), get_task("math"), Budget(4, tokens=100))
    await ctx.sample(1, temperature=0.0)
    used = ctx.engine.usage.completion_tokens
    sub = ctx.child(2)
    assert (sub.budget.generations, sub.budget.tokens) == (2, 100 - used)
    await sub.sample(2, temperature=0.0)
    prm = sub.prm("remote")
    await sub.aclose()  # as a strategy run closes its own context
    assert prm.closed and sub.ledger.spent == 2 and ctx.ledger.spent == 3  # charged to the run as they are spent
    assert (sub.usage().engine_calls, ctx.usage().engine_calls) == (1, 2)
    assert sub.usage().scorer_tokens == ctx.usage().scorer_tokens == 5  # still counted after closing


async def test_strategy_component_can_keep_all_candidates() -> None:
    pipeline = layers({"type": "strategy", "name": "self-consistency", "budget": 3, "keep": "all"})
    result = await solve(pipeline)
    assert result.trace[0]["candidates"] == [0, 1, 2]


async def test_seeds_and_identities_differ_between_concurrent_generators() -> None:
    engine = FakeEngine(script)
    pipeline = layers([{"type": "generator", "samples": 2}, {"type": "generator", "samples": 2, "temperature": 1.0}])
    result = await solve(pipeline, engine)
    assert result.trace[0]["candidates"] == [0, 1, 2, 3]
    assert sorted(r.first_index for r in engine.requests) == [0, 2]


# -- concurrency -----------------------------------------------------------------------------


async def test_components_in_a_layer_run_concurrently() -> None:
    engine = SlowEngine(script, delay=0.1)
    pipeline = layers([{"type": "generator"}, {"type": "generator"}, {"type": "generator"}])
    result = await solve(pipeline, engine)
    assert engine.most_in_flight == 3
    component_seconds = [c["usage"]["wall_seconds"] for c in result.trace[0]["components"]]
    assert all(s >= 0.09 for s in component_seconds)
    assert result.usage.wall_seconds < sum(component_seconds)  # they overlapped


async def test_layers_run_one_after_another() -> None:
    engine = SlowEngine(script, delay=0.02)
    await solve(layers({"type": "generator", "samples": 2}, {"type": "critic"}, {"type": "fuser"}), engine)
    assert engine.most_in_flight == 1


# -- budgets ---------------------------------------------------------------------------------


async def test_too_few_generations_skips_what_cannot_run() -> None:
    pipeline = layers({"type": "generator", "samples": 3}, {"type": "critic"}, {"type": "fuser"})
    result = await solve(pipeline, budget=4)
    critic = result.trace[1]["components"][0]
    assert critic["critiqued"] == [0]  # one generation left for three candidates
    fuser = result.trace[2]["components"][0]
    assert fuser["skipped"] == "needs 1 generations, none left" and fuser["generations"] == 0
    assert result.trace[2]["candidates"] == [0, 1, 2]  # the drafts pass on: the best so far answers
    assert result.answer == "0" and result.stop_reason == "done"
    assert len(result.candidates) == 3


async def test_token_budget_stops_after_a_layer_with_its_best_candidate() -> None:
    scorer = AnswerScorer({"1": 0.9})
    pipeline = layers(
        {"type": "generator", "samples": 3}, {"type": "ranker", "by": "table"}, {"type": "critic"}, {"type": "fuser"}
    )
    result = await solve(pipeline, token_budget=10, scorers={"table": scorer})
    assert result.stop_reason == "tokens"
    assert [entry["layer"] for entry in result.trace] == [1]
    assert result.answer == "0"  # a vote over the drafts: the ranking never ran
    result = await solve(pipeline, token_budget=19, scorers={"table": scorer})  # drafts 18, critique 3
    assert result.stop_reason == "tokens" and len(result.trace) == 3
    assert result.answer == "1"  # the ranker's choice survives the critique layer


async def test_time_budget_keeps_the_last_finished_layer() -> None:
    engine = SlowEngine(script, delay=0.3)
    pipeline = layers({"type": "generator", "samples": 2}, {"type": "critic"}, {"type": "fuser"})
    result = await solve(pipeline, engine, time_budget=0.45)
    assert result.stop_reason == "seconds"
    assert len(result.trace) == 1 and result.answer == "0"
    assert {c.index for c in result.candidates} == {0, 1}


# -- usage and trace -------------------------------------------------------------------------


async def test_usage_per_component_adds_up_to_the_runs() -> None:
    pipeline = layers(
        [{"type": "generator", "samples": 2}, {"type": "generator", "samples": 1}],
        {"type": "critic"},
        {"type": "ranker", "top_k": 2},
        {"type": "fuser"},
        {"type": "verifier", "scorer": "self-eval", "threshold": 0.0},
    )
    result = await solve(pipeline)
    components = [c for entry in result.trace for c in entry["components"]]
    assert [c["type"] for c in components] == ["generator", "generator", "critic", "ranker", "fuser", "verifier"]
    per = total([Usage(**{k: v for k, v in c["usage"].items() if k != "wall_seconds"}) for c in components])
    run = result.usage
    assert (per.prompt_tokens, per.completion_tokens, per.engine_calls) == (
        run.prompt_tokens,
        run.completion_tokens,
        run.engine_calls,
    )
    assert per.scorer_calls == run.scorer_calls == 1 and per.scorer_tokens == run.scorer_tokens > 0
    verifier = components[-1]
    assert verifier["usage"]["scorer_calls"] == 1 and verifier["usage"]["engine_calls"] == 0
    assert sum(c["generations"] for c in components) == 2 + 1 + 3 + 1 + 1


def test_cli_solves_with_a_pipeline(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "gf.yaml"
    path.write_text("layers:\n  - type: generator\n    samples: 2\n  - type: fuser\n", encoding="utf-8")
    monkeypatch.setattr("ponder.api.create_engine", lambda name, **options: FakeEngine(script))
    result = CliRunner().invoke(cli, ["solve", QUESTION, "--pipeline", str(path)])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == "answer:  4"
    assert "with pipeline" in result.stdout


async def test_the_pipeline_strategy_by_name_runs_the_default_pipeline() -> None:
    result = await ponder.asolve(QUESTION, engine=FakeEngine(script), strategy="pipeline")
    assert [entry["name"] for entry in result.trace] == ["generator", "critic", "fuser"]
    assert result.answer == "4" and result.trace[0]["pipeline"] == "generate-critique-fuse"


async def test_a_failing_component_fails_the_run_with_its_own_error() -> None:
    engine = SlowEngine(script, delay=0.2)
    pipeline = layers(
        [{"type": "generator"}, {"type": "generator", "samples": 2}], {"type": "verifier", "scorer": "probability"}
    )  # needs logprobs the generators did not keep
    with pytest.raises(InvalidInputError, match="needs candidates sampled with logprobs"):
        await solve(pipeline, engine)
    fixed = layers([{"type": "generator", "logprobs": True}], {"type": "verifier", "scorer": "probability"})
    assert (await solve(fixed)).trace[1]["components"][0]["scorer"] == "probability"
