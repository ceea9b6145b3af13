"""The library's front door: ``ponder.solve`` / ``ponder.asolve``, and ``ponder.start`` to step a run."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import inspect
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ponder.answers import AnswerTask, get_task
from ponder.context import StepContext
from ponder.context.interrupts import Interrupts, InterruptSettings
from ponder.core.budget import Budget
from ponder.core.errors import BackendUnavailableError, EngineTimeoutError, InvalidInputError, PonderError
from ponder.core.result import SolveResult
from ponder.core.settings import DEFAULT_SYSTEM_PROMPT, SolveSettings
from ponder.core.text import check_text
from ponder.core.usage import Usage
from ponder.engines.base import Engine, Message
from ponder.engines.registry import DEFAULT_ENGINE, create_engine
from ponder.memory import Memory, Recall, Written
from ponder.pipelines import Pipeline, PipelineParams
from ponder.registry import get_strategy, load_pipeline
from ponder.scorers import SCORERS, Scorer
from ponder.strategies import Algorithm, StrategyRun
from ponder.strategies.linc import format_problem

MemoryArgument = Memory | str | Path
"""What ``memory=`` takes: a :class:`~ponder.memory.Memory`, or a memory file's path (opened for
the call with the default settings, and closed after it)."""
Verify = Callable[[SolveResult], bool | Awaitable[bool | None] | None]
"""A caller's check of a run's answer (``True`` right, ``False`` wrong, ``None`` unknown); it may be async."""


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
    recall: Recall | None = None  # what a memory put into the system prompt (see :meth:`recalling`)

    async def recalling(self, memory: Memory, engine: Engine) -> RunPlan:
        """This plan with the concepts ``memory`` selects for its question after its system prompt
        (``memory.read`` on ``engine``, seeded by the plan's seed); the read is kept in
        :attr:`recall`, for :meth:`remember` and the trace. Start the returned plan."""
        recall = await memory.read(self.question, engine, seed=self.settings.seed)
        prompt = memory.system_prompt(self.settings.system_prompt, recall)
        settings = dataclasses.replace(self.settings, system_prompt=prompt)
        return dataclasses.replace(self, settings=settings, recall=recall)

    async def remember(
        self,
        result: SolveResult,
        memory: Memory,
        engine: Engine,
        *,
        verified: bool | None = None,
        source: str | None = None,
    ) -> SolveResult:
        """After a run of this plan: count the use (and success) of the concepts it was given,
        let ``memory`` write what the run teaches when its policy allows, and return ``result``
        with ``memory.read`` first and ``memory.write`` last in its trace and their tokens added
        to its usage (each entry also lists its own usage). ``verified``: whether the answer was
        checked right (``True``) or wrong (``False``); ``None`` looks for an exact verifier the
        run itself executed (:func:`verified_by_run`), else leaves the decision to the memory's
        write policy (``confident``: the vote share). ``source`` names where concepts came from
        (a problem id; a hash of the question by default). A failed write (the abstraction does
        not fit the context, say) is recorded in the trace and the answer kept; an engine that
        cannot serve at all raises."""
        if verified is None:
            verified = verified_by_run(result, self.scorers)
        try:
            written = await memory.write(
                self.question, result, engine, verified=verified, source=source, seed=self.settings.seed
            )
        except (BackendUnavailableError, EngineTimeoutError):
            raise
        except PonderError as exc:
            written = Written((), (), Usage(), {"event": "memory.write", "decision": "error", "reason": str(exc)})
        if self.recall is not None:  # right after the write, with no await between: both or neither
            memory.record_outcome(self.recall, verified)
        return with_memory_trace(result, self.recall, written, verified)

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
    token cap and the notes). Other keyword arguments are those of :func:`plan`.

    With a memory, read it before starting and write after (this function is synchronous and
    cannot read): ``p = await plan(question).recalling(memory, engine)``, ``run = p.start(engine)``,
    then ``result = await p.remember(await run.run(), memory, engine)``."""
    if "memory" in run_options:
        raise InvalidInputError(
            "ponder.start cannot read a memory (it is synchronous): use `p = await ponder.plan(question, "
            "...).recalling(memory, engine)`, `p.start(engine)`, then `await p.remember(result, memory, engine)`"
        )
    return plan(question, **run_options).start(engine, scorer_engine, interrupt_settings=interrupt_settings)


async def asolve(
    question: str,
    *,
    engine: Engine | str | None = None,
    model: str | None = None,
    engine_options: Mapping[str, Any] | None = None,
    scorer_engine: Engine | None = None,
    memory: MemoryArgument | None = None,
    verify: Verify | None = None,
    memory_source: str | None = None,
    **run_options: Any,
) -> SolveResult:
    """Answer ``question``; the keyword arguments of :func:`plan` choose strategy and budget.

    ``engine`` is an engine instance (reused, not closed: the fast way to solve many questions)
    or an engine name (default: the embedded llama.cpp engine, created for this call and closed
    after it, with ``model`` and ``engine_options``). Judges use ``scorer_engine`` when given,
    else the same engine. A pipeline's components with ``model:`` use ``engines=`` (see :func:`plan`).

    ``memory`` (a :class:`~ponder.memory.Memory`, or a memory file's path, opened for this call
    and closed after) puts the concepts it selects for the question into the system prompt before
    the run, and afterwards writes what the run teaches when its write policy allows
    (:meth:`RunPlan.remember`): a run is verified by ``verify(result)`` when given (a check of
    your own, e.g. against a known answer), else by an exact verifier the run executed (a
    ``UnitTestVerifier`` or ``ExactChecker`` the strategy scored with); unverified runs write only
    under ``write="confident"``. ``memory_source`` names the question for the concepts it teaches.
    The trace holds ``memory.read`` first and ``memory.write`` last; their tokens are in the usage.
    """
    checked = plan(question, **run_options)  # before any model is loaded
    if memory is None and (verify is not None or memory_source is not None):
        raise InvalidInputError("`verify` and `memory_source` apply to a run with `memory=`")
    if not isinstance(engine, (str, type(None))) and (model is not None or engine_options):
        raise InvalidInputError("`model` and `engine_options` apply when ponder creates the engine")
    with using_memory(memory) as remembering:  # a memory file that cannot be used fails before a model loads
        if not isinstance(engine, (str, type(None))):
            return await run_plan(checked, engine, scorer_engine, remembering, verify, memory_source)
        backend = open_engine(engine, model=model, engine_options=engine_options)
        try:
            return await run_plan(checked, backend, scorer_engine, remembering, verify, memory_source)
        finally:
            await backend.aclose()


async def run_plan(
    checked: RunPlan,
    engine: Engine,
    scorer_engine: Engine | None = None,
    memory: Memory | None = None,
    verify: Verify | None = None,
    source: str | None = None,
) -> SolveResult:
    """Run ``checked`` to the end on ``engine`` (not interruptible), reading ``memory`` before and
    writing it after when one is given (see :func:`asolve`)."""
    if memory is None:
        return await checked.start(engine, scorer_engine, interruptible=False).run()
    recalled = await checked.recalling(memory, engine)
    result = await recalled.start(engine, scorer_engine, interruptible=False).run()
    verified = None
    if verify is not None:
        verdict = verify(result)
        verified = await verdict if inspect.isawaitable(verdict) else verdict
    return await recalled.remember(result, memory, engine, verified=verified, source=source)


@contextlib.contextmanager
def using_memory(memory: MemoryArgument | None) -> Iterator[Memory | None]:
    """``memory`` as a :class:`~ponder.memory.Memory` for one call: one passed in is used as it
    is (the caller closes it); a path is opened here and closed on leaving."""
    if memory is None or isinstance(memory, Memory):
        yield memory
        return
    if not isinstance(memory, (str, Path)):
        raise InvalidInputError(f"memory must be a ponder.memory.Memory or a file path, got {type(memory).__name__}")
    opened = Memory(memory)
    try:
        yield opened
    finally:
        opened.close()


def verified_by_run(result: SolveResult, scorers: Mapping[str, Scorer]) -> bool | None:
    """What an exact verifier the run executed says of its answer: the strategy's ``scorer`` was
    one passed by the caller whose info says ``verifier`` and ``exact`` (unit tests, a gold
    checker), and it scored the candidates stating the winning answer: ``True`` when one of them
    scored 1, ``False`` when none did; ``None`` otherwise (no such verifier, learned judges)."""
    name = result.params.get("scorer")
    scorer = scorers.get(name) if isinstance(name, str) else None
    if scorer is None or result.answer is None or not (scorer.info.exact and scorer.info.kind == "verifier"):
        return None
    scores = [c.score for c in result.candidates if c.answer == result.answer and c.score is not None]
    return max(scores) >= 1.0 if scores else None


def with_memory_trace(
    result: SolveResult, recall: Recall | None, written: Written, verified: bool | None
) -> SolveResult:
    """``result`` with the memory's entries in its trace (``memory.read`` as step 0, ``memory.write``
    after the last step) and their usage added to its own."""
    last = max((int(entry.get("step", 0)) for entry in result.trace), default=0)
    write = {"step": last + 1, "action": "memory.write", **written.trace, "verified": verified}
    read = [{"step": 0, "action": "memory.read", **recall.trace}] if recall is not None else []
    spent = written.usage + (recall.usage if recall is not None else Usage())
    return dataclasses.replace(result, trace=[*read, *result.trace, write], usage=result.usage + spent)


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
