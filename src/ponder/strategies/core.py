"""The strategy shape and what a step may use.

A strategy (BlackJAX style) is a class with a frozen ``Params`` dataclass and four small pieces
over an explicit state: ``init(ctx) -> state``; ``async step(state, ctx) -> (state, info)``, the
only piece that calls engines or scorers; ``done(state, ctx)``; and ``decide(state, ctx)``, the
best answer so far, callable after any step. :class:`~ponder.strategies.runner.StrategyRun`
owns the loop and the budget.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Mapping, Protocol, Sequence, TypeVar

from ponder.answers import AnswerTask
from ponder.engines.base import Completion, Engine, EngineCapabilities, EngineInfo, GenerationRequest, Message
from ponder.engines.named import NamedEngines
from ponder.errors import InvalidInputError
from ponder.result import Candidate
from ponder.scorers import Scorer, make_scorer
from ponder.seeding import derive_seed
from ponder.settings import SolveSettings
from ponder.usage import Usage, total

if TYPE_CHECKING:
    from ponder.scorers.prm import ProcessRewardModel

S = TypeVar("S")


@dataclass(frozen=True)
class Budget:
    """Limits on a run: generations (samples started), completion tokens, wall seconds.

    A step sizes its work by :meth:`StepContext.remaining_generations`, so generations are never
    exceeded. The runner checks tokens between steps (they may overshoot by at most one step) and
    cuts a step short when the seconds run out.
    """

    generations: int
    tokens: int | None = None
    seconds: float | None = None

    def __post_init__(self) -> None:
        if self.generations < 1:
            raise InvalidInputError(f"budget must be >= 1, got {self.generations}")
        if self.tokens is not None and self.tokens < 1:
            raise InvalidInputError(f"token budget must be >= 1, got {self.tokens}")
        if self.seconds is not None and not self.seconds > 0:
            raise InvalidInputError(f"time budget must be > 0 seconds, got {self.seconds}")


@dataclass(frozen=True)
class Decision:
    """A strategy's answer at some point: the answer, the candidates (with scores) and the votes."""

    answer: str | None
    candidates: tuple[Candidate, ...]
    votes: dict[str, float]


