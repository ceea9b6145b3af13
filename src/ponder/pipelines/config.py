"""Pipeline configs: validated into layers of typed components, errors pointing at the bad line.

A config (YAML or JSON) has ``layers``, a list; each layer is a list of components that run
concurrently (or one component, or ``{name: ..., components: [...]}``); each component is a
mapping with a ``type`` (see :data:`~ponder.pipelines.components.COMPONENTS`) and that
component's keys::

    name: generate-critique-fuse
    layers:
      - type: generator
        samples: 4
      - type: critic
        model: judge                         # an engine passed as engines={"judge": ...}
      - type: fuser
        model: openai:http://host:8000/v1    # or llama:MODEL; created for the run

Components that call a model (generator, critic, ranker ``by: model``, fuser, test_generator,
strategy) take ``model``: see :mod:`ponder.engines.named`. A spec is checked when the config is
read; a plain name when the run is planned, against the ``engines`` the caller passed.

Every problem is an :class:`~ponder.core.errors.InvalidInputError` naming ``file:line: path``, e.g.
``pipe.yaml:3: layers[0].samples: expected an integer, got 'four'``.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ponder.core.errors import PonderError
from ponder.core.params import TypeMismatch, coerce, type_name
from ponder.engines.named import is_spec, missing_engine
from ponder.pipelines.components import COMPONENTS, Component, StrategyComponent
from ponder.pipelines.source import Path_, Where, read_config
from ponder.strategies.base import StrategyLookup

_TOP_KEYS = ("name", "description", "layers")
_LAYER_KEYS = ("name", "components")
_MODEL_HINT = "only components that call a model take one: " + ", ".join(
    kind for kind, cls in COMPONENTS.items() if "model" in {f.name for f in dataclasses.fields(cls.Params)}
)


@dataclass(frozen=True)
class Layer:
    """Components that run concurrently on the same input."""

    name: str
    components: tuple[Component, ...]


@dataclass(frozen=True)
class PipelineConfig:
    """A validated pipeline: its layers of components, in order."""

    name: str
    layers: tuple[Layer, ...]
    description: str = ""
    source: str = "pipeline"

    def generations(self) -> int:
        """The most generations a run of this pipeline can spend (its default budget)."""
        total, candidates = 0, 0
        for layer in self.layers:
            outs = []
            for component in layer.components:
                spent, out = component.estimate(candidates)
                total += spent
                if out is not None:
                    outs.append(out)
            candidates = sum(outs) if outs else candidates
        return max(total, 1)


def load_pipeline(
    config: str | Path | Mapping[str, Any],
    *,
    scorers: Collection[str] | None = None,
    engines: Collection[str] | None = None,
    strategies: StrategyLookup | None = None,
) -> PipelineConfig:
    """A pipeline from a YAML or JSON file, or a dict. With ``scorers`` (the names a run knows),
    every scorer a component names is checked against them too; with ``engines`` (the names of
    the engines the caller passed), so is every ``model`` that is not an engine spec.
    ``strategy`` components find their strategies with ``strategies`` (a config with one needs
    it: :func:`ponder.registry.load_pipeline` passes the registry's)."""
    data, where = read_config(config)
    default_name = Path(config).stem if not isinstance(config, Mapping) else "pipeline"
    return parse_pipeline(
        data, where, scorers=scorers, engines=engines, strategies=strategies, default_name=default_name
    )


def parse_pipeline(
    data: Any,
    where: Where,
    *,
    scorers: Collection[str] | None = None,
    engines: Collection[str] | None = None,
    strategies: StrategyLookup | None = None,
    default_name: str = "pipeline",
) -> PipelineConfig:
    """Validate parsed config data (see the module docstring)."""
    top = _mapping(data, (), where, "the pipeline config")
    _known_keys(top, (), where, _TOP_KEYS)
    name = _typed(top.get("name", default_name), str, ("name",), where)
    description = _typed(top.get("description", ""), str, ("description",), where)
    if "layers" not in top:
        raise where.error((), "missing key 'layers' (a list of layers of components)")
    raw_layers = top["layers"]
    if not isinstance(raw_layers, list) or not raw_layers:
        raise where.error(("layers",), "expected a non-empty list of layers")
    layers = tuple(_layer(raw, ("layers", i), where, scorers, strategies) for i, raw in enumerate(raw_layers))
    _check_order(layers, raw_layers, where)
    if engines is not None:
        _check_models(layers, raw_layers, where, engines)
    return PipelineConfig(name=name, layers=layers, description=description, source=where.source)


def _layer(
    raw: Any, path: Path_, where: Where, scorers: Collection[str] | None, strategies: StrategyLookup | None
) -> Layer:
    name = ""
    items: Any
    base: Path_ | None
    if isinstance(raw, dict) and "type" in raw:
        items, base = [raw], None
    elif isinstance(raw, dict):
        _known_keys(
            raw,
            path,
            where,
            _LAYER_KEYS,
            "a layer is a component (a mapping with 'type'), a list of components, or a mapping with 'components'",
        )
        name = _typed(raw.get("name", ""), str, path + ("name",), where)
        items, base = raw.get("components"), path + ("components",)
        if not isinstance(items, list):
            raise where.error(path, "a layer mapping needs 'components', a list of components")
    elif isinstance(raw, list):
        items, base = raw, path
    else:
        raise where.error(path, f"expected a component or a list of components, got {_kind(raw)}")
    if not items:
        raise where.error(path, "a layer needs at least one component")
    components = tuple(
        _component(item, path if base is None else base + (i,), where, scorers, strategies)
        for i, item in enumerate(items)
    )
    return Layer(name=name or "+".join(c.kind for c in components), components=components)


def _component(
    raw: Any, path: Path_, where: Where, scorers: Collection[str] | None, strategies: StrategyLookup | None
) -> Component:
    spec = _mapping(raw, path, where, "a component")
    kind = spec.get("type")
    if kind not in COMPONENTS:
        problem = "missing key 'type'" if kind is None else f"unknown component type {kind!r}"
        raise where.error(
            path + (("type",) if kind is not None else ()), f"{problem}; available: {', '.join(COMPONENTS)}"
        )
    cls = COMPONENTS[kind]
    fields = {f.name: f for f in dataclasses.fields(cls.Params)}
    _known_keys(spec, path, where, ("type", *fields))
    hints = typing.get_type_hints(cls.Params)
    values = {key: _typed(value, hints[key], path + (key,), where) for key, value in spec.items() if key != "type"}
    missing = [
        n
        for n, f in fields.items()
        if n not in values and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise where.error(path, f"a {kind} needs key {missing[0]!r}")
    if issubclass(cls, StrategyComponent) and strategies is None:
        raise where.error(
            path,
            "a strategy component needs the strategy registry: load the pipeline with "
            "ponder.registry.load_pipeline (or pass strategies=)",
        )
    try:
        params = cls.Params(**values)
        component: Component
        if issubclass(cls, StrategyComponent):
            assert strategies is not None
            component = cls(params, strategies)
        else:
            component = cls(params)
    except PonderError as exc:  # a check of the values; point at the key it names, if any
        key = next((k for k in values if str(exc).startswith((k + " ", f"option {k}=", f"{k} "))), None)
        raise where.error(path + ((key,) if key else ()), str(exc)) from None
    _check_scorers(kind, params, path, where, scorers)
    return component


def _check_scorers(kind: str, params: Any, path: Path_, where: Where, scorers: Collection[str] | None) -> None:
    """Scorer names a component uses must be ones the run knows (when the caller says which)."""
    if scorers is None:
        return
    named = {
        "verifier": ("scorer", params.scorer if kind == "verifier" else None),
        "ranker": ("by", params.by if kind == "ranker" and params.by != "model" else None),
        "strategy": ("options", (params.options or {}).get("scorer") if kind == "strategy" else None),
    }
    key, name = named.get(kind, ("", None))
    if name is not None and name not in scorers:
        raise where.error(path + (key,), f"unknown scorer {name!r}; available: {', '.join(sorted(scorers))}")


def _check_order(layers: tuple[Layer, ...], raw: list[Any], where: Where) -> None:
    """Components that need candidates (or tests) come after a layer that makes them."""
    have_candidates = have_tests = False
    for i, layer in enumerate(layers):
        for j, component in enumerate(layer.components):
            path = _component_path(raw[i], ("layers", i), j)
            if component.needs_candidates and not have_candidates:
                raise where.error(
                    path,
                    f"a {component.kind} needs candidates from an earlier layer; "
                    "start with a layer that has a generator or a strategy",
                )
            if component.kind == "test_evaluator" and not have_tests:
                raise where.error(path, "a test_evaluator needs a test_generator in an earlier layer")
        have_candidates = have_candidates or any(c.creates for c in layer.components)
        have_tests = have_tests or any(c.kind == "test_generator" for c in layer.components)


def _check_models(layers: tuple[Layer, ...], raw: list[Any], where: Where, engines: Collection[str]) -> None:
    """A ``model`` that is not an engine spec must name an engine the caller passed."""
    for i, layer in enumerate(layers):
        for j, component in enumerate(layer.components):
            model = getattr(component.params, "model", None)
            if model is not None and model not in engines and not is_spec(model):
                path = _component_path(raw[i], ("layers", i), j) + ("model",)
                raise where.error(
                    path,
                    f"pipeline layer {i + 1} ({component.kind}) names model {model!r}, but {missing_engine(model)}",
                )


def _component_path(raw_layer: Any, path: Path_, index: int) -> Path_:
    if isinstance(raw_layer, dict) and "type" in raw_layer:
        return path
    if isinstance(raw_layer, dict):
        return path + ("components", index)
    return path + (index,)


def _mapping(raw: Any, path: Path_, where: Where, what: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise where.error(path, f"{what} must be a mapping of keys to values, got {_kind(raw)}")
    return raw


def _known_keys(spec: Mapping[str, Any], path: Path_, where: Where, known: tuple[str, ...], hint: str = "") -> None:
    for key in spec:
        if key not in known:
            note = _MODEL_HINT if key == "model" else hint
            raise where.error(
                path + (key,), f"unknown key {key!r}; valid keys: {', '.join(known)}" + (f" ({note})" if note else "")
            )


def _kind(value: Any) -> str:
    return {
        dict: "a mapping",
        list: "a list",
        str: "a string",
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        type(None): "nothing",
    }.get(type(value), type(value).__name__)


_NAMES = {bool: "true or false", int: "an integer", float: "a number", str: "a string", dict: "a mapping"}


def _typed(value: Any, kind: Any, path: Path_, where: Where) -> Any:
    """``value`` if it has type ``kind`` (see :func:`~ponder.core.params.coerce`: an int passes
    as a float; ``X | None`` allows null), else an error at ``path``."""
    try:
        return coerce(kind, value)
    except TypeMismatch as bad:
        if bad.choices:
            raise where.error(path, f"expected one of {', '.join(map(str, bad.choices))}, got {value!r}") from None
        expected = _NAMES.get(bad.kind, type_name(bad.kind))
        raise where.error(path, f"expected {expected}, got {_kind(value)} {value!r}") from None
