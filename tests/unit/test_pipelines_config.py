"""Pipeline configs: YAML and JSON are validated into typed layers, and every error names its line."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

import ponder
from ponder.cli.main import cli
from ponder.core.errors import InvalidInputError
from ponder.pipelines import Pipeline
from ponder.pipelines.components import Critic, Fuser, Generator
from ponder.registry import get_strategy, load_pipeline
from ponder.scorers import SCORERS

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "pipelines"


def write(tmp_path: Path, text: str, name: str = "pipe.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def error_of(path: Path | dict, **options: object) -> str:
    with pytest.raises(InvalidInputError) as caught:
        load_pipeline(path, **options)  # type: ignore[arg-type]
    return str(caught.value)


def test_a_valid_config_becomes_typed_layers(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        name: gcf
        layers:
          - type: generator
            samples: 3
            temperature: 1
          - type: critic
          - name: fuse
            components:
              - type: fuser
                samples: 2
        """,
    )
    config = load_pipeline(path)
    assert config.name == "gcf"
    assert [layer.name for layer in config.layers] == ["generator", "critic", "fuse"]
    generator, critic, fuser = (layer.components[0] for layer in config.layers)
    assert isinstance(generator, Generator) and generator.params.samples == 3
    assert generator.params.temperature == 1.0 and isinstance(generator.params.temperature, float)
    assert isinstance(critic, Critic) and isinstance(fuser, Fuser) and fuser.params.samples == 2
    assert config.generations() == 3 + 3 + 2


def test_wrong_type_names_line_and_key(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        layers:
          - type: generator
            samples: four
        """,
    )
    assert error_of(path) == f"{path}:3: layers[0].samples: expected an integer, got a string 'four'"


def test_unknown_key_names_its_line_and_the_valid_keys(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        layers:
          - type: generator
            samples: 2
          - - type: critic
            - type: fuser
              sample: 2
        """,
    )
    message = error_of(path)
    assert message.startswith(f"{path}:6: layers[1][1].sample: unknown key 'sample'")
    assert "samples" in message and "prompt" in message


def test_model_key_is_only_for_components_that_call_a_model(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        layers:
          - type: generator
            model: gpt-4
          - type: verifier
            model: gpt-4
        """,
    )
    message = error_of(path)
    assert message.startswith(f"{path}:5: layers[1].model: unknown key 'model'")
    assert "only components that call a model take one: generator, critic, ranker, fuser" in message


def test_unknown_component_type(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        layers:
          - type: generator
          - type: summarizer
        """,
    )
    message = error_of(path)
    assert message.startswith(f"{path}:3: layers[1].type: unknown component type 'summarizer'")
    assert "fuser" in message and "test_evaluator" in message


def test_checks_inside_a_component_point_at_the_key(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        layers:
          - type: generator
            samples: 0
        """,
    )
    assert error_of(path) == f"{path}:3: layers[0].samples: samples must be >= 1, got 0"
    path = write(
        tmp_path,
        """
        layers:
          - type: generator
          - type: critic
            prompt: "Review {solution}"
        """,
    )
    assert "layers[1].prompt" in error_of(path) and "{solution}" in error_of(path)


def test_components_that_need_candidates_must_follow_a_generator(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        layers:
          - type: critic
          - type: generator
        """,
    )
    assert error_of(path).startswith(f"{path}:2: layers[0]: a critic needs candidates from an earlier layer")
    path = write(
        tmp_path,
        """
        layers:
          - - type: generator
            - type: ranker
        """,
    )
    assert f"{path}:3: layers[0][1]: a ranker needs candidates" in error_of(path)


def test_test_evaluator_needs_a_test_generator_before_it(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        layers:
          - type: generator
          - type: test_evaluator
        """,
    )
    assert error_of(path).startswith(f"{path}:3: layers[1]: a test_evaluator needs a test_generator")


def test_strategy_components_check_name_and_options(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        layers:
          - type: strategy
            name: no-such-strategy
        """,
    )
    assert error_of(path).startswith(f"{path}:2: layers[0]: unknown strategy 'no-such-strategy'")
    path = write(
        tmp_path,
        """
        layers:
          - type: strategy
            name: self-consistency
            options: {batchez: 2}
        """,
    )
    assert "unknown option 'batchez'" in error_of(path)
    path = write(
        tmp_path,
        """
        layers:
          - type: strategy
        """,
    )
    assert error_of(path) == f"{path}:2: layers[0]: a strategy needs key 'name'"


