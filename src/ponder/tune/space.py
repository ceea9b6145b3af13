"""The search space of ``ponder tune``: architectures and the domains of their parameters.

A space is a YAML or JSON file (or a dict; :data:`DEFAULT_SPACE` when none is given) read like a
pipeline config, so every problem is an :class:`~ponder.core.errors.InvalidInputError` naming
``file:line: path: problem``::

    name: small                        # optional
    architectures:
      - name: sc                       # optional (default: the strategy's name, else pipeline-N)
        strategy: self-consistency     # any registered strategy (`ponder strategies`)
        params:
          budget: [1, 2, 4, 8]         # a list: one of these (categorical)
          temperature: {low: 0.2, high: 1.0}              # a float range (log: true for a log scale)
          batch: {low: 2, high: 8, step: 2}               # an int range (the option is an int)
      - strategy: best-of-n
        params: {budget: [2, 4], scorer: self-eval}       # a plain value: fixed
      - name: gcf
        pipeline:                      # an Archon-style layered pipeline, by its knobs
          generators: [1, 2]
          samples: [2, 4]
          critic: [true, false]
          fuser_layers: [0, 1]

A domain is a list (one of its values), a mapping ``{low, high}`` with optional ``step`` and
``log`` (an int range when the parameter is an int, else a float range), or a plain value
(fixed). A strategy's parameters are ``budget`` (generations; default 4), ``temperature`` (its
sampling temperature; a strategy with a ``temperature`` option of its own, such as beam search,
gets it there), ``model`` (an engine spec such as ``openai:URL#MODEL``, or null for the run's
engine) and any of the strategy's own options (checked against it: a bad name or value fails
when the space is read). A pipeline's knobs are :data:`PIPELINE_KNOBS`; :func:`build_pipeline`
says which layers they make. Scorers (a strategy's ``scorer``, the ``verifier`` and ``ranker_by``
knobs) are those a run has (:data:`ponder.scorers.SCORERS`): the bench runner's oracles ``gold``
and ``unit-tests`` (:data:`BENCH_SCORERS`: the gold answer, the problem's own tests) are refused,
since a configuration judged by them would win the search and could not run outside a benchmark.

Every candidate becomes ONE pipeline config (:meth:`Architecture.build`): a strategy is a
one-layer pipeline with a ``strategy`` component, so the chosen candidate can be written as a
file that ``ponder solve --pipeline FILE`` and ``ponder serve --pipeline FILE`` run as it is.
Trials draw the architecture first (``architecture``, categorical), then its parameters, named
``ARCHITECTURE.PARAMETER`` (define-by-run: :meth:`Space.suggest`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from ponder.core.errors import InvalidInputError, PonderError
from ponder.core.params import TypeMismatch, coerce, type_name
from ponder.engines.named import is_spec
from ponder.pipelines.source import Path_, Where, read_config
from ponder.registry import load_pipeline, strategy_class
from ponder.scorers import SCORERS
from ponder.tune.architectures import MINIMUM, PIPELINE_KNOBS, build_pipeline, build_strategy

Scalar = None | bool | int | float | str
BENCH_SCORERS = ("gold", "unit-tests")  # the bench runner's oracles (ponder.bench.runner): refused in a space
SCORER_KEYS = ("scorer", "verifier", "ranker_by")  # the parameters and knobs that name a scorer
STRATEGY_KEYS: dict[str, Any] = {"budget": int, "temperature": float | None, "model": str | None}  # and its options
_ARCH_KEYS = ("name", "strategy", "params", "pipeline")
_RANGE_KEYS = ("low", "high", "step", "log")

DEFAULT_SPACE: dict[str, Any] = {
    "name": "default",
    "architectures": [
        {"name": "greedy", "strategy": "greedy", "params": {"budget": 1}},
        {
            "name": "self-consistency",
            "strategy": "self-consistency",
            "params": {"budget": [2, 4, 8], "temperature": [0.4, 0.7, 1.0]},
        },
        {
            "name": "best-of-n",
            "strategy": "best-of-n",
            "params": {"budget": [2, 4], "temperature": [0.7], "scorer": "self-eval"},
        },
        {
            "name": "generate-critique-fuse",
            "pipeline": {"samples": [2, 4], "temperature": [0.7], "critic": [True, False], "fuser_layers": 1},
        },
    ],
}
"""The built-in space: small and sensible for a small model (greedy, self-consistency at a few
budgets and temperatures, best-of-n judged by the model's self-evaluation, generate-critique-fuse)."""


class Suggester(Protocol):
    """What a domain draws from (an optuna trial)."""

    def suggest_categorical(self, name: str, choices: Any) -> Any: ...

    def suggest_int(self, name: str, low: int, high: int, *, step: int = 1, log: bool = False) -> int: ...

    def suggest_float(
        self, name: str, low: float, high: float, *, step: float | None = None, log: bool = False
    ) -> float: ...


@dataclass(frozen=True)
class Domain:
    """One parameter's domain: ``fixed`` (``values[0]``), ``categorical`` (one of ``values``), or an
    ``int`` / ``float`` range from ``low`` to ``high`` (``step``, ``log`` as optuna takes them)."""

    name: str
    kind: Literal["fixed", "categorical", "int", "float"]
    values: tuple[Scalar, ...] = ()
    low: float = 0.0
    high: float = 0.0
    step: float | None = None
    log: bool = False

    def suggest(self, trial: Suggester, prefix: str) -> Any:
        """A value drawn from ``trial`` under the name ``prefix.name`` (a fixed value is not drawn)."""
        key = f"{prefix}.{self.name}"
        if self.kind == "fixed":
            return self.values[0]
        if self.kind == "categorical":
            return trial.suggest_categorical(key, list(self.values))
        if self.kind == "int":
            step = int(self.step) if self.step is not None else 1
            return trial.suggest_int(key, int(self.low), int(self.high), step=step, log=self.log)
        return trial.suggest_float(key, self.low, self.high, step=self.step, log=self.log)

    def corners(self) -> tuple[Any, ...]:
        """The values that stand for the domain when the space is checked: each listed value, or the ends of a range."""
        if self.kind in ("fixed", "categorical"):
            return self.values
        kind = int if self.kind == "int" else float
        return (kind(self.low), kind(self.high))

    def to_dict(self) -> dict[str, Any]:
        """The domain as JSON data (for the space's digest)."""
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Candidate:
    """One point of the space: its architecture, the parameter values drawn, and its pipeline config."""

    architecture: str
    params: dict[str, Any]
    pipeline: dict[str, Any]


@dataclass(frozen=True)
class Architecture:
    """A strategy (``strategy`` set) or a layered pipeline (``strategy`` None) with its domains."""

    name: str
    strategy: str | None
    domains: tuple[Domain, ...]

    def build(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """The pipeline config data of this architecture at ``values`` (named after both)."""
        shown = " ".join(f"{k}={_short(v)}" for k, v in values.items())
        name = f"{self.name} {shown}".strip()
        if self.strategy is None:
            return build_pipeline(name, values)
        return build_strategy(name, self.strategy, values)

    def at(self, values: Mapping[str, Any]) -> Candidate:
        """The candidate of this architecture at ``values``."""
        return Candidate(self.name, dict(values), self.build(values))

    def defaults(self) -> dict[str, Any]:
        """Each parameter at its first corner (the first listed value, the low end of a range)."""
        return {d.name: d.corners()[0] for d in self.domains}


@dataclass(frozen=True)
class Space:
    """A validated search space (see the module docstring)."""

    name: str
    architectures: tuple[Architecture, ...]
    source: str = "space"

    @property
    def digest(self) -> str:
        """A short hash of the space's content (not of its file's layout): part of the study name."""
        data = [
            {"name": a.name, "strategy": a.strategy, "domains": [d.to_dict() for d in a.domains]}
            for a in self.architectures
        ]
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:12]

    def architecture(self, name: str) -> Architecture:
        """The architecture called ``name``."""
        for arch in self.architectures:
            if arch.name == name:
                return arch
        raise InvalidInputError(f"no architecture {name!r} in space {self.name!r}")

    def suggest(self, trial: Suggester) -> Candidate:
        """Draw an architecture, then its parameters (define-by-run), and build its pipeline config."""
        name = trial.suggest_categorical("architecture", [a.name for a in self.architectures])
        arch = self.architecture(name)
        return arch.at({d.name: d.suggest(trial, arch.name) for d in arch.domains})


def load_space(space: str | Path | Mapping[str, Any] | None = None) -> Space:
    """A space from a YAML or JSON file, a dict, or (``None``) :data:`DEFAULT_SPACE`, validated."""
    if space is None:
        data, where = read_config(DEFAULT_SPACE)
        where = Where("the default space")
    else:
        data, where = read_config(space)
        if isinstance(space, Mapping):
            where = Where("space")
    default_name = "default" if space is None else (Path(space).stem if not isinstance(space, Mapping) else "space")
    return parse_space(data, where, default_name=default_name)


def parse_space(data: Any, where: Where, *, default_name: str = "space") -> Space:
    """Validate parsed space data (see the module docstring)."""
    if not isinstance(data, dict):
        raise where.error((), f"the space must be a mapping with 'architectures', got {_kind(data)}")
    for key in data:
        if key not in ("name", "architectures"):
            raise where.error((key,), f"unknown key {key!r}; valid keys: name, architectures")
    name = data.get("name", default_name)
    if not isinstance(name, str) or not name.strip():
        raise where.error(("name",), f"expected a non-empty string, got {_kind(name)}")
    raw = data.get("architectures")
    if not isinstance(raw, list) or not raw:
        raise where.error(
            ("architectures",) if "architectures" in data else (), "expected a non-empty list of architectures"
        )
    architectures: list[Architecture] = []
    for i, item in enumerate(raw):
        arch = _architecture(item, ("architectures", i), where, i)
        if any(a.name == arch.name for a in architectures):
            raise where.error(("architectures", i), f"architecture name {arch.name!r} is used twice; give each a name")
        architectures.append(arch)
    return Space(name=name, architectures=tuple(architectures), source=where.source)


def _architecture(raw: Any, path: Path_, where: Where, index: int) -> Architecture:
    if not isinstance(raw, dict):
        raise where.error(path, f"an architecture must be a mapping with 'strategy' or 'pipeline', got {_kind(raw)}")
    for key in raw:
        if key not in _ARCH_KEYS:
            raise where.error(path + (key,), f"unknown key {key!r}; valid keys: {', '.join(_ARCH_KEYS)}")
    if ("strategy" in raw) == ("pipeline" in raw):
        raise where.error(path, "an architecture needs exactly one of 'strategy' (with 'params') or 'pipeline'")
    if "strategy" in raw:
        strategy = raw["strategy"]
        if not isinstance(strategy, str):
            raise where.error(path + ("strategy",), f"expected a strategy name, got {_kind(strategy)}")
        try:
            cls = strategy_class(strategy)
        except PonderError as exc:
            raise where.error(path + ("strategy",), str(exc)) from None
        if strategy == "pipeline":
            raise where.error(path + ("strategy",), "describe a pipeline with 'pipeline:' and its knobs")
        key, raw_params = "params", raw.get("params", {})
        hints = dict(STRATEGY_KEYS)
        hints.update({k: v for k, v in typing.get_type_hints(cls.Params).items() if k != "model"})
    else:
        if "params" in raw:
            raise where.error(path + ("params",), "a pipeline's domains go under 'pipeline:' (its knobs)")
        strategy, key, raw_params = None, "pipeline", raw["pipeline"]
        hints = {k: knob.kind for k, knob in PIPELINE_KNOBS.items()}
    name = raw.get("name", strategy if strategy is not None else f"pipeline-{index + 1}")
    if not isinstance(name, str) or not name.strip() or "." in name:
        raise where.error(path + ("name",), f"expected a name without '.', got {name!r}")
    if not isinstance(raw_params, dict):
        raise where.error(path + (key,), f"expected a mapping of parameters to domains, got {_kind(raw_params)}")
    domains = []
    for param, value in raw_params.items():
        if param not in hints:
            valid = ", ".join(hints)
            raise where.error(path + (key, param), f"unknown parameter {param!r}; valid: {valid}")
        domains.append(_domain(param, value, hints[param], path + (key, param), where))
    arch = Architecture(name=name, strategy=strategy, domains=tuple(domains))
    _check_values(arch, path + (key,), where)
    return arch


def _domain(name: str, raw: Any, kind: Any, path: Path_, where: Where) -> Domain:
    if isinstance(raw, list):
        if not raw:
            raise where.error(path, "an empty list: give at least one value")
        values = tuple(_value(v, kind, path + (i,), where) for i, v in enumerate(raw))
        if len(set(map(json.dumps, values))) < len(values):
            raise where.error(path, "a value is listed twice")
        return Domain(name, "categorical", values)
    if isinstance(raw, dict):
        return _range(name, raw, kind, path, where)
    return Domain(name, "fixed", (_value(raw, kind, path, where),))


def _range(name: str, raw: dict[str, Any], kind: Any, path: Path_, where: Where) -> Domain:
    base = _numeric(kind)
    if base is None:
        raise where.error(path, f"a range needs a number parameter; {name} is {type_name(kind)}: list its values")
    for key in raw:
        if key not in _RANGE_KEYS:
            raise where.error(path + (key,), f"unknown key {key!r}; a range takes {', '.join(_RANGE_KEYS)}")
    for key in ("low", "high"):
        if key not in raw:
            raise where.error(path, f"a range needs '{key}'")
    numbers = {key: _value(raw[key], base, path + (key,), where) for key in ("low", "high", "step") if key in raw}
    log = raw.get("log", False)
    if not isinstance(log, bool):
        raise where.error(path + ("log",), f"expected true or false, got {_kind(log)}")
    low, high, step = numbers["low"], numbers["high"], numbers.get("step")
    if low > high:
        raise where.error(path, f"low {low} is above high {high}")
    if step is not None and step <= 0:
        raise where.error(path + ("step",), f"step must be > 0, got {step}")
    if log and (step is not None or low <= 0):
        raise where.error(path + ("log",), "a log range needs low > 0 and no step")
    return Domain(name, "int" if base is int else "float", low=low, high=high, step=step, log=log)


def _numeric(kind: Any) -> type | None:
    """``int`` or ``float`` when ``kind`` is one (or optional one), else None."""
    args = [k for k in typing.get_args(kind) if k is not type(None)] or [kind]
    return args[0] if len(args) == 1 and args[0] in (int, float) else None


def _value(value: Any, kind: Any, path: Path_, where: Where) -> Any:
    if isinstance(value, (dict, list)):
        raise where.error(path, f"expected a single value, got {_kind(value)}")
    try:
        return coerce(kind, value)
    except TypeMismatch as bad:
        if bad.choices:
            raise where.error(path, f"expected one of {', '.join(map(str, bad.choices))}, got {value!r}") from None
        raise where.error(path, f"expected {type_name(bad.kind)}, got {_kind(value)} {value!r}") from None


def _check_values(arch: Architecture, path: Path_, where: Where) -> None:
    """Check each listed value (and each end of each range) of each parameter on its own, then
    build the architecture's pipeline at each, the others at their first, and load it: a bad value
    fails here, at its own line (the checks of single values all come first, so that a bad value
    is not reported at the line of another parameter whose pipeline carries it as a default)."""
    base = arch.defaults()
    corners = [
        (domain, value, path + ((domain.name, i) if domain.kind == "categorical" else (domain.name,)))
        for domain in arch.domains
        for i, value in enumerate(domain.corners())
    ]
    for domain, value, at in corners:
        _check_pair(arch, domain.name, value, at, where)
    for domain, value, at in corners:
        try:
            load_pipeline(arch.build({**base, domain.name: value}), scorers=SCORERS, engines=())
        except PonderError as exc:
            raise where.error(at, f"{domain.name}={value!r}: {_problem(str(exc))}") from None
    if not arch.domains:
        load_pipeline(arch.build({}), scorers=SCORERS, engines=())


def _check_pair(arch: Architecture, key: str, value: Any, path: Path_, where: Where) -> None:
    """Checks the pipeline loader cannot make on a knob: minimum counts, engine specs, oracle scorers."""
    if arch.strategy is None and key in MINIMUM and value < MINIMUM[key]:
        raise where.error(path, f"{key} must be >= {MINIMUM[key]}, got {value}")
    if key in SCORER_KEYS and value in BENCH_SCORERS:
        raise where.error(
            path,
            f"{key}={value!r}: {value!r} is the benchmark's oracle (it reads the gold answer or the problem's own "
            f"tests), so it would win the search and could not run outside `ponder bench`; name a scorer a run has: "
            f"{', '.join(sorted(SCORERS))}",
        )
    if key.endswith("model") and value is not None and not is_spec(value):
        raise where.error(
            path, f"model {value!r}: give an engine spec (openai:URL#MODEL, llama:MODEL) or null for the run's engine"
        )


def _problem(message: str) -> str:
    """A pipeline loader's message without the built config's own location (``pipeline: layers[0]: ``)."""
    return _LOCATION.sub("", message)


_LOCATION = re.compile(r"^pipeline(: (layers|name|description)[\w\[\].]*)?: ")


def _short(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _kind(value: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean", int: "an integer"}.get(
        type(value), "nothing" if value is None else type(value).__name__
    )
