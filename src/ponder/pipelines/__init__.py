"""Pipelines: layers of components (generate, critique, rank, fuse, verify, unit-test, any
strategy) composed from a YAML or JSON config and run as the ``pipeline`` strategy."""

from ponder.pipelines.config import Layer, PipelineConfig, load_pipeline, parse_pipeline
from ponder.pipelines.pipeline import DEFAULT_PIPELINE, Pipeline, PipelineParams
from ponder.pipelines.state import Critique, Output, PipelineState

__all__ = [
    "DEFAULT_PIPELINE",
    "Critique",
    "Layer",
    "Output",
    "Pipeline",
    "PipelineConfig",
    "PipelineParams",
    "PipelineState",
    "load_pipeline",
    "parse_pipeline",
]