class MeteredEngine:
    """Wraps an engine and adds up what its calls cost (one engine call per batch)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.usage = Usage()

    @property
    def capabilities(self) -> EngineCapabilities:
        return self.engine.capabilities

    @property
    def info(self) -> EngineInfo:  # a remote engine learns its model name on first contact
        return self.engine.info

    async def generate(self, requests: Sequence[GenerationRequest]) -> list[list[Completion]]:
        results = await self.engine.generate(requests)
        self.usage = self.usage + total([c.usage for row in results for c in row]) + Usage(engine_calls=1)
        return results

    async def aclose(self) -> None:
        return None  # the wrapped engine belongs to the caller


def mean_logprob(completion: Completion) -> float | None:
    """The mean token log-probability of a sample (None without logprobs)."""
    if completion.logprobs is None:
        return None
    return completion.sum_logprob / len(completion.logprobs) if completion.logprobs else 0.0  # type: ignore[operator]


class StepContext:
    """What a step may use: the question (after any earlier ``history`` turns), the metered
    engine, the task, scorers, the budget, and other engines by name (``engines``: those the
    caller passed; see :mod:`ponder.engines.named`, whose spec-created engines close with this
    context; a sub-context shares its parent's)."""

    def __init__(
        self, question: str, engine: Engine, settings: SolveSettings, task: AnswerTask, budget: Budget,
        scorer_engine: Engine | None = None, history: Sequence[Message] = (),
        scorers: Mapping[str, Scorer] | None = None, engines: Mapping[str, Engine] | NamedEngines | None = None,
    ) -> None:
        self.question = question
        self.history = tuple(history)
        self.settings = settings
        self.task = task
        self.budget = budget
        self.engine = MeteredEngine(engine)
        self._scorer_engine = MeteredEngine(scorer_engine or engine)
        self._scorers: dict[str, Scorer] = dict(scorers or {})
        self._owned: list[Any] = []  # PRMs this context built and has not closed yet
        self._prms: list[Any] = []  # every PRM this context built: their remote cost is counted here
        self._children: list[StepContext] = []  # sub-contexts (see child): their PRMs count and close here too
        self._foreign = False  # set by child(): this context generates on an engine its parent's meter does not see
        self._owns_named = not isinstance(engines, NamedEngines)
        self._named = engines if isinstance(engines, NamedEngines) else NamedEngines(engines)
        self.generations = 0
        self.started = time.perf_counter()

    # -- accounting ----------------------------------------------------------------------

    def usage(self) -> Usage:
        spent = self._engine_usage() + self._scorer_engine.usage.as_scorer_usage()
        return spent + self._prm_usage() + Usage(wall_seconds=time.perf_counter() - self.started)

    def _engine_usage(self) -> Usage:
        """What generating cost: this context's metered engine (sub-contexts on the same engine
        go through it, so it counts them) plus the sub-contexts on other engines, added once."""
        return self.engine.usage + total([c._engine_usage() for c in self._children if c._foreign])

    def _prm_usage(self) -> Usage:
        """What the remote PRMs built here and in sub-contexts spent, by their own count."""
        return total([getattr(prm, "usage", Usage()) for prm in self._prms] + [c._prm_usage() for c in self._children])

    async def aclose(self) -> None:
        """Release what this context and its sub-contexts opened (connections of remote PRMs they
        built; engines created from specs, by the context that made them for the run); what
        those spent stays counted."""
        for child in self._children:
            await child.aclose()
        owned, self._owned = self._owned, []
        for prm in owned:
            await prm.aclose()
        if self._owns_named:
            await self._named.aclose()

    def named_engine(self, name: str) -> Engine:
        """The engine ``name`` resolves to: one the caller passed under it, else one created from
        the spec ``name`` on first use (:mod:`ponder.engines.named`) and closed with the run."""
        return self._named.get(name)

    def child(self, generations: int, settings: SolveSettings | None = None,
              engine: Engine | None = None) -> StepContext:
        """A sub-context for one part of this run (a pipeline component, a strategy run inside
        another): the same question, history, task, scorers and engines, metered again, so the
        part's own use can be read off the child while this context counts it too. It has
        ``generations`` of its own (at least 1; count what it spends back here), what is left of
        this context's token and time budgets, and ``settings`` (e.g. a derived seed) if given.
        With ``engine`` (not this context's own) it generates there: that use is metered by the
        child alone and added to this context's usage and token count once. Remote PRMs it
        builds are counted in this context's usage and closed with it."""
        tokens = self.budget.tokens
        if tokens is not None:
            tokens = max(tokens - self._engine_usage().completion_tokens, 1)
        seconds = self.seconds_left()
        budget = Budget(generations=max(generations, 1), tokens=tokens,
                        seconds=None if seconds is None else max(seconds, 1e-3))
        foreign = engine is not None and engine is not self.engine and engine is not self.engine.engine
        sub = StepContext(self.question, engine if foreign else self.engine, settings or self.settings,
                          self.task, budget, scorer_engine=self._scorer_engine, history=self.history,
                          scorers=self._scorers, engines=self._named)
        sub._foreign = foreign
        self._children.append(sub)
        return sub

    def remaining_generations(self) -> int:
        return max(self.budget.generations - self.generations, 0)

    def claim(self, n: int) -> None:
        """Count ``n`` generations against the budget for a strategy that spends them as search
        paths (particles, beams) rather than through :meth:`sample`."""
        if not 0 < n <= self.remaining_generations():
            raise InvalidInputError(f"asked for {n} generations with {self.remaining_generations()} left")
        self.generations += n

    def seconds_left(self) -> float | None:
        if self.budget.seconds is None:
            return None
        return self.budget.seconds - (time.perf_counter() - self.started)

    def limit_reached(self) -> str | None:
        """Which hard limit has run out (``tokens`` or ``seconds``), if any. Generations are not
        here: a step asks for at most :meth:`remaining_generations`, and a strategy with none left
        may still have work to do (scoring what it sampled), so its ``done`` decides."""
        if self.budget.tokens is not None and self._engine_usage().completion_tokens >= self.budget.tokens:
            return "tokens"
        left = self.seconds_left()
        if left is not None and left <= 0:
            return "seconds"
        return None

    # -- sampling ------------------------------------------------------------------------

    def messages(self, system_prompt: str | None = None, user: str | None = None) -> tuple[Message, ...]:
        """The chat that poses the question: system prompt (the settings', unless one is given),
        earlier turns, the question (or ``user``, a prompt of a strategy's own, in its place)."""
        prompt = system_prompt or self.settings.system_prompt
        system = (Message("system", prompt),) if prompt else ()
        return system + self.history + (Message("user", self.question if user is None else user),)

    def temperature(self, default: float) -> float:
        return default if self.settings.temperature is None else self.settings.temperature

    async def sample(
        self, n: int, *, first_index: int, temperature: float, logprobs: bool = False,
        max_tokens: int | None = None, assistant_prefix: str = "", seed: int | None = None,
        messages: tuple[Message, ...] | None = None, stop: tuple[str, ...] = (),
    ) -> list[Candidate]:
        """Draw ``n`` new generations (counted against the budget) as candidates.

        Sample ``i`` has identity ``first_index + i``, so batches drawn step by step are the
        same samples one big batch would draw. ``messages`` replaces the question's chat (a
        strategy with a prompt of its own).
        """
        if not 0 < n <= self.remaining_generations():
            raise InvalidInputError(f"asked for {n} generations with {self.remaining_generations()} left")
        self.generations += n
        request = GenerationRequest(
            messages=messages or self.messages(), assistant_prefix=assistant_prefix, n=n,
            max_tokens=max_tokens or self.settings.max_tokens, temperature=temperature, top_p=self.settings.top_p,
            seed=self.settings.seed if seed is None else seed, first_index=first_index, logprobs=logprobs, stop=stop,
        )
        [completions] = await self.engine.generate([request])
        return [self.candidate(c, first_index + c.index) for c in completions]

    async def extend(self, partials: Sequence[Candidate], *, max_tokens: int, temperature: float) -> list[Candidate]:
        """Continue unfinished candidates (same generations: nothing is counted against the budget)."""
        if not partials:
            return []
        requests = [
            GenerationRequest(
                messages=self.messages(), assistant_prefix=c.text, max_tokens=max_tokens, temperature=temperature,
                top_p=self.settings.top_p, seed=derive_seed(self.settings.seed, c.index, 1),
                logprobs=c.mean_logprob is not None,
            )
            for c in partials
        ]
        results = await self.engine.generate(requests)
        return [self.candidate(row[0], c.index, before=c) for c, row in zip(partials, results, strict=True)]

    def candidate(self, completion: Completion, index: int, before: Candidate | None = None) -> Candidate:
        """A candidate from a completion (appended to ``before``, a partial it continued)."""
        text = (before.text if before else "") + completion.text
        tokens = completion.completion_tokens + (before.completion_tokens if before else 0)
        logprob = mean_logprob(completion)
        if before is not None and before.mean_logprob is not None and logprob is not None and tokens:
            logprob = (before.mean_logprob * before.completion_tokens + logprob * completion.completion_tokens) / tokens
        return Candidate(
            text=text, answer=self.task.extract(text) if completion.finish_reason != "error" else None,
            finish_reason=completion.finish_reason, completion_tokens=tokens, index=index, mean_logprob=logprob,
            evidence=completion.error,
        )

    # -- scoring -------------------------------------------------------------------------

    def scorer(self, name: str) -> Scorer:
        """The named scorer: one the caller passed, else a built-in judging through the scorer
        engine (its usage counted as scorer usage)."""
        if name not in self._scorers:
            self._scorers[name] = make_scorer(name, self._scorer_engine)
        return self._scorers[name]

    def prm(self, spec: str) -> "ProcessRewardModel":
        """The process reward model ``spec`` names: one the caller passed as a scorer under that
        name, else one built by :func:`~ponder.scorers.prm.make_prm` on the scorer engine."""
        from ponder.scorers.prm import make_prm

        found = self._scorers.get(spec)
        if found is not None:
            if not hasattr(found, "score_steps"):
                raise InvalidInputError(f"scorer {spec!r} is not a process reward model (it cannot score steps)")
            return found  # type: ignore[return-value]
        built = make_prm(spec, self._scorer_engine)
        self._scorers[spec] = built  # type: ignore[assignment]
        self._owned.append(built)
        self._prms.append(built)
        return built

    async def score(self, name: str, candidates: Sequence[Candidate]) -> list[Candidate]:
        """Candidates with ``score`` set by the named scorer."""
        scores = await self.scorer(name).score(self.question, candidates)
        return [_with_score(c, s) for c, s in zip(candidates, scores, strict=True)]


def _with_score(candidate: Candidate, score: float) -> Candidate:
    return replace(candidate, score=score)


class Algorithm(Protocol, Generic[S]):
    """The shape every strategy has (see the module docstring)."""

    name: ClassVar[str]
    summary: ClassVar[str]
    Params: ClassVar[type]
    params: Any

    def __init__(self, params: Any) -> None: ...

    def init(self, ctx: StepContext) -> S: ...

    async def step(self, state: S, ctx: StepContext) -> tuple[S, dict[str, Any]]: ...

    def done(self, state: S, ctx: StepContext) -> bool: ...

    def decide(self, state: S, ctx: StepContext) -> Decision: ...
