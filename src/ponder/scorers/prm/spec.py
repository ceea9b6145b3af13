"""Process reward models from a one-line spec, for CLI options and strategy parameters.

- ``self-eval-prm`` (or empty): :class:`SelfEvalPRM` asking ``engine`` (the generator), ``whole``;
- ``self-eval-prm:AGG``: the same with aggregation ``AGG`` (``last``, ``min``, ``product``: per step);
- ``self-eval-prm:fresh`` (or ``self-eval-prm:AGG:fresh``): asking every question in a fresh prompt
  rather than as the next turn of the sample's chat (no prefix-cache reuse: for comparisons);
- ``vllm:URL`` or ``vllm:URL#MODEL``: :class:`VllmPRM` at ``URL`` (default Qwen/Qwen2.5-Math-PRM-7B);
- ``http:URL``, or a bare ``http://`` / ``https://`` URL: :class:`GenericHttpPRM` posting to ``URL``.

``aggregation=`` overrides a PRM's default aggregation (it must agree with one in the spec). The
HTTP PRMs read their API key from ``$PONDER_PRM_API_KEY``.
"""

from __future__ import annotations

from typing import TypedDict

from ponder.core.errors import InvalidInputError
from ponder.engines.base import Engine
from ponder.scorers.prm.base import Aggregation, StepScorer, check_aggregation
from ponder.scorers.prm.generic_http import GenericHttpPRM
from ponder.scorers.prm.self_eval import SelfEvalPRM
from ponder.scorers.prm.vllm_pooling import QWEN_PRM_MODEL, VllmPRM

DEFAULT_PRM = "self-eval-prm"
FRESH = "fresh"
SPEC_FORMS = "self-eval-prm[:last|min|product|whole][:fresh], vllm:URL[#MODEL], http:URL"


class _Options(TypedDict, total=False):
    aggregation: Aggregation


def make_prm(spec: str, engine: Engine, *, aggregation: Aggregation | None = None) -> StepScorer:
    """The PRM that ``spec`` names (see the module docstring), judging with ``engine`` if it needs a model."""
    spec = spec.strip() or DEFAULT_PRM
    if aggregation is not None:
        check_aggregation(aggregation)
    options: _Options = {} if aggregation is None else {"aggregation": aggregation}
    if spec == DEFAULT_PRM or spec.startswith(f"{DEFAULT_PRM}:"):
        modifiers = [m for m in spec.split(":")[1:] if m]
        named = [m for m in modifiers if m != FRESH]
        if len(named) > 1:
            raise InvalidInputError(f"PRM spec {spec!r} names more than one aggregation; use one of: {SPEC_FORMS}")
        if named:
            given = check_aggregation(named[0])
            if aggregation is not None and aggregation != given:
                raise InvalidInputError(
                    f"PRM spec {spec!r} says aggregation {given!r} but {aggregation!r} was asked for"
                )
            options = {"aggregation": given}
        return SelfEvalPRM(engine, **options, reuse_cache=FRESH not in modifiers)
    if spec.startswith(("http://", "https://")):
        return GenericHttpPRM(spec, **options)
    kind, sep, rest = spec.partition(":")
    if not sep or kind not in ("vllm", "http"):
        raise InvalidInputError(f"unknown PRM spec {spec!r}; use one of: {SPEC_FORMS}")
    if not rest:
        raise InvalidInputError(f"PRM spec {spec!r} names no URL; use {kind}:http://HOST:PORT...")
    if kind == "http":
        return GenericHttpPRM(rest, **options)
    url, _, model = rest.partition("#")
    return VllmPRM(url, model.strip() or QWEN_PRM_MODEL, **options)
