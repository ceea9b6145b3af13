"""Per-component models in pipelines: engines passed by name, engine specs the run creates and
closes, usage counted once, and clear errors for unknown names and bad specs."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from tests.support.stub_server import StubServer

import ponder
from ponder.answers import get_task
from ponder.cli.main import cli
from ponder.context import StepContext
from ponder.core.budget import Budget
from ponder.core.errors import InvalidInputError
from ponder.core.settings import SolveSettings
from ponder.core.usage import Usage, total
from ponder.engines import FakeEngine, GenerationRequest
from ponder.engines.fake import prompt_text
from ponder.engines.named import NamedEngines, parse_engine_spec
from ponder.registry import load_pipeline

QUESTION = "What is 2 + 2?"


def main_script(request: GenerationRequest, index: int) -> str:
    prompt = prompt_text(request)
    if "Check the solution" in prompt:
        return "main critique"
    if "several proposed solutions" in prompt:
        return "Fused: The answer is 4."
    return f"Main draft {request.first_index + index}. The answer is 4."


def other_script(request: GenerationRequest, index: int) -> str:
    prompt = prompt_text(request)
    if "Check the solution" in prompt:
        return f"other critique of sample {request.first_index + index}"
    if "Rank the solutions" in prompt:
        return "[2] > [1]"
    return f"Other draft {request.first_index + index} with more words. The answer is 7."


class ClosingFake(FakeEngine):
    """A fake that counts how often it was closed."""

    def __init__(self, script: Any) -> None:
        super().__init__(script)
        self.closed = 0

    async def aclose(self) -> None:
        self.closed += 1


def layers(*items: Any) -> dict[str, Any]:
    return {"layers": list(items)}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pipe.yaml"
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def components(result: ponder.SolveResult) -> list[dict[str, Any]]:
    return [c for entry in result.trace for c in entry["components"]]


def plain(usage: dict[str, Any]) -> Usage:
    return Usage(**{k: v for k, v in usage.items() if k != "wall_seconds"})


# -- engines passed by name ------------------------------------------------------------------


async def test_a_generator_draws_from_the_engine_its_model_names_and_usage_counts_once() -> None:
    main, other = ClosingFake(main_script), ClosingFake(other_script)
    pipeline = layers(
        [{"type": "generator", "samples": 2}, {"type": "generator", "samples": 3, "model": "other"}], {"type": "fuser"}
    )
    result = await ponder.asolve(QUESTION, engine=main, engines={"other": other}, pipeline=pipeline)
    assert len(other.requests) == 1 and other.requests[0].n == 3 and other.requests[0].first_index == 2
    assert len(main.requests) == 2  # the first generator and the fuser
    drafts = {c.index: c.text for c in result.candidates}
    assert all(drafts[i].startswith("Other draft") for i in (2, 3, 4))
    assert all(drafts[i].startswith("Main draft") for i in (0, 1))
    run = result.usage
    assert run.engine_calls == 3  # once each, however the meters nest
    assert run.completion_tokens == sum(c.completion_tokens for c in result.candidates)
    per = total([plain(c["usage"]) for c in components(result)])
    assert (per.prompt_tokens, per.completion_tokens, per.engine_calls) == (
        run.prompt_tokens,
        run.completion_tokens,
        run.engine_calls,
    )
    first, second, fuser = components(result)
    assert second["model"] == "other" and "model" not in first and "model" not in fuser
    assert second["usage"]["engine_calls"] == 1
    assert second["usage"]["completion_tokens"] == sum(result.candidates[i].completion_tokens for i in (2, 3, 4))
    assert other.closed == 0 and main.closed == 0  # the caller's engines stay open


async def test_a_critic_on_another_engine_feeds_the_fuser() -> None:
    main, judge = FakeEngine(main_script), FakeEngine(other_script)
    pipeline = layers({"type": "generator", "samples": 2}, {"type": "critic", "model": "judge"}, {"type": "fuser"})
    result = await ponder.asolve(QUESTION, engine=main, engines={"judge": judge}, pipeline=pipeline)
    assert len(judge.requests) == 2 and all("Check the solution" in prompt_text(r) for r in judge.requests)
    assert not any("Check the solution" in prompt_text(r) for r in main.requests)
    fuse_prompt = prompt_text(main.requests[-1])
    assert "other critique of sample 2" in fuse_prompt and "other critique of sample 3" in fuse_prompt
    assert result.answer == "4" and result.usage.engine_calls == 3


async def test_a_ranker_and_a_strategy_on_another_engine() -> None:
    main, other = FakeEngine(main_script), FakeEngine(other_script)
    pipeline = layers(
        [{"type": "generator"}, {"type": "strategy", "name": "self-consistency", "budget": 2, "model": "other"}],
        {"type": "ranker", "top_k": 1, "by": "model", "model": "other"},
    )
    result = await ponder.asolve(QUESTION, engine=main, engines={"other": other}, pipeline=pipeline)
    assert len(main.requests) == 1 and len(other.requests) == 2
    assert result.answer == "7"  # the ranking "[2] > [1]" keeps the strategy's candidate
    assert result.usage.engine_calls == 3


async def test_the_runs_own_engine_passed_by_name_is_not_counted_twice() -> None:
    main = FakeEngine(main_script)
    result = await ponder.asolve(
        QUESTION,
        engine=main,
        engines={"same": main},
        pipeline=layers({"type": "generator", "samples": 2, "model": "same"}),
    )
    assert result.usage.engine_calls == 1
    assert result.usage.completion_tokens == sum(c.completion_tokens for c in result.candidates)


async def test_a_sub_context_on_another_engine_counts_in_the_parents_usage_and_token_budget() -> None:
    main, other = FakeEngine(main_script), FakeEngine(other_script)
    ctx = StepContext(QUESTION, main, SolveSettings(), get_task("math"), Budget(8, tokens=20))
    await ctx.sample(1, temperature=0.0)
    sub = ctx.child(3, engine=other)
    # a strategy inside the component, on the component's engine: charges the component's
    # ledger, which charges the run's
    nested = sub.child(1)
    await nested.sample(1, temperature=0.0)
    own = ctx.engine.usage.completion_tokens
    assert sub.usage().engine_calls == 1 and ctx.usage().engine_calls == 2
    assert ctx.usage().completion_tokens == own + sub.usage().completion_tokens
    assert ctx.ledger.limit_reached() is None
    await sub.sample(2, temperature=0.0)
    assert ctx.usage().engine_calls == 3 and ctx.ledger.limit_reached() == "tokens"  # the other engine's tokens count
    assert len(other.requests) == 2 and len(main.requests) == 1


# -- errors ----------------------------------------------------------------------------------


async def test_an_unknown_model_name_fails_before_anything_runs(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        layers:
          - type: generator
          - type: critic
            model: judge
        """,
    )
    main = FakeEngine(main_script)
    with pytest.raises(InvalidInputError) as caught:
        await ponder.asolve(QUESTION, engine=main, pipeline=path)
    message = str(caught.value)
    assert message.startswith(f"{path}:4: layers[1].model: pipeline layer 2 (critic) names model 'judge', but ")
    assert "engines={'judge': ...}" in message and "openai:BASE_URL" in message and "llama:MODEL" in message
    assert main.requests == []
    with pytest.raises(InvalidInputError, match="names model 'judge'"):
        ponder.plan(QUESTION, pipeline=path, engines={"jury": main})
    load_pipeline(path)  # without the run's engines, a name cannot be checked yet


