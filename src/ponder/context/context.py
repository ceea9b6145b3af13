"""What a step of a strategy may use.

A :class:`StepContext` holds the question (after any earlier chat turns), the task, the
settings, the run's :class:`~ponder.core.ledger.Ledger` (the one thing that spends), and the
engines and scorers the step may call. Every generation goes through :meth:`StepContext.sample`,
:meth:`StepContext.sample_each`, :meth:`StepContext.stream`, :meth:`StepContext.collaborate` (new
samples: charged to the ledger, which hands out their identities), :meth:`StepContext.extend` or
:meth:`StepContext.generate_each` (continuations of samples already paid for); every call is
metered into the ledger. A watcher attached with :meth:`StepContext.watch` hears every sample
grow (:mod:`ponder.context.watch`). The run's
:class:`~ponder.context.interrupts.Interrupts` (shared with sub-contexts) reaches every stream a
context opens (:mod:`ponder.context.interruptible`); after a hard interrupt, asking for new
generations raises :class:`~ponder.context.interrupts.RunInterrupted`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from ponder.answers import AnswerTask
from ponder.context.collaboration import MeteredCollaboration, open_collaboration
from ponder.context.interruptible import LiveStream
from ponder.context.interrupts import Interrupts
from ponder.context.metered import MeteredEngine, MeteredStream
from ponder.context.scorers import RunScorers
from ponder.context.watch import SampleWatch, Watcher, stream_usage, streams_alike
from ponder.core.budget import Budget
from ponder.core.confidence import token_confidence
from ponder.core.ledger import Ledger
from ponder.core.result import Candidate
from ponder.core.seeding import derive_seed
from ponder.core.settings import SolveSettings
from ponder.core.temperature import SEVERAL_TEMPERATURE, sampling_temperature
from ponder.core.usage import Usage, total
from ponder.engines.base import Arrivals, Completion, Engine, GenerationRequest, Message
from ponder.engines.collaboration import CollabRequest
from ponder.engines.named import NamedEngines
from ponder.scorers import Scorer
from ponder.scorers.confidence import TOP_K
from ponder.scorers.prm import ProcessRewardModel


def mean_logprob(completion: Completion) -> float | None:
    """The mean token log-probability of a sample (None without logprobs)."""
    if completion.logprobs is None:
        return None
    return sum(t.logprob for t in completion.logprobs) / len(completion.logprobs) if completion.logprobs else 0.0


def token_confidences(completion: Completion) -> tuple[float, ...] | None:
    """Each token's confidence (:func:`~ponder.core.confidence.token_confidence`), when the sample
    came with its top alternatives."""
    if not completion.logprobs or not all(t.top for t in completion.logprobs):
        return None
    return tuple(token_confidence([logprob for _, logprob in t.top]) for t in completion.logprobs)


def reply_prompt(request: GenerationRequest) -> tuple[Message, ...] | None:
    """The chat that a sample of ``request`` is the whole assistant reply to: its messages, when
    it is a chat request that gives no partial answer (``None`` otherwise)."""
    return request.messages if not request.assistant_prefix else None


class StepContext:
    """What a step may use (see the module docstring). ``budget`` is a :class:`Budget` (a new
    run) or a :class:`Ledger` (a part of a run, see :meth:`child`). ``engines`` are other
    engines by name (those the caller passed; see :mod:`ponder.engines.named`, whose
    spec-created engines close with the context that made them; a sub-context shares its
    parent's)."""

    def __init__(
        self,
        question: str,
        engine: Engine,
        settings: SolveSettings,
        task: AnswerTask,
        budget: Budget | Ledger,
        scorer_engine: Engine | None = None,
        history: Sequence[Message] = (),
        scorers: Mapping[str, Scorer] | None = None,
        engines: Mapping[str, Engine] | NamedEngines | None = None,
        interrupts: Interrupts | None = None,
    ) -> None:
        self.asked = question  # the question as asked; `question` adds the updates a run received
        self.interrupts = interrupts or Interrupts()
        self.history = tuple(history)
        self.settings = settings
        self.task = task
        self.ledger = budget if isinstance(budget, Ledger) else Ledger(budget)
        self.engine = MeteredEngine(engine, self.ledger)
        self._raw_scorer_engine = scorer_engine or engine
        self.scorers = RunScorers(MeteredEngine(self._raw_scorer_engine, self.ledger, for_scorers=True), scorers)
        self._children: list[StepContext] = []  # sub-contexts: their PRMs count and close here too
        self._owns_named = not isinstance(engines, NamedEngines)
        self._named = engines if isinstance(engines, NamedEngines) else NamedEngines(engines)
        self._watch: SampleWatch | None = None
        self._collaborations: list[MeteredCollaboration] = []  # cancelled, if still running, on close

    @property
    def question(self) -> str:
        """The question as samples starting now see it: as asked, then any updates
        (:meth:`Interrupts.question <ponder.context.interrupts.Interrupts.question>`)."""
        return self.interrupts.question(self.asked)

    @property
    def budget(self) -> Budget:
        return self.ledger.budget

    # -- accounting ----------------------------------------------------------------------

    def usage(self) -> Usage:
        """Everything this context (and its sub-contexts) spent, with wall time."""
        return self.ledger.usage() + self._remote_scorer_usage()

    def _remote_scorer_usage(self) -> Usage:
        return self.scorers.remote_usage() + total([c._remote_scorer_usage() for c in self._children])

    async def aclose(self) -> None:
        """Release what this context and its sub-contexts opened (connections of remote PRMs they
        built; engines created from specs, by the context that made them for the run); what
        those spent stays counted."""
        for child in self._children:
            await child.aclose()
        for collaboration in self._collaborations:
            if not collaboration.ended:
                collaboration.cancel()  # the run stopped between two of its steps: its workers stop
        await self.scorers.aclose()
        if self._owns_named:
            await self._named.aclose()

    def watch(self, watcher: Watcher) -> None:
        """Publish every generator sample of this context and its sub-contexts to ``watcher`` as it
        grows (:mod:`ponder.context.watch`). The samples are the same with and without a watcher:
        :meth:`sample` then draws through the engine's stream only where that returns the same
        samples, usage included (:func:`~ponder.context.watch.streams_alike`); an interruptible
        run's :meth:`sample` streams anyway (see there)."""
        self._watch = SampleWatch(watcher, self.task.extract)
        for child in self._children:
            child._watch = self._watch.child()

    def _publish(self, request: GenerationRequest, row: Sequence[Completion], identity: int | None = None) -> None:
        """Samples that arrived whole, to the watcher (sample ``i`` is identity ``first_index + i``)."""
        if self._watch is None:
            return
        for completion in row:
            first = request.first_index if identity is None else identity
            self._watch.whole(first + completion.index, completion, request.assistant_prefix)

    def named_engine(self, name: str) -> Engine:
        """The engine ``name`` resolves to: one the caller passed under it, else one created from
        the spec ``name`` on first use (:mod:`ponder.engines.named`) and closed with the run."""
        return self._named.get(name)

    def child(
        self,
        generations: int,
        settings: SolveSettings | None = None,
        engine: Engine | None = None,
        *,
        own_identities: bool = False,
    ) -> StepContext:
        """A sub-context for one part of this run (a pipeline component, a strategy run inside
        another): the same question, history, task, scorers and engines, on a child ledger
        (:meth:`Ledger.child`: ``generations`` of its own, what is left of the token and time
        budgets, charged to this context's ledger as it spends), with ``settings`` (e.g. a
        derived seed) if given, generating on ``engine`` if given (else this context's)."""
        sub = StepContext(
            self.asked,
            engine or self.engine.engine,
            settings or self.settings,
            self.task,
            self.ledger.child(generations, own_identities=own_identities),
            scorer_engine=self._raw_scorer_engine,
            history=self.history,
            scorers=self.scorers.given(),
            engines=self._named,
            interrupts=self.interrupts,
        )
        if self._watch is not None:
            sub._watch = self._watch.child()
        self._children.append(sub)
        return sub

    # -- sampling ------------------------------------------------------------------------

    def messages(self, system_prompt: str | None = None, user: str | None = None) -> tuple[Message, ...]:
        """The chat that poses the question: system prompt (the settings', unless one is given),
        earlier turns, the question (or ``user``, a prompt of a strategy's own, in its place)."""
        prompt = system_prompt or self.settings.system_prompt
        system = (Message("system", prompt),) if prompt else ()
        return system + self.history + (Message("user", self.question if user is None else user),)

    def temperature(self, *, n: int | None = None, default: float = SEVERAL_TEMPERATURE) -> float:
        """The run's temperature, else the one rule of :func:`~ponder.core.temperature.sampling_temperature`."""
        return sampling_temperature(self.settings.temperature, n=n, default=default)

    async def sample(
        self,
        n: int,
        *,
        temperature: float,
        logprobs: bool = False,
        max_tokens: int | None = None,
        assistant_prefix: str = "",
        messages: tuple[Message, ...] | None = None,
        stop: tuple[str, ...] = (),
        top_logprobs: int = 0,
    ) -> list[Candidate]:
        """Draw ``n`` new generations of one chat (the question's, or ``messages``) as candidates,
        in one request. The ledger charges them and names their identities, so batches drawn
        step by step are the same samples one big batch would draw. In a run whose interrupts
        reach ``sample`` (``Interrupts.streams``: an interruptible run) they are drawn through the
        engine's stream when it streams or is a server's (whose profile is known only once it
        connects): one stream per sample on a server, seeded per sample, so on a server that
        takes ``n`` the texts can differ from one ``n``-sample request's; with a watcher only,
        where the stream returns the same samples (:func:`~ponder.context.watch.streams_alike`)."""
        self.interrupts.check()
        identities = self.ledger.spend(n)
        request = GenerationRequest(
            messages=messages or self.messages(),
            assistant_prefix=assistant_prefix,
            n=n,
            max_tokens=max_tokens or self.settings.max_tokens,
            temperature=temperature,
            top_p=self.settings.top_p,
            seed=self.settings.seed,
            first_index=identities.start,
            logprobs=logprobs,
            stop=stop,
            top_logprobs=top_logprobs,
        )
        capabilities = self.engine.capabilities
        # An interruptible run streams on any engine that streams, and on any server's engine
        # whatever it reports before its first request (it learns its profile when it connects,
        # inside the stream); a local engine that does not stream serves whole samples either way.
        interruptible = self.interrupts.streams and (capabilities.streams or capabilities.remote)
        alike = self._watch is not None and streams_alike(
            capabilities, request, stream_usage=stream_usage(self.engine.engine)
        )
        if interruptible or alike:
            completions = await self._live(request).completions()
        else:
            [completions] = await self.engine.generate([request])
            self._publish(request, completions)
        prompt = reply_prompt(request)
        return [self.candidate(c, identities.start + c.index, prompt=prompt) for c in completions]

    def stream(
        self,
        n: int,
        *,
        temperature: float,
        top_logprobs: int = 0,
        max_tokens: int | None = None,
        messages: tuple[Message, ...] | None = None,
        stop: tuple[str, ...] = (),
    ) -> tuple[LiveStream, range]:
        """Start ``n`` new generations of one chat as a stream (watch each sample grow, stop any
        one of it: :mod:`ponder.engines.streaming`), and their identities; charged to the ledger
        like :meth:`sample`. Turn a finished sample into a candidate with :meth:`candidate`
        (``prompt=reply_prompt(stream.request)`` lets judges reuse its cached chat). The run's
        interrupts reach its samples (:mod:`ponder.context.interruptible`)."""
        self.interrupts.check()
        identities = self.ledger.spend(n)
        request = GenerationRequest(
            messages=messages or self.messages(),
            n=n,
            max_tokens=max_tokens or self.settings.max_tokens,
            temperature=temperature,
            top_p=self.settings.top_p,
            seed=self.settings.seed,
            first_index=identities.start,
            stop=stop,
            top_logprobs=top_logprobs,
        )
        return self._live(request), identities

    def _live(self, request: GenerationRequest) -> LiveStream:
        """The engine's stream of ``request``, reached by the run's interrupts."""

        def resume(continued: GenerationRequest, prefix: str, tokens: int) -> MeteredStream:
            if self._watch is not None:  # the sample goes on from its text so far
                self._watch.started(continued.first_index, prefix, tokens)
            return self.engine.stream(continued, self._watch)

        return LiveStream(
            self.engine.stream(request, self._watch),
            self.interrupts,
            resume,
            self.engine.record,
            task=self.task.name,
            continues=lambda: self.engine.capabilities.raw_continuation,  # read when a signal acts
        )

    async def sample_each(
        self, chats: Sequence[tuple[Message, ...]], *, temperature: float, max_tokens: int | None = None
    ) -> list[Candidate]:
        """One new generation for each chat, all in one engine call (one batch), charged to the
        ledger; chat ``i`` gets the ``i``-th identity handed out."""
        if not chats:
            return []
        self.interrupts.check()
        identities = self.ledger.spend(len(chats))
        requests = [
            GenerationRequest(
                messages=messages,
                max_tokens=max_tokens or self.settings.max_tokens,
                temperature=temperature,
                top_p=self.settings.top_p,
                seed=self.settings.seed,
                first_index=identity,
            )
            for identity, messages in zip(identities, chats, strict=True)
        ]
        results = await self.engine.generate(requests)
        for request, row in zip(requests, results, strict=True):
            self._publish(request, row)
        return [
            self.candidate(row[0], identity, prompt=request.messages)
            for identity, request, row in zip(identities, requests, results, strict=True)
        ]

    async def extend(self, partials: Sequence[Candidate], *, max_tokens: int, temperature: float) -> list[Candidate]:
        """Continue unfinished candidates (the same generations: nothing is charged)."""
        if not partials:
            return []
        self.interrupts.check()
        requests = [
            GenerationRequest(
                messages=self.messages(),
                assistant_prefix=c.text,
                max_tokens=max_tokens,
                temperature=temperature,
                top_p=self.settings.top_p,
                seed=derive_seed(self.settings.seed, c.index, 1),
                logprobs=c.mean_logprob is not None,
                top_logprobs=TOP_K if c.confidences is not None else 0,
            )
            for c in partials
        ]
        results = await self.engine.generate(requests)
        if self._watch is not None:
            for c, row in zip(partials, results, strict=True):
                self._watch.whole(c.index, row[0], c.text, c.completion_tokens)
        return [
            self.candidate(row[0], c.index, before=c, prompt=self.messages())
            for c, row in zip(partials, results, strict=True)
        ]

    def collaborate(self, request: CollabRequest, *, shared: bool = True) -> MeteredCollaboration:
        """Start ``request.workers`` new generations that write one shared history (Hogwild!,
        :mod:`ponder.context.collaboration`), charged to the ledger, which names their identities
        (worker ``i`` is identity ``first_index + i``); the total token budget caps what they draw
        together. On the engine's shared cache when it has one and ``shared``; else by re-sending
        the history each step (:mod:`ponder.context.collaboration_resend`). One still running when
        the context closes is cancelled."""
        session = open_collaboration(
            self.engine, self.ledger, self.interrupts, request, seed=self.settings.seed, shared=shared
        )
        self._collaborations.append(session)
        return session

    def generate_each(self, requests: Sequence[GenerationRequest]) -> Arrivals:
        """Continuations of paths already paid for (step-wise search), served as the engine
        prefers (one batch, or concurrent calls whose rows arrive one by one); identities come
        from :meth:`Ledger.identities` or :meth:`Ledger.spend` (a watcher hears each row as it arrives)."""
        self.interrupts.check()
        arrivals = self.engine.generate_each(requests)
        return arrivals if self._watch is None else self._published(requests, arrivals)

    async def _published(self, requests: Sequence[GenerationRequest], arrivals: Arrivals) -> Arrivals:
        async for arrived in arrivals:
            for position, row in arrived:
                self._publish(requests[position], row)
            yield arrived

    def candidate(
        self,
        completion: Completion,
        index: int,
        before: Candidate | None = None,
        *,
        prompt: tuple[Message, ...] | None = None,
    ) -> Candidate:
        """A candidate from a completion (appended to ``before``, a partial it continued);
        ``prompt`` is the chat the whole text replies to (else ``before``'s), which judges
        continue (:attr:`Candidate.prompt`)."""
        text = (before.text if before else "") + completion.text
        tokens = completion.completion_tokens + (before.completion_tokens if before else 0)
        logprob = mean_logprob(completion)
        if before is not None and before.mean_logprob is not None and logprob is not None and tokens:
            logprob = (before.mean_logprob * before.completion_tokens + logprob * completion.completion_tokens) / tokens
        confidences = token_confidences(completion)
        if before is not None and confidences is not None and before.confidences is not None:
            confidences = before.confidences + confidences
        return Candidate(
            text=text,
            answer=self.task.extract(text) if completion.finish_reason != "error" else None,
            finish_reason=completion.finish_reason,
            completion_tokens=tokens,
            index=index,
            mean_logprob=logprob,
            evidence=completion.error,
            confidences=confidences,
            prompt=prompt if prompt is not None else before.prompt if before is not None else None,
        )

    # -- scoring -------------------------------------------------------------------------

    def scorer(self, name: str) -> Scorer:
        """The named scorer: one the caller passed, else a built-in judging through the scorer
        engine (its usage counted as scorer usage)."""
        return self.scorers.scorer(name)

    def prm(self, spec: str) -> ProcessRewardModel:
        """The process reward model ``spec`` names: one the caller passed as a scorer under that
        name, else one built by :func:`~ponder.scorers.prm.make_prm` on the scorer engine."""
        return self.scorers.prm(spec)

    async def score(self, name: str, candidates: Sequence[Candidate]) -> list[Candidate]:
        """Candidates with ``score`` set by the named scorer."""
        scores = await self.scorer(name).score(self.question, candidates)
        return [replace(c, score=s) for c, s in zip(candidates, scores, strict=True)]
