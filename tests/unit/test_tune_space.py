"""The search space of ``ponder tune``: parsing with ``file:line`` errors, domains, and candidates
that are each one loadable pipeline config."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

import ponder
from ponder.core.errors import InvalidInputError
from ponder.engines import FakeEngine
from ponder.registry import load_pipeline
from ponder.tune.architectures import build_pipeline
from ponder.tune.space import DEFAULT_SPACE, Domain, load_space


def write(tmp_path: Path, text: str, name: str = "space.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def error_of(space: Any) -> str:
    with pytest.raises(InvalidInputError) as caught:
        load_space(space)
    return str(caught.value)


class Fixed:
    """A stand-in trial that draws each parameter's first listed value, or a range's low end."""

    def __init__(self, **chosen: Any) -> None:
        self.chosen = chosen

    def suggest_categorical(self, name: str, choices: Any) -> Any:
        return self.chosen.get(name, choices[0])

    def suggest_int(self, name: str, low: int, high: int, *, step: int = 1, log: bool = False) -> int:
        return int(self.chosen.get(name, low))

    def suggest_float(
        self, name: str, low: float, high: float, *, step: float | None = None, log: bool = False
    ) -> float:
        return float(self.chosen.get(name, low))


def test_the_default_space_parses_and_every_architecture_loads_as_a_pipeline() -> None:
    space = load_space()
    assert [a.name for a in space.architectures] == [a["name"] for a in DEFAULT_SPACE["architectures"]]
    for arch in space.architectures:
        for domain in arch.domains:
            for value in domain.corners():
                config = load_pipeline(arch.build({**arch.defaults(), domain.name: value}))
                assert config.generations() >= 1


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "architectures:\n  - strategy: no-such\n",
            "space.yaml:2: architectures[0].strategy: unknown strategy 'no-such'",
        ),
        (
            "architectures:\n  - strategy: self-consistency\n    params:\n      bogus: [1, 2]\n",
            "space.yaml:4: architectures[0].params.bogus: unknown parameter 'bogus'; valid: budget, temperature, model",
        ),
        (
            "architectures:\n  - strategy: self-consistency\n    params:\n      budget: [1, two]\n",
            "space.yaml:4: architectures[0].params.budget[1]: expected int, got a string 'two'",
        ),
        (
            "architectures:\n  - strategy: self-consistency\n    params:\n      budget: [1, 0]\n",
            "space.yaml:4: architectures[0].params.budget[1]: budget=0: budget must be >= 1, got 0",
        ),
        (
            "architectures:\n  - strategy: adaptive-self-consistency\n    params:\n"
            "      threshold: {low: 0.9, high: 0.5}\n",
            "space.yaml:4: architectures[0].params.threshold: low 0.9 is above high 0.5",
        ),
        (
            "architectures:\n  - strategy: best-of-n\n    params:\n      scorer: {low: 1, high: 2}\n",
            "space.yaml:4: architectures[0].params.scorer: a range needs a number parameter; scorer is str",
        ),
        (
            "architectures:\n  - pipeline:\n      samples: [2]\n      critic: [yes-please]\n",
            "space.yaml:4: architectures[0].pipeline.critic[0]: expected bool, got a string 'yes-please'",
        ),
        (
            "architectures:\n  - pipeline:\n      generators: [0, 1]\n",
            "space.yaml:3: architectures[0].pipeline.generators[0]: generators must be >= 1, got 0",
        ),
        (
            "architectures:\n  - pipeline:\n      fuser_model: [judge]\n",
            "space.yaml:3: architectures[0].pipeline.fuser_model[0]: model 'judge': give an engine spec",
        ),
        (
            "architectures:\n  - pipeline:\n      verifier: [no-such-scorer]\n",
            "space.yaml:3: architectures[0].pipeline.verifier[0]: verifier='no-such-scorer': unknown scorer",
        ),
        (
            "architectures:\n  - strategy: greedy\n  - strategy: greedy\n",
            "space.yaml:3: architectures[1]: architecture name 'greedy' is used twice",
        ),
        (
            "architectures:\n  - strategy: greedy\n    pipeline: {}\n",
            "space.yaml:2: architectures[0]: an architecture needs",
        ),
        ("architectures: []\n", "space.yaml:1: architectures: expected a non-empty list"),
        ("archs: []\n", "space.yaml:1: archs: unknown key 'archs'"),
        ("architectures:\n  - strategy: greedy\n   bad: [\n", "space.yaml:3: invalid YAML"),
    ],
)
def test_space_errors_name_the_file_and_line(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    assert error_of(path).startswith(expected.replace("space.yaml", str(path)))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "architectures:\n  - strategy: best-of-n\n    params:\n      budget: [2]\n      scorer: gold\n",
            "space.yaml:5: architectures[0].params.scorer: scorer='gold': 'gold' is the benchmark's oracle",
        ),
        (
            "architectures:\n  - pipeline:\n      samples: [2]\n      verifier: [self-eval, unit-tests]\n",
            "space.yaml:4: architectures[0].pipeline.verifier[1]: verifier='unit-tests': 'unit-tests' is the "
            "benchmark's oracle",
        ),
        (
            "architectures:\n  - pipeline:\n      samples: [2]\n      ranker: [1]\n      ranker_by: [gold]\n",
            "space.yaml:5: architectures[0].pipeline.ranker_by[0]: ranker_by='gold': 'gold' is the benchmark's oracle",
        ),
    ],
)
def test_the_benchmarks_oracle_scorers_are_refused(tmp_path: Path, text: str, expected: str) -> None:
    """``gold`` knows the answer and ``unit-tests`` runs the problem's own (grading) tests: a configuration
    judged by them would win every search, and its chosen.yaml could not run with ``ponder solve``."""
    path = write(tmp_path, text)
    message = error_of(path)
    assert message.startswith(expected.replace("space.yaml", str(path))), message
    assert "could not run outside `ponder bench`" in message and "self-eval" in message


def test_json_spaces_get_lines_too(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '{\n  "architectures": [\n    {"strategy": "self-consistency",\n     "params": {"budget": []}}\n  ]\n}\n',
        "s.json",
    )
    assert error_of(path).startswith(f"{path}:4: architectures[0].params.budget: an empty list")


def test_domains_take_their_type_from_the_parameter(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        architectures:
          - name: sc
            strategy: self-consistency
            params:
              budget: {low: 1, high: 8, step: 1}
              temperature: {low: 0, high: 1}
              batch: 2
          - name: beam
            strategy: beam-search
            params:
              temperature: [0.5, 0.9]
        """,
    )
    space = load_space(path)
    sc = space.architecture("sc")
    assert [(d.name, d.kind) for d in sc.domains] == [("budget", "int"), ("temperature", "float"), ("batch", "fixed")]
    candidate = space.suggest(Fixed(architecture="sc", **{"sc.budget": 4, "sc.temperature": 0.3}))
    assert candidate.params == {"budget": 4, "temperature": 0.3, "batch": 2}
    [component] = candidate.pipeline["layers"]
    assert component == {
        "type": "strategy",
        "name": "self-consistency",
        "budget": 4,
        "temperature": 0.3,
        "options": {"batch": 2},
    }
    beam = space.suggest(Fixed(architecture="beam"))
    # beam search has a temperature of its own: the space's temperature sets that option
    assert beam.pipeline["layers"][0]["options"] == {"temperature": 0.5}


