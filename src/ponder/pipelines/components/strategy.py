"""Any registered strategy as a component (e.g. self-consistency, best-of-n, particle filtering).

The strategy runs to its end inside the layer on a step context of its own: the run's engine, or
the one its ``model`` names (metered for the run too), the run's scorers, ``budget`` generations
(fewer when the run has fewer left), its own ``temperature`` when set (else the run's), what is
left of the run's token and time budgets (over them, it stops with its best answer so far) and a
seed derived from the run's and the component's first sample identity, so its samples differ from
the other components'. It contributes the candidate
behind its answer (``keep: answer``) or all its candidates (``keep: all``), renumbered into the
pipeline's sample identities; its own trace goes into the layer's trace. Strategies are found by
name through the lookup the pipeline loader is given (:func:`ponder.registry.load_pipeline` hands
down the registry's), so a bad name or option fails when the config is read. (With ``keep: all``,
a strategy that ends with more candidates than generations contributes the first ones, one per
generation.)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from ponder.context import StepContext
from ponder.core.params import check, param
from ponder.core.result import Candidate
from ponder.core.seeding import derive_seed
from ponder.pipelines.components.base import MODEL_HELP, Slot, check_model
from ponder.pipelines.state import Output, PipelineState
from ponder.strategies.base import StrategyLookup
from ponder.strategies.runner import StrategyRun


@dataclass(frozen=True)
class StrategyParams:
    name: str = field(metadata={"help": "a registered strategy (see `ponder strategies`)"})
    options: Mapping[str, Any] = field(default_factory=dict, metadata={"help": "the strategy's own parameters"})
    budget: int = param(4, "generations the strategy may spend")
    keep: Literal["answer", "all"] = param("answer", "contribute the answer's candidate, or all candidates")
    temperature: float | None = param(None, "the strategy's sampling temperature [default: the run's]")
    model: str | None = param(None, MODEL_HELP + "; its scorers judge on the run's scorer engine")

    def __post_init__(self) -> None:
        check_model(self.model)
        check(self.budget >= 1, f"budget must be >= 1, got {self.budget}")
        check(self.temperature is None or self.temperature >= 0, f"temperature must be >= 0, got {self.temperature}")


class StrategyComponent:
    """Runs a whole strategy; its answer (or all its candidates) join the layer's candidates."""

    kind: ClassVar[str] = "strategy"
    summary: ClassVar[str] = "runs any registered strategy as one component"
    Params: ClassVar[type] = StrategyParams
    creates: ClassVar[bool] = True
    needs_candidates: ClassVar[bool] = False

    def __init__(self, params: StrategyParams, strategies: StrategyLookup) -> None:
        self.params = params
        self.algorithm = strategies(params.name, params.options)  # unknown names and bad options fail at load time

    def need(self, state: PipelineState) -> int:
        return self.params.budget

    def estimate(self, candidates: int) -> tuple[int, int]:
        return self.params.budget, 1 if self.params.keep == "answer" else self.params.budget

    def context(self, slot: Slot) -> StepContext:
        """The strategy's own context: the slot's engine (the run's, or the one ``model`` names), the
        run's scorers and settings (with its own temperature, when set), its own budget (with what
        is left of the run's token and time budgets, so it stops with its best answer) and seed."""
        outer = slot.ctx
        temperature = outer.settings.temperature if self.params.temperature is None else self.params.temperature
        settings = dataclasses.replace(
            outer.settings, seed=derive_seed(outer.settings.seed, slot.first_index), temperature=temperature
        )
        return outer.child(slot.allowed, settings, own_identities=True)

    async def run(self, state: PipelineState, slot: Slot) -> Output:
        ctx = self.context(slot)
        result = await StrategyRun(self.algorithm, ctx).run()
        candidates = list(result.candidates)
        if self.params.keep == "answer" and result.answer is not None:
            candidates = [_best_with(candidates, result.answer, ctx)]
        # renumbered into this component's sample identities (at most one candidate per generation)
        candidates = [
            dataclasses.replace(c, index=slot.first_index + i) for i, c in enumerate(candidates[: slot.allowed])
        ]
        info = {
            "strategy": self.params.name,
            "answer": result.answer,
            "stop_reason": result.stop_reason,
            "generations": ctx.ledger.spent,
            "trace": result.trace,
        }
        return Output(candidates=tuple(candidates), info=info)


def _best_with(candidates: list[Candidate], answer: str, ctx: StepContext) -> Candidate:
    """The top-scored (else first) candidate whose answer is equivalent to ``answer``."""
    matching = [c for c in candidates if c.answer is not None and ctx.task.equivalent(c.answer, answer)]
    return max(matching, key=lambda c: c.score if c.score is not None else float("-inf")) if matching else candidates[0]
