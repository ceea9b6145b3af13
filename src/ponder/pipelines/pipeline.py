"""Pipelines (Archon; Saad-Falcon et al. 2024): layers of generate, critique, rank, fuse, verify
and unit-test components composed from a config file, run as one strategy.

Algorithm: the state (candidates, critiques, tests) starts empty; each step runs one layer: its
components run concurrently on the same input state, each on a step context of its own (so its
tokens, calls and seconds are metered apart and appear in the trace; the run counts them too).
A component with a ``model`` key generates on that engine instead of the run's: an engine the
caller passed under that name, else one created from the spec on first use and closed when
the run ends (:mod:`ponder.engines.named`); its use counts once in the run's usage and tokens.
The layer's candidates are those its components contribute (generators, fusers, strategies add
new ones; rankers, verifiers, test evaluators pass on the ones they keep), or its input
candidates when none contributes (a layer of critics or test generators). The answer is that of
the top-scored candidate when every current candidate has a score, else the majority vote over
the current candidates; none when a verifier rejected them all.

Budget: the generations left are shared out among a layer's components in config order
(``need`` each); a component that needs generations and gets none is skipped (its input passes
on), one that gets fewer does less (a generator draws fewer samples, a critic critiques the
first candidates). Each layer is a checkpoint: over the token or time budget the run stops with
the best candidate of the last finished layer. A pipeline's default budget is the most it can
spend (:meth:`PipelineConfig.generations`).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from typing import Any, ClassVar

from ponder.context import StepContext
from ponder.core.decision import Decision
from ponder.core.result import Candidate
from ponder.core.usage import Usage
from ponder.core.voting import best_scored, vote
from ponder.pipelines.components import Component, Slot
from ponder.pipelines.config import PipelineConfig, load_pipeline
from ponder.pipelines.state import Output, PipelineState
from ponder.strategies.base import StepInfo, Strategy, step_info

DEFAULT_PIPELINE: dict[str, Any] = {
    "name": "generate-critique-fuse",
    "layers": [{"type": "generator", "samples": 2}, {"type": "critic"}, {"type": "fuser"}],
}


@dataclass(frozen=True)
class PipelineParams:
    """None: a pipeline comes from its config (``--pipeline FILE``, ``ponder.solve(pipeline=...)``),
    never from a strategy option, so a server client cannot make the server read a file."""


class Pipeline(Strategy[PipelineParams, PipelineState]):
    """Runs a :class:`PipelineConfig` one layer per step (see the module docstring)."""

    name: ClassVar[str] = "pipeline"
    summary: ClassVar[str] = (
        "layers of generate/critique/rank/fuse/verify/unit-test components; "
        "--pipeline FILE (by name: 2 drafts, critique each, fuse)"
    )
    Params: ClassVar[type] = PipelineParams

    def __init__(self, params: PipelineParams | None = None, config: PipelineConfig | None = None) -> None:
        super().__init__(params)
        self.config = config or load_pipeline(DEFAULT_PIPELINE)

    def init(self, ctx: StepContext) -> PipelineState:
        return PipelineState()

    async def step(self, state: PipelineState, ctx: StepContext) -> tuple[PipelineState, StepInfo]:
        number = state.layers_done
        layer = self.config.layers[number]
        plans, left = [], ctx.ledger.remaining()
        for component in layer.components:  # shares out the generations and identities, in config order
            need = component.need(state)
            allowed = min(need, left)
            plans.append((component, need, allowed, self._slot(ctx, component, need, allowed)))
            left -= allowed
        try:
            async with asyncio.TaskGroup() as group:  # a failing component cancels the others
                tasks = [group.create_task(self._run(state, *plan)) for plan in plans]
        except BaseExceptionGroup as failed:  # the first failure, as itself (a PonderError stays one)
            raise failed.exceptions[0] from None
        results = [task.result() for task in tasks]
        outputs = [output for output, _, _ in results]
        produced = [output.candidates for output in outputs if output.candidates is not None]
        candidates = _unique(c for group in produced for c in group) if produced else state.candidates
        new = tuple(c for c in candidates if c.index >= state.next_index)
        judged = {c.index: c for output in outputs for c in output.scored}
        seen = tuple(judged.get(c.index, c) for c in state.seen) + new
        tests = state.tests + tuple(t for output in outputs for t in output.tests)
        after = PipelineState(
            layers_done=number + 1,
            candidates=candidates,
            critiques=state.critiques + tuple(k for output in outputs for k in output.critiques),
            tests=tuple(dict.fromkeys(tests)),
            seen=seen,
            next_index=ctx.ledger.next_identity,
        )
        info = step_info(
            "layer",
            layer=number + 1,
            name=layer.name,
            pipeline=self.config.name,
            candidates=[c.index for c in candidates],
            components=[
                {"type": component.kind, "generations": spent, "usage": usage.to_dict(), **output.info}
                for (component, *_), (output, spent, usage) in zip(plans, results, strict=True)
            ],
        )
        return after, info

    @staticmethod
    def _slot(ctx: StepContext, component: Component, need: int, allowed: int) -> Slot | None:
        """The component's slot: a sub-context on a child ledger (its own use is metered there,
        and charged to the run as it spends) holding ``allowed`` generations and as many sample
        identities; none for a component that needs generations and gets none."""
        if need > 0 and allowed == 0:
            return None
        model = getattr(component.params, "model", None)
        engine = ctx.named_engine(model) if model else None
        return Slot(ctx.child(allowed, engine=engine), allowed)

    async def _run(
        self, state: PipelineState, component: Component, need: int, allowed: int, slot: Slot | None
    ) -> tuple[Output, int, Usage]:
        """One component's output, the generations it spent and its usage."""
        if slot is None:
            return Output(info={"skipped": f"needs {need} generations, none left"}), 0, Usage()
        output = await component.run(state, slot)
        model = getattr(component.params, "model", None)
        if model:
            output = replace(output, info={"model": model, **output.info})
        return output, slot.ctx.ledger.spent, slot.ctx.usage()

    def done(self, state: PipelineState, ctx: StepContext) -> bool:
        return state.layers_done >= len(self.config.layers)

    def decide(self, state: PipelineState, ctx: StepContext) -> Decision:
        current = {c.index: c for c in state.candidates}
        everything = tuple(current.get(c.index, c) for c in state.seen)
        if not state.candidates:
            return Decision(answer=None, candidates=everything, votes={})
        answered = [c for c in state.candidates if c.answer is not None]
        scored = bool(answered) and all(c.score is not None for c in answered)
        decision = best_scored(state.candidates, ctx.task) if scored else vote(state.candidates, ctx.task)
        return Decision(answer=decision.answer, candidates=everything, votes=decision.votes)


def _unique(candidates: Any) -> tuple[Candidate, ...]:
    """Candidates in order, the first of each sample identity kept."""
    kept: dict[int, Candidate] = {}
    for candidate in candidates:
        kept.setdefault(candidate.index, candidate)
    return tuple(kept.values())