def test_a_space_hash_ignores_layout_but_not_content(tmp_path: Path) -> None:
    one = write(tmp_path, "architectures:\n  - strategy: self-consistency\n    params: {budget: [1, 2]}\n", "a.yaml")
    two = write(
        tmp_path, "architectures:\n- params:\n    budget:\n    - 1\n    - 2\n  strategy: self-consistency\n", "b.yaml"
    )
    three = write(tmp_path, "architectures:\n  - strategy: self-consistency\n    params: {budget: [1, 4]}\n", "c.yaml")
    assert load_space(one).digest == load_space(two).digest != load_space(three).digest


def test_pipeline_knobs_make_archon_style_layers() -> None:
    config = build_pipeline(
        "p",
        {
            "generators": 2,
            "samples": 3,
            "temperature": 0.9,
            "critic": True,
            "ranker": 2,
            "verifier": "self-eval",
            "fuser_layers": 2,
            "fuser_model": "openai:http://127.0.0.1:9/v1#big",
        },
    )
    kinds = [layer["type"] if isinstance(layer, dict) else [c["type"] for c in layer] for layer in config["layers"]]
    assert kinds == [["generator", "generator"], "critic", "ranker", "verifier", "fuser", "critic", "fuser"]
    assert config["layers"][0][0] == {"type": "generator", "samples": 3, "temperature": 0.9}
    assert config["layers"][-1]["model"] == "openai:http://127.0.0.1:9/v1#big"
    # 6 samples, 6 critiques, 1 ranking (keeps 2), 1 fused answer, 1 critique of it, 1 fused answer
    assert load_pipeline(config).generations() == 6 + 6 + 1 + 1 + 1 + 1


def test_a_range_domain_draws_with_step_and_log() -> None:
    calls: list[tuple[str, Any]] = []

    class Spy(Fixed):
        def suggest_float(
            self, name: str, low: float, high: float, *, step: float | None = None, log: bool = False
        ) -> float:
            calls.append((name, (low, high, step, log)))
            return low

    Domain("threshold", "float", low=0.5, high=0.99, log=True).suggest(Spy(), "a")
    assert calls == [("a.threshold", (0.5, 0.99, None, True))]


async def test_a_strategy_components_temperature_reaches_its_samples() -> None:
    """The strategy component's ``temperature`` (added for tune) sets its strategy's sampling temperature."""
    engine = FakeEngine(lambda request, index: "The answer is 4.")
    pipeline = {"layers": [{"type": "strategy", "name": "self-consistency", "budget": 3, "temperature": 0.3}]}
    await ponder.asolve("What is 2 + 2?", engine=engine, pipeline=pipeline, temperature=1.0)
    assert {r.temperature for r in engine.requests} == {0.3}
    engine = FakeEngine(lambda request, index: "The answer is 4.")
    await ponder.asolve(
        "What is 2 + 2?",
        engine=engine,
        pipeline={"layers": [pipeline["layers"][0] | {"temperature": None}]},
        temperature=1.0,
    )
    assert {r.temperature for r in engine.requests} == {1.0}  # unset: the run's


def test_a_negative_strategy_temperature_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="temperature must be >= 0"):
        load_pipeline({"layers": [{"type": "strategy", "name": "greedy", "temperature": -1}]})