def test_scorer_names_are_checked_against_the_runs_scorers(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        layers:
          - type: generator
          - type: verifier
            scorer: oracle
        """,
    )
    load_pipeline(path)  # unchecked without the run's names
    message = error_of(path, scorers=set(SCORERS))
    assert message.startswith(f"{path}:4: layers[1].scorer: unknown scorer 'oracle'; available:")
    assert load_pipeline(path, scorers={*SCORERS, "oracle"}).layers[1].components[0].params.scorer == "oracle"


def test_yaml_syntax_errors_name_the_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        layers:
          - type: generator
            samples: [1, 2
        """,
    )
    assert error_of(path).startswith(f"{path}:4: invalid YAML")


def test_duplicate_keys_are_refused(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        layers:
          - type: generator
            samples: 2
            samples: 3
        """,
    )
    assert error_of(path) == f"{path}:4: layers[0].samples: duplicate key"


def test_json_configs_get_lines_too(tmp_path: Path) -> None:
    good = {"layers": [{"type": "generator", "samples": 2}, {"type": "fuser"}]}
    assert load_pipeline(write(tmp_path, json.dumps(good), "pipe.json")).generations() == 3
    path = write(tmp_path, '{\n  "layers": [\n    {"type": "generator",\n     "samples": 2.5}\n  ]\n}\n', "pipe.json")
    assert error_of(path) == f"{path}:4: layers[0].samples: expected an integer, got a number 2.5"
    broken = write(tmp_path, '{\n  "layers": [\n    {"type": "generator",}\n  ]\n}\n', "broken.json")
    assert error_of(broken).startswith(f"{broken}:3: invalid JSON")


def test_top_level_problems(tmp_path: Path) -> None:
    assert (
        error_of(write(tmp_path, "name: x\n"))
        == f"{tmp_path / 'pipe.yaml'}:1: missing key 'layers' (a list of layers of components)"
    )
    assert "layers: expected a non-empty list" in error_of(write(tmp_path, "layers: []\n"))
    assert "unknown key 'layer'" in error_of(write(tmp_path, "layer: []\n"))
    assert "must be a mapping" in error_of(write(tmp_path, "- 1\n"))
    assert "a layer needs at least one component" in error_of(write(tmp_path, "layers:\n  - []\n"))
    assert "cannot read pipeline config" in error_of(tmp_path / "absent.yaml")
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("layers:\n  - type: generator  # café\n".encode("latin-1"))
    assert "not UTF-8 text" in error_of(latin)


def test_dict_configs_name_the_path() -> None:
    message = error_of({"layers": [{"type": "generator", "temperature": "hot"}]})  # type: ignore[arg-type]
    assert message == "pipeline: layers[0].temperature: expected a number, got a string 'hot'"


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_examples_load(path: Path) -> None:
    config = load_pipeline(path, scorers=set(SCORERS))
    assert config.layers and config.generations() >= 1
    assert ponder.plan("What is 2 + 2?", pipeline=path).budget.generations == config.generations()


def test_plan_and_registry_accept_pipelines(tmp_path: Path) -> None:
    path = write(tmp_path, "layers:\n  - type: generator\n    samples: 3\n")
    planned = ponder.plan("What is 2 + 2?", pipeline=str(path), budget=2)
    assert isinstance(planned.algorithm, Pipeline) and planned.budget.generations == 2
    by_name = get_strategy("pipeline")  # by name: the built-in default; no option reads a file
    assert isinstance(by_name, Pipeline) and by_name.config.name == "generate-critique-fuse"
    with pytest.raises(InvalidInputError, match="unknown option 'file'"):
        get_strategy("pipeline", {"file": str(path)})
    with pytest.raises(InvalidInputError, match="a pipeline's come from its config"):
        ponder.plan("What is 2 + 2?", pipeline=str(path), options={"batch": 2})


def test_cli_reports_config_errors_in_one_line(tmp_path: Path) -> None:
    path = write(tmp_path, "layers:\n  - type: generator\n    samples: many\n")
    result = CliRunner().invoke(cli, ["solve", "What is 2+2?", "--pipeline", str(path)])
    assert result.exit_code != 0 and result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        f"error: {path}:3: layers[0].samples: expected an integer, got a string 'many'"
    ]
