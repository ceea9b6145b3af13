"""A process reward from self-evaluation: the model asked whether the steps so far are right.

Self-evaluation as a value signal for step-level search follows Xie et al. 2023 ("Self-Evaluation
Guided Beam Search for Reasoning"); reading the verdict's probability from the first token's
log-probabilities is how ponder's :class:`~ponder.scorers.judge.SelfEvalJudge` works, and this PRM
reuses it (:func:`~ponder.scorers.judge.verdict_probability`). It needs no reward model, so it
runs with the embedded model (the generator judges itself by default, or pass any engine).

Two ways of asking, chosen by ``aggregation``:

- ``whole`` (default): one question per partial answer: "are the steps so far correct, and are
  they likely to lead to the correct final answer?" The score is P(yes); ``score_steps`` returns
  one score per partial.
- ``last``, ``min``, ``product``: one question per step, with the earlier steps shown as context:
  "is the newest step correct?" ``score_steps`` returns a score for every step. Step scores are
  memoised per (question, steps up to it), so a search that extends a partial by one step pays
  for one new question, not for the whole prefix again.

Two layouts of the question:

- as the next turn of the chat that produced the steps (where it is known: a candidate's
  :attr:`~ponder.core.result.Candidate.prompt`, or the chat a step search continues, given to
  :meth:`SelfEvalPRM.score_steps_in_chat`): ``prompt + [assistant: the reply up to the judged
  step, user: the question]``. Its tokens begin with the sample's own, which the embedded
  engine (and an HTTP server's prefix cache) still holds, so only the question is computed.
- in a fresh prompt that quotes the question and numbered steps: when no chat is known, for
  :meth:`score_steps` (steps alone), and always with ``reuse_cache=False`` (to measure the
  difference).

Each question is a one-token request at temperature 0 with the top log-probabilities; all the
questions of one call go to the engine in ONE ``generate`` call (one batch). Identical partials
in a call (a particle filter's resampled copies) are asked once.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from ponder.core.result import Candidate
from ponder.engines.base import Engine, GenerationRequest, Message
from ponder.scorers.base import ScorerInfo
from ponder.scorers.judge import continued, verdict_probability, verdict_request
from ponder.scorers.prm.base import (
    DEFAULT_DELIMITER,
    NEUTRAL_SCORE,
    Aggregation,
    StepScorer,
    aggregate,
    check_aggregation,
    reply_prefixes,
    split_raw_steps,
    split_steps,
)

WHOLE_QUESTION = (
    "Are the steps so far correct, and are they likely to lead to the correct final answer? Reply with Yes or No."
)
STEP_QUESTION = "Is the newest step correct, given the question and the earlier steps? Reply with Yes or No."
WHOLE_FOLLOW_UP = (
    "Are the steps of the answer above correct so far, and are they likely to lead to the correct "
    "final answer? Reply with Yes or No."
)
STEP_FOLLOW_UP = "Is the last step of the answer above correct, given the earlier steps? Reply with Yes or No."
CACHE_SIZE = 65536


@dataclass(frozen=True)
class _Fresh:
    """A question asked in a fresh prompt: about ``steps`` (cleaned) of an answer to ``question``."""

    question: str
    steps: tuple[str, ...]


@dataclass(frozen=True)
class _Turn:
    """A question asked as the next turn of ``prompt``, after the assistant's ``reply`` (up to the judged step)."""

    prompt: tuple[Message, ...]
    reply: str


_Asked = _Fresh | _Turn


def _numbered(steps: Sequence[str]) -> str:
    """The steps as "Step 1: ...", one paragraph each."""
    return "\n\n".join(f"Step {i}: {step.strip()}" for i, step in enumerate(steps, 1))


