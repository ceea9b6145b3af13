"""The chosen configuration's file round-trips: ``ponder solve --pipeline`` and ``ponder serve --pipeline``
run it as it is (scripted engines, no model)."""

from __future__ import annotations

import json
from pathlib import Path

import openai
import pytest
from click.testing import CliRunner
from tests.support.app_server import AppServer
from tests.support.tune_toy import right_at, write_toy

import ponder
from ponder.cli.main import cli
from ponder.core.errors import InvalidInputError
from ponder.core.params import NoParams
from ponder.engines import FakeEngine, registry
from ponder.engines.plugin import EnginePlugin
from ponder.pipelines.source import read_config
from ponder.serve import ServeConfig, create_app
from ponder.tune import atune
from ponder.tune.output import write_config

SPACE = {
    "architectures": [
        {"name": "sc", "strategy": "self-consistency", "params": {"budget": [1, 3], "temperature": [0.2, 0.7]}}
    ]
}
QUESTION = "What is 21 plus 21?"


@pytest.fixture
def chosen(tmp_path: Path) -> Path:
    """The config file a tune run writes, on a space whose only good temperature is 0.7."""
    outcome = ponder.tune(
        str(write_toy(tmp_path / "toy.jsonl")),
        space=SPACE,
        trials=6,
        db=tmp_path / "b.db",
        out=tmp_path / "out",
        engine=FakeEngine(right_at(temperature=0.7)),
        progress=False,
    )
    assert outcome.config_path is not None and outcome.chosen is not None
    assert outcome.chosen.params["temperature"] == 0.7
    return Path(outcome.config_path)


def test_the_file_says_what_it_is_and_how_to_use_it(chosen: Path) -> None:
    text = chosen.read_text(encoding="utf-8")
    assert text.startswith("# ponder tune: the configuration chosen for ")
    assert f'ponder solve "QUESTION" --pipeline {chosen}' in text and f"ponder serve --pipeline {chosen}" in text
    assert "Thresholdout" in text and "test 100.0%" in text


async def test_the_chosen_file_runs_with_solve(chosen: Path) -> None:
    engine = FakeEngine(right_at(temperature=0.7))
    result = await ponder.asolve(QUESTION, engine=engine, pipeline=chosen)
    assert result.answer == "42" and result.strategy == "pipeline"
    assert {r.temperature for r in engine.requests} == {0.7}


def test_the_chosen_file_runs_with_the_cli(chosen: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    plugin = EnginePlugin(
        name="scripted",
        summary="test",
        Options=NoParams,
        factory=lambda options: FakeEngine(right_at(temperature=0.7)),
        spec_option=None,
    )
    monkeypatch.setitem(registry.BUILTIN, "scripted", plugin)
    result = CliRunner().invoke(cli, ["solve", QUESTION, "--pipeline", str(chosen), "--engine", "scripted", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["answer"] == "42"


def test_the_chosen_file_runs_with_serve(chosen: Path) -> None:
    engine = FakeEngine(right_at(temperature=0.7))
    config = ServeConfig(default_pipeline=read_config(chosen)[0])
    with AppServer(create_app(engine, config)) as server:
        client = openai.OpenAI(base_url=server.url + "/v1", api_key="none", max_retries=0)
        response = client.chat.completions.create(
            model="ponder", messages=[{"role": "user", "content": QUESTION}], extra_body={"ponder": {"summary": True}}
        )
        assert (
            response.choices[0].message.content is not None
            and "The answer is 42" in response.choices[0].message.content
        )
        [summary] = response.model_extra["ponder"]  # type: ignore[index]
        assert summary["strategy"] == "pipeline"
        assert {r.temperature for r in engine.requests} == {0.7}  # the chosen configuration's, not the server's default
        named = client.chat.completions.create(
            model="ponder",
            messages=[{"role": "user", "content": QUESTION}],
            extra_body={"ponder": {"strategy": "greedy"}},
        )
        assert named.choices[0].message.content is not None  # a request that names a strategy runs it
        assert engine.requests[-1].temperature == 0.0
        with pytest.raises(openai.BadRequestError, match=r"ponder\.batch: unknown key"):
            client.chat.completions.create(
                model="ponder", messages=[{"role": "user", "content": QUESTION}], extra_body={"ponder": {"batch": 2}}
            )


def test_serve_validates_the_operators_pipeline() -> None:
    with pytest.raises(InvalidInputError, match="over max_budget 4"):
        ServeConfig(default_budget=2, max_budget=4, default_pipeline={"layers": [{"type": "generator", "samples": 8}]})
    with pytest.raises(InvalidInputError, match="names model 'judge'"):
        ServeConfig(default_pipeline={"layers": [{"type": "generator", "model": "judge"}]})


def test_ponder_serve_refuses_a_bad_pipeline_file_in_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("layers:\n  - type: generator\n    samples: four\n")
    result = CliRunner().invoke(cli, ["serve", "--pipeline", str(bad), "--port", "0"])
    assert result.exit_code == 1
    assert result.stderr.strip() == f"error: {bad}:3: layers[0].samples: expected an integer, got a string 'four'"


def test_a_config_that_would_not_load_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="unknown component type"):
        write_config({"layers": [{"type": "nope"}]}, tmp_path / "x.yaml")
    assert not (tmp_path / "x.yaml").exists()  # no file that would not load is left behind


async def test_atune_runs_in_an_event_loop(tmp_path: Path) -> None:
    outcome = await atune(
        str(write_toy(tmp_path / "toy.jsonl", 10)),
        space={"architectures": [{"strategy": "greedy"}]},
        trials=1,
        db=tmp_path / "b.db",
        out=tmp_path / "out",
        engine=FakeEngine(right_at()),
        progress=False,
    )
    assert outcome.chosen is not None and outcome.chosen.label == "greedy"
