"""How a point of the search space becomes ONE pipeline config: the knobs of a layered pipeline
(:data:`PIPELINE_KNOBS`, :func:`build_pipeline`) and a strategy as a one-layer pipeline
(:func:`build_strategy`).

The layered form follows Archon (Saad-Falcon et al., "Archon: An Architecture Search Framework for
Inference-Time Techniques"): generators, then critic, ranker, verifier and fuser layers, then unit
tests. Deliberate deviation: Archon searches the number of layers of each kind freely; here a
pipeline is one generation layer followed by at most one critic, ranker and verifier and any
number of fuser layers (each after a critic when critics are on), which covers the configurations
the paper found best for small models while keeping every candidate valid.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ponder.registry import strategy_class


@dataclass(frozen=True)
class Knob:
    """A pipeline knob: its type, default and what it does."""

    kind: Any
    default: Any
    help: str


MODEL_KNOB_HELP = "an engine spec (openai:URL#MODEL, llama:MODEL) or null for the run's engine"
PIPELINE_KNOBS: dict[str, Knob] = {
    "generators": Knob(int, 1, "generator components in the first layer (they run concurrently)"),
    "samples": Knob(int, 1, "answers each generator draws"),
    "temperature": Knob(float | None, None, "the generators' temperature [default: the run's, else 0.8]"),
    "critic": Knob(bool, False, "a critic layer (one critique per candidate) before the ranker and each fuser"),
    "ranker": Knob(int, 0, "a ranker keeping this many candidates (top_k; 0: no ranker)"),
    "ranker_by": Knob(str, "model", "what ranks: 'model' (a ranking prompt) or a scorer name"),
    "verifier": Knob(str | None, None, "a scorer (self-eval, ...) that drops candidates below the threshold"),
    "verifier_threshold": Knob(float, 0.5, "the verifier's threshold"),
    "fuser_layers": Knob(int, 1, "fuser layers, one after the other (0: none; the answer is then the vote)"),
    "fuser_samples": Knob(int, 1, "answers each fuser writes"),
    "unit_tests": Knob(bool, False, "generate unit tests and keep the candidates that pass most (code tasks)"),
    "generator_model": Knob(str | None, None, "the generators' engine: " + MODEL_KNOB_HELP),
    "critic_model": Knob(str | None, None, "the critics' engine: " + MODEL_KNOB_HELP),
    "ranker_model": Knob(str | None, None, "the ranker's engine (ranker_by: model): " + MODEL_KNOB_HELP),
    "fuser_model": Knob(str | None, None, "the fusers' engine: " + MODEL_KNOB_HELP),
}
MINIMUM = {"generators": 1, "samples": 1, "ranker": 0, "fuser_layers": 0, "fuser_samples": 1}


def build_strategy(name: str, strategy: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """A one-layer pipeline with one ``strategy`` component (``budget``, ``temperature``, ``model``
    and the strategy's own options from ``values``)."""
    own = {f.name for f in dataclasses.fields(strategy_class(strategy).Params)}
    component: dict[str, Any] = {"type": "strategy", "name": strategy}
    options: dict[str, Any] = {}
    for key, value in values.items():
        if key in own:
            options[key] = value
        elif value is not None:
            component[key] = value
    if options:
        component["options"] = options
    return {"name": name, "layers": [component]}


def build_pipeline(name: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """The layers the knobs make (each knob at :data:`PIPELINE_KNOBS`' default unless set), in order:
    ``generators`` generators of ``samples`` answers; a critic (``critic``); a ranker (``ranker``
    > 0); a verifier (``verifier``); ``fuser_layers`` fusers, each after a critic when ``critic`` is
    on; a test generator and a test evaluator (``unit_tests``)."""
    knob = {key: values.get(key, spec.default) for key, spec in PIPELINE_KNOBS.items()}

    def with_model(component: dict[str, Any], key: str) -> dict[str, Any]:
        return {**component, "model": knob[key]} if knob[key] is not None else component

    generator = with_model({"type": "generator", "samples": knob["samples"]}, "generator_model")
    if knob["temperature"] is not None:
        generator["temperature"] = knob["temperature"]
    layers: list[Any] = [generator if knob["generators"] == 1 else [generator] * knob["generators"]]
    critic = with_model({"type": "critic"}, "critic_model")
    if knob["critic"]:
        layers.append(critic)
    if knob["ranker"] > 0:
        ranker = {"type": "ranker", "top_k": knob["ranker"], "by": knob["ranker_by"]}
        layers.append(with_model(ranker, "ranker_model") if knob["ranker_by"] == "model" else ranker)
    if knob["verifier"] is not None:
        layers.append({"type": "verifier", "scorer": knob["verifier"], "threshold": knob["verifier_threshold"]})
    for i in range(knob["fuser_layers"]):
        if knob["critic"] and i > 0:
            layers.append(critic)
        layers.append(with_model({"type": "fuser", "samples": knob["fuser_samples"]}, "fuser_model"))
    if knob["unit_tests"]:
        layers += [{"type": "test_generator"}, {"type": "test_evaluator"}]
    return {"name": name, "layers": layers}