class SelfEvalPRM(StepScorer):
    """P(yes) that the steps so far are correct, asked of ``engine``; see the module docstring."""

    name: ClassVar[str] = "self-eval-prm"
    info: ClassVar[ScorerInfo] = ScorerInfo(
        kind="prm", exact=False, cost="one 1-token engine call per new partial (whole) or new step"
    )

    def __init__(
        self,
        engine: Engine,
        aggregation: Aggregation = "whole",
        *,
        delimiter: str = DEFAULT_DELIMITER,
        cache_size: int = CACHE_SIZE,
        reuse_cache: bool = True,
    ) -> None:
        self.engine = engine
        self.aggregation = check_aggregation(aggregation)
        self.delimiter = delimiter
        self.reuse_cache = reuse_cache
        self._cache: OrderedDict[_Asked, float] = OrderedDict()
        self._cache_size = cache_size

    # -- the questions -----------------------------------------------------------------------

    def request(self, question: str, steps: Sequence[str]) -> GenerationRequest:
        """The one-token question about ``steps`` (the whole partial, or its last step in context),
        in a fresh prompt."""
        if self.aggregation == "whole":
            prompt = f"Question: {question}\n\nSteps so far:\n\n{_numbered(steps)}\n\n{WHOLE_QUESTION}"
        else:
            earlier = _numbered(steps[:-1]) if len(steps) > 1 else "(none)"
            prompt = (
                f"Question: {question}\n\nEarlier steps:\n\n{earlier}\n\n"
                f"Newest step: {steps[-1].strip()}\n\n{STEP_QUESTION}"
            )
        return verdict_request((Message("user", prompt),))

    def chat_request(self, prompt: tuple[Message, ...], reply: str) -> GenerationRequest:
        """The one-token question about ``reply`` (the answer up to the judged step) as the next
        turn of ``prompt``, the chat that produced it."""
        follow_up = WHOLE_FOLLOW_UP if self.aggregation == "whole" else STEP_FOLLOW_UP
        return verdict_request(continued(prompt, reply, follow_up))

    def _build(self, asked: _Asked) -> GenerationRequest:
        if isinstance(asked, _Turn):
            return self.chat_request(asked.prompt, asked.reply)
        return self.request(asked.question, asked.steps)

    def _fresh(self, question: str, steps: Sequence[str]) -> list[_Asked]:
        """What to ask about cleaned ``steps`` in fresh prompts: the whole partial, or every step."""
        partial = tuple(s.strip() for s in steps)
        if not partial:
            return []
        if self.aggregation == "whole":
            return [_Fresh(question, partial)]
        return [_Fresh(question, partial[:k]) for k in range(1, len(partial) + 1)]

    def _turns(self, question: str, prompt: tuple[Message, ...] | None, steps: Sequence[str]) -> list[_Asked]:
        """What to ask about ``steps`` as generated (joined, they are the reply to ``prompt``): as
        turns of that chat, or in fresh prompts when it is unknown or ``reuse_cache`` is off."""
        if prompt is None or not self.reuse_cache:
            return self._fresh(question, [s for s in steps if s.strip()])
        prefixes = reply_prefixes(steps)
        if not prefixes:
            return []
        if self.aggregation == "whole":
            return [_Turn(prompt, "".join(steps))]
        return [_Turn(prompt, reply) for reply in prefixes]

    # -- asking, remembering -----------------------------------------------------------------

    def _remember(self, key: _Asked, score: float) -> None:
        """Cache a verdict, forgetting the least recently used beyond ``cache_size``."""
        self._cache[key] = score
        self._cache.move_to_end(key)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    async def _ask(self, asked: Sequence[_Asked]) -> None:
        """Ask every question not in the cache, in one engine call, and cache the answers."""
        todo = list(dict.fromkeys(a for a in asked if a not in self._cache))
        if not todo:
            return
        results = await self.engine.generate([self._build(a) for a in todo])
        for key, row in zip(todo, results, strict=True):
            completion = row[0]
            if completion.finish_reason != "error":  # a failed verdict is neutral now, asked again later
                self._remember(key, verdict_probability(completion, "yes"))

    def _lookup(self, key: _Asked) -> float:
        """The cached verdict on ``key``; neutral when it could not be had."""
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        return NEUTRAL_SCORE

    async def _rows(self, questions: list[list[_Asked]]) -> list[list[float]]:
        await self._ask([a for row in questions for a in row])
        return [[self._lookup(a) for a in row] for row in questions]

    # -- the PRM and scorer interfaces -------------------------------------------------------

    async def score_steps(self, question: str, steps: Sequence[Sequence[str]]) -> list[list[float]]:
        """P(yes) per partial (``whole``) or per step (otherwise), asked in fresh prompts; an
        empty partial gets ``[]``."""
        return await self._rows([self._fresh(question, partial) for partial in steps])

    async def score_steps_in_chat(
        self, question: str, prompt: tuple[Message, ...], steps: Sequence[Sequence[str]]
    ) -> list[list[float]]:
        """As :meth:`score_steps`, for partial answers that continue the chat ``prompt``, their
        steps as generated (delimiters kept: joined, a partial's steps are its text; steps with
        no text are not judged): each question is the chat's next turn (see the module docstring)."""
        return await self._rows([self._turns(question, prompt, partial) for partial in steps])

    async def score(self, question: str, candidates: Sequence[Candidate]) -> list[float]:
        """Aggregated step scores of each candidate's text (split at ``delimiter``), asked as the
        next turn of the candidate's chat where it is known; with ``last`` only each candidate's
        last step is asked about. A failed sample scores 0 without being sent."""
        questions: list[list[_Asked]] = []
        for c in candidates:
            if c.finish_reason == "error":
                asked: list[_Asked] = []
            elif self.reuse_cache and c.prompt is not None:
                asked = self._turns(question, c.prompt, split_raw_steps(c.text, self.delimiter))
            else:
                asked = self._fresh(question, split_steps(c.text, self.delimiter))
            questions.append(asked[-1:] if self.aggregation == "last" else asked)
        rows = await self._rows(questions)
        return [
            0.0 if c.finish_reason == "error" else aggregate(row, self.aggregation)
            for c, row in zip(candidates, rows, strict=True)
        ]
