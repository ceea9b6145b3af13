"""Any registered strategy as a component (e.g. self-consistency, best-of-n, particle filtering).

The strategy runs to its end inside the layer on a step context of its own: the run's engine,
or the one its ``model`` names (metered for the run too), the run's scorers, ``budget`` generations (fewer when the run has
fewer left), what is left of the run's token and time budgets (over them, it stops with its
best answer so far) and a seed derived from the run's and the component's first sample identity, so
its samples differ from the other components'. It contributes the candidate behind its answer
(``keep: answer``) or all its candidates (``keep: all``), renumbered into the pipeline's
sample identities; its own trace goes into the layer's trace. (With ``keep: all``, a strategy that ends with more
candidates than generations contributes the first ones, one per generation.)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Mapping

from ponder.pipelines.components.base import MODEL_HELP, Slot, check_model
from ponder.pipelines.state import Output, PipelineState
from ponder.result import Candidate
from ponder.seeding import derive_seed
from ponder.strategies.core import StepContext
from ponder.strategies.params import check, param
from ponder.strategies.runner import StrategyRun


@dataclass(frozen=True)
class StrategyParams:
    name: str = field(metadata={"help": "a registered strategy (see `ponder strategies`)"})
    options: Mapping[str, Any] = field(default_factory=dict, metadata={"help": "the strategy's own parameters"})
    budget: int = param(4, "generations the strategy may spend")
    keep: Literal["answer", "all"] = param("answer", "contribute the answer's candidate, or all candidates")
    model: str | None = param(None, MODEL_HELP + "; its scorers judge on the run's scorer engine")

    def __post_init__(self) -> None:
        check_model(self.model)
        check(self.budget >= 1, f"budget must be >= 1, got {self.budget}")
        algorithm(self.name, self.options)  # unknown names and bad options fail at load time


def algorithm(name: str, options: Mapping[str, Any]) -> Any:
    """The registered strategy ``name`` with ``options`` (the registry is imported here because
    it lists the pipeline strategy, which imports this module)."""
    from ponder.strategies.registry import get_strategy

    return get_strategy(name, options)


class StrategyComponent:
    """Runs a whole strategy; its answer (or all its candidates) join the layer's candidates."""

    kind: ClassVar[str] = "strategy"
    summary: ClassVar[str] = "runs any registered strategy as one component"
    Params: ClassVar[type] = StrategyParams
    creates: ClassVar[bool] = True
    needs_candidates: ClassVar[bool] = False

    def __init__(self, params: StrategyParams) -> None:
        self.params = params

    def need(self, state: PipelineState) -> int:
        return self.params.budget

    def estimate(self, candidates: int) -> tuple[int, int]:
        return self.params.budget, 1 if self.params.keep == "answer" else self.params.budget

    def context(self, slot: Slot) -> StepContext:
        """The strategy's own context: the slot's engine (the run's, or the one ``model`` names), the
        run's scorers and settings, its own budget (with what
        is left of the run's token and time budgets, so it stops with its best answer) and seed."""
        outer = slot.ctx
        settings = dataclasses.replace(outer.settings, seed=derive_seed(outer.settings.seed, slot.first_index))
        return outer.child(slot.allowed, settings)

    async def run(self, state: PipelineState, slot: Slot) -> Output:
        ctx = self.context(slot)
        run = StrategyRun(algorithm(self.params.name, self.params.options), ctx)
        result = await run.run()
        slot.ctx.generations += ctx.generations
        candidates = list(result.candidates)
        if self.params.keep == "answer" and result.answer is not None:
            candidates = [_best_with(candidates, result.answer, ctx)]
        # renumbered into this component's sample identities (at most one candidate per generation)
        candidates = [dataclasses.replace(c, index=slot.first_index + i)
                      for i, c in enumerate(candidates[:slot.allowed])]
        info = {"strategy": self.params.name, "answer": result.answer, "stop_reason": result.stop_reason,
                "generations": ctx.generations, "trace": result.trace}
        return Output(candidates=tuple(candidates), info=info)


def _best_with(candidates: list[Candidate], answer: str, ctx: StepContext) -> Candidate:
    """The top-scored (else first) candidate whose answer is equivalent to ``answer``."""
    matching = [c for c in candidates if c.answer is not None and ctx.task.equivalent(c.answer, answer)]
    return max(matching, key=lambda c: c.score if c.score is not None else float("-inf")) if matching else candidates[0]