async def test_a_name_that_reaches_the_run_unchecked_is_still_a_clear_error() -> None:
    ctx = StepContext(QUESTION, FakeEngine(main_script), SolveSettings(), get_task("math"), Budget(2))
    with pytest.raises(InvalidInputError, match="no engine named 'judge' was passed"):
        ctx.named_engine("judge")


@pytest.mark.parametrize(
    ("model", "problem"),
    [
        ("ftp:x", "model 'ftp:x' is not an engine spec: use llama:MODEL, openai:BASE_URL[#MODEL] or vllm:MODEL"),
        ("llama:m.gguf?n_ctx=big", "model 'llama:m.gguf?n_ctx=big': option n_ctx='big': expected int"),
        (
            "llama:m.gguf?base_url=x",
            "model 'llama:m.gguf?base_url=x': engine 'llama' has no option 'base_url'; its options: model, n_ctx",
        ),
        ("openai:localhost:8000", "model 'openai:localhost:8000' needs a base URL starting with http://"),
        ("llama:", "model 'llama:' needs a model after llama:"),
        ("", "model must not be empty"),
    ],
)
def test_a_bad_spec_is_a_config_error_naming_the_line(tmp_path: Path, model: str, problem: str) -> None:
    path = write(
        tmp_path,
        f"""
        layers:
          - type: generator
          - - type: fuser
              model: "{model}"
        """,
    )
    with pytest.raises(InvalidInputError) as caught:
        load_pipeline(path)
    assert str(caught.value).startswith(f"{path}:4: layers[1][0].model: {problem}")


