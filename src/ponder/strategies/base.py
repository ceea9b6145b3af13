"""The strategy shape: one base class, the step record, and the protocol plug-ins follow.

A strategy (BlackJAX style) is a class with a frozen ``Params`` dataclass and four small pieces
over an explicit state: ``init(ctx) -> state``; ``async step(state, ctx) -> (state, StepInfo)``,
the only piece that calls engines or scorers (through the
:class:`~ponder.context.StepContext`, whose ledger is the one thing that spends);
``done(state, ctx)``; and ``decide(state, ctx)``, the best answer so far, callable after any
step. :class:`~ponder.strategies.runner.StrategyRun` owns the loop, the budget's limits and the
trace (each entry gets the step's usage from the ledger).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from ponder.context import StepContext
from ponder.core.decision import Decision
from ponder.core.params import NoParams, build_params
from ponder.core.temperature import SEVERAL_TEMPERATURE, sampling_temperature

S = TypeVar("S")
P = TypeVar("P")

StrategyLookup = Callable[[str, Mapping[str, Any]], "Algorithm[Any]"]
"""Finds a strategy by name with its options (the registry's ``get_strategy``): handed down to
what runs strategies by name (a pipeline's ``strategy`` components) by the layer above."""


@dataclass(frozen=True)
class StepInfo:
    """What one step did, for the trace: its ``action`` and the details worth keeping (JSON
    values). The runner adds the step number and its usage."""

    action: str
    details: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"action": self.action, **self.details}


def step_info(action: str, **details: Any) -> StepInfo:
    """``StepInfo(action, details)`` written as a call."""
    return StepInfo(action, details)


class Algorithm(Protocol[S]):
    """The shape every strategy has, plug-ins included (see the module docstring)."""

    name: ClassVar[str]
    summary: ClassVar[str]
    Params: ClassVar[type]
    params: Any

    def init(self, ctx: StepContext) -> S: ...

    async def step(self, state: S, ctx: StepContext) -> tuple[S, StepInfo]: ...

    def done(self, state: S, ctx: StepContext) -> bool: ...

    def decide(self, state: S, ctx: StepContext) -> Decision: ...


class AlgorithmClass(Protocol):
    """A strategy class as a registry holds it: its ``Params``, and called with them it makes the strategy."""

    Params: type

    def __call__(self, params: Any, /) -> Algorithm[Any]: ...


class Strategy(ABC, Generic[P, S]):
    """The base of the built-in strategies: parameters (``Params()`` when none are given, or
    :meth:`from_options` from ``key=value`` options) and the temperature rule."""

    name: ClassVar[str]
    summary: ClassVar[str]
    Params: ClassVar[type] = NoParams
    default_temperature: ClassVar[float] = SEVERAL_TEMPERATURE  # the paper's, when the run sets none

    def __init__(self, params: P | None = None) -> None:
        self.params: P = params if params is not None else self.Params()

    @classmethod
    def from_options(cls, options: Mapping[str, Any] | None) -> Strategy[P, S]:
        """The strategy with its parameters set from user options (strings are converted)."""
        return cls(build_params(cls.Params, options))

    def temperature(self, ctx: StepContext, n: int | None = None) -> float:
        """The sampling temperature: the run's, else this strategy's default (0 for a lone
        sample when ``n`` is given; see :func:`~ponder.core.temperature.sampling_temperature`)."""
        return sampling_temperature(ctx.settings.temperature, n=n, default=self.default_temperature)

    @abstractmethod
    def init(self, ctx: StepContext) -> S: ...

    @abstractmethod
    async def step(self, state: S, ctx: StepContext) -> tuple[S, StepInfo]: ...

    @abstractmethod
    def done(self, state: S, ctx: StepContext) -> bool: ...

    @abstractmethod
    def decide(self, state: S, ctx: StepContext) -> Decision: ...
