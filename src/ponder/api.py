"""The library's front door: ``ponder.solve`` / ``ponder.asolve``, and ``ponder.start`` to step a run."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ponder.answers import AnswerTask, get_task
from ponder.context import StepContext
from ponder.context.interrupts import Interrupts, InterruptSettings
from ponder.core.budget import Budget
from ponder.core.errors import InvalidInputError
from ponder.core.result import SolveResult
from ponder.core.settings import DEFAULT_SYSTEM_PROMPT, SolveSettings
from ponder.core.text import check_text
from ponder.engines.base import Engine, Message
from ponder.engines.registry import DEFAULT_ENGINE, create_engine
from ponder.pipelines import Pipeline, PipelineParams
from ponder.registry import get_strategy, load_pipeline
from ponder.scorers import SCORERS, Scorer
from ponder.strategies import Algorithm, StrategyRun
from ponder.strategies.linc import format_problem


@dataclass(frozen=True)
class RunPlan:
    """Everything a run needs except engines, validated."""

    question: str
    algorithm: Algorithm[Any]
    settings: SolveSettings
    budget: Budget
    task: AnswerTask
    history: tuple[Message, ...] = ()
    scorers: Mapping[str, Scorer] = field(default_factory=dict)
    engines: Mapping[str, Engine] = field(default_factory=dict)

    def start(
        self,
        engine: Engine,
        scorer_engine: Engine | None = None,
        *,
        interruptible: bool = True,
        interrupt_settings: InterruptSettings | None = None,
    ) -> StrategyRun:
        """A run of this plan on ``engine``. ``interruptible`` lets interrupts reach the samples of
        every strategy (``ctx.sample`` then draws through the engine's stream where that returns
        the same samples); without it they reach streamed samples only (DeepConf, adaptive
        self-consistency). ``interrupt_settings``: answer cue, token caps and notes
        (:class:`~ponder.context.interrupts.InterruptSettings`)."""
        interrupts = Interrupts(interrupt_settings or InterruptSettings(), streams=interruptible)
        ctx = StepContext(
            self.question,
            engine,
            self.settings,
            self.task,
            self.budget,
            scorer_engine=scorer_engine,
            history=self.history,
            scorers=self.scorers,
            engines=self.engines,
            interrupts=interrupts,
        )
        return StrategyRun(self.algorithm, ctx)


def plan(
    question: str,
    *,
    strategy: str = "self-consistency",
    options: Mapping[str, Any] | None = None,
    budget: int | None = None,
    token_budget: int | None = None,
    time_budget: float | None = None,
    temperature: float | None = None,
    top_p: float = 1.0,
    max_tokens: int = 512,
    seed: int = 0,
    system_prompt: str | None = DEFAULT_SYSTEM_PROMPT,
    task: str | AnswerTask = "math",
    history: Sequence[Message] = (),
    scorers: Mapping[str, Scorer] | None = None,
    pipeline: str | Path | Mapping[str, Any] | None = None,
    engines: Mapping[str, Engine] | None = None,
) -> RunPlan:
    """Validate a run's arguments (a one-line :class:`~ponder.core.errors.PonderError` names any problem).

    ``budget`` counts generations, ``token_budget`` completion tokens, ``time_budget`` seconds;
    ``options`` are the strategy's own parameters (``ponder strategies`` lists them);
    ``task`` picks answer extraction and equivalence (``math``, ``choice``, ``label``);
    ``history`` holds earlier chat turns (user and assistant) asked before the question;
    ``scorers`` adds scorers by name for strategies with a ``scorer`` option (a
    ``UnitTestVerifier`` for a coding problem, an ``ExactChecker`` with a gold answer).
    ``pipeline`` (a YAML or JSON config file, or its dict) runs that pipeline instead of
    ``strategy``; ``budget`` defaults to 8 generations, or to what the pipeline can spend.
    ``engines`` names engines for the pipeline's ``model:`` keys (``{"judge": engine}``; used,
    not closed); a ``model:`` may instead be a spec (``openai:BASE_URL[#MODEL]``,
    ``llama:MODEL``) that the run creates and closes.
    """
    if not question or not question.strip():
        raise InvalidInputError("the question is empty")
    check_text(question, "the question")
    check_text(system_prompt or "", "the system prompt")
    for turn in history:
        check_text(turn.content, f"a {turn.role} message of the history")
    extra = dict(scorers or {})
    named = _check_engines(engines, pipeline)
    if pipeline is not None:
        if options:
            raise InvalidInputError("`options` set a strategy's parameters; a pipeline's come from its config")
        config = load_pipeline(pipeline, scorers={*SCORERS, *extra}, engines=set(named))
        algorithm: Algorithm[Any] = Pipeline(PipelineParams(), config)
    else:
        algorithm = get_strategy(strategy, options)
    if budget is None:
        budget = algorithm.config.generations() if isinstance(algorithm, Pipeline) else 8
    settings = SolveSettings(
        budget=budget,
        max_tokens=max_tokens,
        temperature=temperature,
        top_p=top_p,
        seed=seed,
        system_prompt=system_prompt,
    )
    wanted = getattr(algorithm.params, "scorer", None)
    if wanted and wanted not in SCORERS and wanted not in extra:
        raise InvalidInputError(f"unknown scorer {wanted!r}; available: {', '.join(sorted({*SCORERS, *extra}))}")
    return RunPlan(
        question=question,
        algorithm=algorithm,
        settings=settings,
        budget=Budget(generations=budget, tokens=token_budget, seconds=time_budget),
        task=get_task(task) if isinstance(task, str) else task,
        history=tuple(history),
        scorers=extra,
        engines=named,
    )


def _check_engines(engines: Mapping[str, Engine] | None, pipeline: object) -> dict[str, Engine]:
    """The engines a caller passed by name, checked: for a pipeline, under plain names, engines."""
    named = dict(engines or {})
    if named and pipeline is None:
        raise InvalidInputError("`engines` name engines for a pipeline's `model:` keys; pass them with `pipeline=`")
    for name, engine in named.items():
        if not isinstance(name, str) or not name or ":" in name:
            raise InvalidInputError(
                f"engine name {name!r}: use a plain name (names with ':' are engine specs, "
                "which a pipeline creates itself)"
            )
        if not callable(getattr(engine, "generate", None)):
            raise InvalidInputError(
                f"engines[{name!r}] is not an engine (got {type(engine).__name__}); pass an "
                "engine instance, or write a spec such as openai:BASE_URL in the pipeline"
            )
    return named


def start(
    question: str,
    engine: Engine,
    *,
    scorer_engine: Engine | None = None,
    interrupt_settings: InterruptSettings | None = None,
    **run_options: Any,
) -> StrategyRun:
    """A run to step (``await run.step()``) or finish (``await run.run()``); ``run.result()`` is
    the best answer so far at any moment. From any task or thread, ``run.interrupt("hard")``
    makes every live sample answer now from its partial reasoning, ``run.interrupt("soft")``
    tells them to conclude soon, ``run.update(text)`` gives live and later samples new
    information (:mod:`ponder.strategies.runner`; ``interrupt_settings`` tunes the answer cue, its
    token cap and the notes). Other keyword arguments are those of :func:`plan`."""
    return plan(question, **run_options).start(engine, scorer_engine, interrupt_settings=interrupt_settings)


async def asolve(
    question: str,
    *,
    engine: Engine | str | None = None,
    model: str | None = None,
    engine_options: Mapping[str, Any] | None = None,
    scorer_engine: Engine | None = None,
    **run_options: Any,
) -> SolveResult:
    """Answer ``question``; the keyword arguments of :func:`plan` choose strategy and budget.

    ``engine`` is an engine instance (reused, not closed: the fast way to solve many questions)
    or an engine name (default: the embedded llama.cpp engine, created for this call and closed
    after it, with ``model`` and ``engine_options``). Judges use ``scorer_engine`` when given,
    else the same engine. A pipeline's components with ``model:`` use ``engines=`` (see :func:`plan`).
    """
    checked = plan(question, **run_options)  # before any model is loaded
    if not isinstance(engine, (str, type(None))):
        if model is not None or engine_options:
            raise InvalidInputError("`model` and `engine_options` apply when ponder creates the engine")
        return await checked.start(engine, scorer_engine, interruptible=False).run()
    backend = open_engine(engine, model=model, engine_options=engine_options)
    try:
        return await checked.start(backend, scorer_engine, interruptible=False).run()
    finally:
        await backend.aclose()


def open_engine(
    engine: str | None = None, *, model: str | None = None, engine_options: Mapping[str, Any] | None = None
) -> Engine:
    """A new engine by name (default: the embedded llama.cpp engine) with ``model`` and
    ``engine_options``; the caller closes it (``await engine.aclose()``)."""
    options = dict(engine_options or {})
    if model is not None:
        options["model"] = model
    return create_engine(engine or DEFAULT_ENGINE, **options)


def solve(question: str, **options: Any) -> SolveResult:
    """Synchronous :func:`asolve` (same arguments); for use outside an event loop."""
    return asyncio.run(asolve(question, **options))


async def alinc(premises: Sequence[str], conclusion: str, **options: Any) -> SolveResult:
    """LINC on premises and a conclusion: True, False or Uncertain by majority over proved
    translations (``budget`` of them); the other keyword arguments are :func:`asolve`'s."""
    return await asolve(format_problem(list(premises), conclusion), strategy="linc", task="label", **options)


def linc(premises: Sequence[str], conclusion: str, **options: Any) -> SolveResult:
    """Synchronous :func:`alinc`."""
    return asyncio.run(alinc(premises, conclusion, **options))