def test_a_ranker_by_scorer_takes_no_model(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        layers:
          - type: generator
          - type: ranker
            by: self-eval
            model: judge
        """,
    )
    with pytest.raises(InvalidInputError, match=r":5: layers\[1\]\.model: model applies to by: model"):
        load_pipeline(path)


def test_plan_checks_the_engines_it_is_given() -> None:
    engine = FakeEngine(main_script)
    pipeline = layers({"type": "generator", "model": "judge"})
    with pytest.raises(InvalidInputError, match="pass them with `pipeline=`"):
        ponder.plan(QUESTION, engines={"judge": engine})
    with pytest.raises(InvalidInputError, match="names with ':' are engine specs"):
        ponder.plan(QUESTION, pipeline=pipeline, engines={"openai:x": engine})
    with pytest.raises(InvalidInputError, match=r"engines\['judge'\] is not an engine"):
        ponder.plan(QUESTION, pipeline=pipeline, engines={"judge": "openai:http://x"})  # type: ignore[dict-item]
    assert ponder.plan(QUESTION, pipeline=pipeline, engines={"judge": engine}).engines == {"judge": engine}


# -- engine specs the run creates ------------------------------------------------------------


async def test_an_openai_spec_engine_is_created_used_and_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    import ponder.engines.named as named

    created: list[Any] = []
    real = named.create_engine

    def spy(name: str, **options: Any) -> Any:
        engine = real(name, **options)
        closing = engine.aclose

        async def aclose() -> None:
            engine.closed = True
            await closing()

        engine.closed, engine.aclose = False, aclose
        created.append((name, options, engine))
        return engine

    monkeypatch.setattr(named, "create_engine", spy)
    main = FakeEngine(main_script)
    with StubServer(owned_by="vllm") as server:
        spec = f"openai:{server.url}/v1#stub-model"
        pipeline = layers(
            {"type": "generator", "samples": 2, "model": spec}, {"type": "critic", "model": spec}, {"type": "fuser"}
        )
        result = await ponder.asolve(QUESTION, engine=main, pipeline=pipeline)
        posts = server.posts()
    [(name, options, engine)] = created  # one engine for both components
    assert name == "openai" and options == {"base_url": f"{server.url}/v1", "model": "stub-model"}
    assert engine.closed and engine._transport is None
    assert len(posts) == 3 and all(body["model"] == "stub-model" for _, _, body, _ in posts)
    assert posts[0][2]["n"] == 2  # the drafts; then one critique request per draft
    assert all("Check the solution" in body["messages"][-1]["content"] for _, _, body, _ in posts[1:])
    assert len(main.requests) == 1  # the fuser
    generator, critic, _ = components(result)
    assert generator["model"] == spec and generator["usage"]["completion_tokens"] == 14  # the stub's 7 per sample
    assert critic["usage"]["prompt_tokens"] == 20
    assert result.usage.engine_calls == 3
    assert result.usage.completion_tokens == 14 + 14 + result.candidates[-1].completion_tokens


async def test_a_llama_spec_is_created_lazily_once_and_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[tuple[str, dict[str, Any], ClosingFake]] = []

    def fake_create(name: str, **options: Any) -> ClosingFake:
        engine = ClosingFake(other_script)
        made.append((name, options, engine))
        return engine

    monkeypatch.setattr("ponder.engines.named.create_engine", fake_create)
    run = ponder.start(
        QUESTION,
        FakeEngine(main_script),
        pipeline=layers(
            {"type": "generator", "model": "llama:smollm2-135m"},
            {"type": "critic", "model": "llama:smollm2-135m"},
            {"type": "fuser", "model": "llama:hf:owner/repo/model.gguf"},
        ),
        budget=2,
    )
    assert made == []  # nothing is created before it is used
    result = await run.run()
    assert [(name, options) for name, options, _ in made] == [("llama", {"model": "smollm2-135m"})]
    assert made[0][2].closed == 1 and len(made[0][2].requests) == 2
    assert components(result)[-1]["skipped"]  # the fuser had no budget left: its engine was never made
    assert parse_engine_spec("llama:hf:owner/repo/model.gguf").options == {"model": "hf:owner/repo/model.gguf"}


async def test_created_engines_close_even_when_the_run_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[ClosingFake] = []

    def fake_create(name: str, **options: Any) -> ClosingFake:
        made.append(ClosingFake(other_script))
        return made[-1]

    monkeypatch.setattr("ponder.engines.named.create_engine", fake_create)
    pipeline = layers({"type": "generator", "model": "llama:x.gguf"}, {"type": "verifier", "scorer": "probability"})
    with pytest.raises(InvalidInputError, match="logprobs"):
        await ponder.asolve(QUESTION, engine=FakeEngine(main_script), pipeline=pipeline)
    assert len(made) == 1 and made[0].closed == 1


async def test_named_engines_keep_the_callers_open() -> None:
    given = ClosingFake(main_script)
    engines = NamedEngines({"mine": given})
    assert engines.get("mine") is given and engines.names() == {"mine"}
    await engines.aclose()
    assert given.closed == 0


# -- the command line ------------------------------------------------------------------------


def test_cli_pipeline_with_a_spec_and_with_an_unknown_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("ponder.api.create_engine", lambda name, **options: FakeEngine(main_script))
    with StubServer(owned_by="vllm") as server:
        path = write(
            tmp_path,
            f"""
            layers:
              - type: generator
                samples: 2
                model: openai:{server.url}
              - type: fuser
            """,
        )
        result = CliRunner().invoke(cli, ["solve", QUESTION, "--pipeline", str(path)])
        assert result.exit_code == 0, result.output
        # `ponder solve` runs are interruptible: a server's samples are drawn one stream each
        assert result.stdout.splitlines()[0] == "answer:  4" and len(server.posts()) == 2
    path = write(
        tmp_path,
        """
        layers:
          - type: generator
            model: judge
        """,
    )
    result = CliRunner().invoke(cli, ["solve", QUESTION, "--pipeline", str(path)])
    assert result.exit_code != 0 and "names model 'judge'" in result.output
    assert "Traceback" not in result.output


def test_the_built_in_pipeline_the_server_can_reach_names_no_model() -> None:
    from ponder.pipelines import Pipeline

    assert all(getattr(c.params, "model", None) is None for layer in Pipeline().config.layers for c in layer.components)
