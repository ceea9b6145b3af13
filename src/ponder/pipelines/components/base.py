"""The component contract and the small pieces components share.

A component is a class with a frozen ``Params`` dataclass (its config keys), a ``kind`` (its
``type:`` in the config), and:

- ``need(state)``: generations it wants for this input (the layer shares out what is left);
- ``estimate(n)``: ``(generations, candidates out)`` at most, for ``n`` candidates in (sizes
  the default budget of a pipeline); ``None`` out for a component that adds no candidates;
- ``async run(state, slot)``: its :class:`~ponder.pipelines.state.Output`.

``slot`` is the component's own :class:`Slot`: a step context metering only this component
(its usage goes to the trace; the run's context counts it too), the generations it may spend,
and the first sample identity it may use (so concurrent components never draw the same sample).

A component that calls a model may have a ``model`` key (:data:`MODEL_HELP`, checked by
:func:`check_model`): its slot's context then generates on that engine (see
:mod:`ponder.engines.named`); without one it uses the run's engine.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from ponder.context import StepContext
from ponder.core.errors import InvalidInputError
from ponder.core.result import Candidate
from ponder.engines.named import is_spec, parse_engine_spec
from ponder.pipelines.state import Output, PipelineState


@dataclass(frozen=True)
class Slot:
    """What one component may use in one layer: a sub-context whose ledger holds its
    generations and its range of sample identities (from ``first_index`` on)."""

    ctx: StepContext
    allowed: int

    @property
    def first_index(self) -> int:
        return self.ctx.ledger.first_identity


class Component(Protocol):
    """See the module docstring."""

    kind: ClassVar[str]
    summary: ClassVar[str]
    Params: ClassVar[type]
    creates: ClassVar[bool]  # makes new candidates (a pipeline must start with one of these)
    needs_candidates: ClassVar[bool]  # works on the candidates of earlier layers
    params: Any

    def __init__(self, params: Any) -> None: ...

    def need(self, state: PipelineState) -> int: ...

    def estimate(self, candidates: int) -> tuple[int, int | None]: ...

    async def run(self, state: PipelineState, slot: Slot) -> Output: ...


MODEL_HELP = (
    "engine: a name passed as engines={...} or a spec ENGINE:TARGET[?KEY=VALUE&...] such as "
    "openai:BASE_URL[#MODEL] or llama:MODEL (see `ponder engines`) [default: the run's engine]"
)


def check_model(model: str | None) -> None:
    """A ``model`` key is unset, the name of an engine passed to the run (checked when the run
    is planned, against the names passed) or a valid engine spec (checked here)."""
    if model is None:
        return
    if not model.strip():
        raise InvalidInputError("model must not be empty (leave it out to use the run's engine)")
    if is_spec(model):
        try:
            parse_engine_spec(model)
        except InvalidInputError as exc:
            raise InvalidInputError(f"model {exc}") from None


def temperature_for(ctx: StepContext, given: float | None, n: int) -> float:
    """A component's temperature for ``n`` samples of one prompt: its own, else the run's, else
    the one rule (0 for one sample, 0.8 for several: at 0 they would all be the same)."""
    return given if given is not None else ctx.temperature(n=max(n, 1))


def numbered(state: PipelineState, candidates: Sequence[Candidate]) -> str:
    """Candidates as ``[1] text`` blocks, each followed by its critiques, for fusers and rankers."""
    blocks = []
    for number, candidate in enumerate(candidates, 1):
        block = f"[{number}] {candidate.text.strip()}"
        for critique in state.critiques_of(candidate):
            block += f"\nCritique of [{number}]: {critique.strip()}"
        blocks.append(block)
    return "\n\n".join(blocks)
