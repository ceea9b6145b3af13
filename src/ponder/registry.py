"""Finding strategies by name: built-ins plus any package's ``ponder.strategies`` entry points.

This module sits above the strategies and pipelines it lists: a pipeline's ``strategy``
components find strategies through the lookup it hands to the pipeline loader
(:func:`load_pipeline`), so neither layer imports the other's registry.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from ponder.core.errors import UnknownNameError
from ponder.core.params import build_params
from ponder.pipelines import PipelineConfig
from ponder.pipelines import load_pipeline as load_pipeline_with
from ponder.pipelines.pipeline import Pipeline
from ponder.strategies.a_star import AStar
from ponder.strategies.adaptive import AdaptiveSelfConsistency
from ponder.strategies.base import Algorithm, AlgorithmClass
from ponder.strategies.beam_search import BeamSearch
from ponder.strategies.deepconf import DeepConf
from ponder.strategies.dvts import DVTS
from ponder.strategies.greedy import Greedy
from ponder.strategies.hogwild import Hogwild
from ponder.strategies.linc import Linc
from ponder.strategies.particle_filtering import ParticleFiltering
from ponder.strategies.particle_gibbs import ParticleGibbs
from ponder.strategies.revise import Revise
from ponder.strategies.routed import Routed
from ponder.strategies.scored import BestOfN, WeightedBestOfN, WeightedMajority
from ponder.strategies.self_consistency import ProgramOfThought, SelfConsistency
from ponder.strategies.think_execute import ThinkAndExecute

BUILTIN: dict[str, AlgorithmClass] = {
    cls.name: cls
    for cls in (
        Greedy,
        SelfConsistency,
        AdaptiveSelfConsistency,
        BestOfN,
        WeightedBestOfN,
        WeightedMajority,
        Linc,
        ProgramOfThought,
        Revise,
        BeamSearch,
        DVTS,
        ParticleFiltering,
        ParticleGibbs,
        AStar,
        ThinkAndExecute,
        Routed,
        DeepConf,
        Hogwild,
        Pipeline,
    )
}


def available() -> dict[str, AlgorithmClass]:
    """Every registered strategy class by name (entry points cannot shadow built-ins)."""
    found = {ep.name: ep for ep in entry_points(group="ponder.strategies") if ep.name not in BUILTIN}
    return {**BUILTIN, **{name: ep.load() for name, ep in found.items()}}


def strategy_class(name: str) -> AlgorithmClass:
    cls = BUILTIN.get(name) or available().get(name)
    if cls is None:
        raise UnknownNameError(f"unknown strategy {name!r}; available: {', '.join(sorted(available()))}")
    return cls


def get_strategy(name: str, options: Mapping[str, Any] | None = None) -> Algorithm[Any]:
    """The strategy registered as ``name`` with its parameters set from ``options`` (validated)."""
    cls = strategy_class(name)
    return cls(build_params(cls.Params, options))


def load_pipeline(
    config: str | Path | Mapping[str, Any],
    *,
    scorers: Collection[str] | None = None,
    engines: Collection[str] | None = None,
) -> PipelineConfig:
    """:func:`ponder.pipelines.load_pipeline` with this registry's strategies for ``strategy`` components."""
    return load_pipeline_with(config, scorers=scorers, engines=engines, strategies=get_strategy)
