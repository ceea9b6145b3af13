"""Think-and-execute (Chung et al. 2024, "Language Models as Compilers: Simulating Pseudocode
Execution Improves Algorithmic Reasoning in Language Models").

Algorithm: **Think**, once per task: from a task description and a few examples of the task
(questions with their answers) the model writes task-level pseudocode: a plan that solves every
instance, with variables for intermediate results and ``print()`` calls that show them.
**Execute**, per instance: the model is given the pseudocode and the instance and simulates the
program step by step to a final answer; with more than one sample, the simulations' answers are
majority-voted (as in self-consistency).

The pseudocode (:mod:`ponder.strategies.pseudocode`) is cached per task, in process and on disk
(``~/.cache/ponder/think-and-execute/``, under ``$XDG_CACHE_HOME`` when set, or the folder the
``cache`` option names; ``cache=off`` keeps it in memory only), keyed by a hash of the task
description, the examples, the engine and model, and the Think settings. Writing it is counted in
the usage and trace of the run that wrote it, not in that run's generation budget (which counts
Execute samples); a run that finds it cached records 0 tokens for it.
:func:`~ponder.strategies.pseudocode.write_pseudocode` precomputes it from Python.

Without a ``task`` option the settings' system prompt describes the task; with neither a
description nor examples, the question itself is the task (pseudocode per question).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import ClassVar

from ponder.context import StepContext
from ponder.core.decision import Decision
from ponder.core.errors import InvalidInputError
from ponder.core.params import check, param
from ponder.core.result import Candidate
from ponder.core.voting import vote
from ponder.strategies.base import StepInfo, Strategy, step_info
from ponder.strategies.pseudocode import (
    Example,
    Pseudocode,
    awrite_pseudocode,
    cache_at,
    load_examples,
    read_text,
)

EXECUTE_PROMPT = (
    "{task}Below is pseudocode that solves this kind of problem. Simulate its execution on the "
    "input step by step: track the value of every variable and write what each print() shows. "
    "Then finish with 'The answer is' followed by the final answer.\n\nPseudocode:\n{pseudocode}"
)


@dataclass(frozen=True)
class ThinkAndExecuteParams:
    task: str = param("", "the task description for the Think step [default: the system prompt]")
    examples: str = param("", "worked examples: a .jsonl path or an inline JSON list of {question, answer}", local=True)
    pseudocode: str = param("", "a file of pseudocode to execute instead of writing it (skips Think)", local=True)
    cache: str = param(
        "",
        "folder of the pseudocode cache [default: ~/.cache/ponder/think-and-execute]; 'off': memory only",
        local=True,
    )
    think_tokens: int = param(0, "token limit of the Think step; 0: max_tokens")
    think_temperature: float = param(0.0, "temperature of the Think step")
    samples: int = param(0, "Execute simulations to vote over; 0: the whole budget")

    def __post_init__(self) -> None:
        check(self.think_tokens >= 0, f"think_tokens must be >= 0, got {self.think_tokens}")
        check(self.think_temperature >= 0, f"think_temperature must be >= 0, got {self.think_temperature}")
        check(self.samples >= 0, f"samples must be >= 0, got {self.samples}")


@dataclass(frozen=True)
class ThinkState:
    """The task's pseudocode (None before Think), the Execute samples, and whether they are in."""

    pseudocode: Pseudocode | None = None
    candidates: tuple[Candidate, ...] = ()
    finished: bool = False


class ThinkAndExecute(Strategy[ThinkAndExecuteParams, ThinkState]):
    """Write task pseudocode once (cached), then simulate it on each question (see the module docstring)."""

    name: ClassVar[str] = "think-and-execute"
    summary: ClassVar[str] = "task pseudocode written once from examples, simulated per question"
    Params: ClassVar[type] = ThinkAndExecuteParams

    def __init__(self, params: ThinkAndExecuteParams | None = None) -> None:
        super().__init__(params)
        self.examples = load_examples(self.params.examples)  # bad examples fail before any model loads
        self.given: str | None = None
        if self.params.pseudocode:
            path = Path(self.params.pseudocode).expanduser()
            if not path.is_file():
                raise InvalidInputError(f"pseudocode: no such file {self.params.pseudocode}")
            self.given = read_text(path, "pseudocode").strip()
            check(bool(self.given), f"pseudocode: {path} is empty")
        if self.params.cache and self.params.cache != "off":
            folder = Path(self.params.cache).expanduser()
            check(not folder.exists() or folder.is_dir(), f"cache: {folder} is not a folder")

    def init(self, ctx: StepContext) -> ThinkState:
        if self.given is not None:
            return ThinkState(Pseudocode(self.given, "", "file"))
        return ThinkState()

    def _task(self, ctx: StepContext) -> str:
        task = self.params.task.strip() or (ctx.settings.system_prompt or "").strip()
        return task if task or self.examples else ""

    async def step(self, state: ThinkState, ctx: StepContext) -> tuple[ThinkState, StepInfo]:
        if state.pseudocode is None:
            return await self._think(state, ctx)
        return await self._execute(state, ctx)

    async def _think(self, state: ThinkState, ctx: StepContext) -> tuple[ThinkState, StepInfo]:
        task, examples = self._task(ctx), self.examples
        if not task and not examples:  # nothing describes the task: the question is its own task
            examples = (Example(ctx.question),)
        written = await awrite_pseudocode(
            ctx.engine,
            task=task,
            examples=examples,
            max_tokens=self.params.think_tokens or ctx.settings.max_tokens,
            temperature=self.params.think_temperature,
            seed=ctx.settings.seed,
            cache=cache_at(self.params.cache),
        )
        info = step_info("think", source=written.source, key=written.key, pseudocode=written.text)
        return replace(state, pseudocode=written), info

    async def _execute(self, state: ThinkState, ctx: StepContext) -> tuple[ThinkState, StepInfo]:
        assert state.pseudocode is not None
        left = ctx.ledger.remaining()
        n = min(self.params.samples, left) if self.params.samples else left
        temperature = self.temperature(ctx, n=n)  # several simulations are voted; one is greedy
        task = self._task(ctx)
        system = EXECUTE_PROMPT.format(
            task=f"Task: {task}\n\n" if task else "", pseudocode=state.pseudocode.text or "(none was written)"
        )
        new = await ctx.sample(n, temperature=temperature, messages=ctx.messages(system))
        candidates = state.candidates + tuple(new)
        decision = vote(candidates, ctx.task)
        info = step_info(
            "execute", n=n, temperature=temperature, pseudocode=state.pseudocode.source, votes=decision.votes
        )
        return ThinkState(state.pseudocode, candidates, finished=True), info

    def done(self, state: ThinkState, ctx: StepContext) -> bool:
        return state.finished

    def decide(self, state: ThinkState, ctx: StepContext) -> Decision:
        return vote(state.candidates, ctx.task)
