"""Reasoning steps and partial solutions: the units that step-level search works on.

A *step* is generated text up to a delimiter (by default a blank line) or a token cap
(``step_tokens``). A solution ends at EOS, when a complete step states a final answer
(``answer_pattern``), when it reaches ``max_steps`` steps, or when it has used the run's
``max_tokens`` (which bounds the whole solution, so a step is capped at whichever of the two
caps is nearer). A :class:`Partial` is a solution under construction: its steps, whether it is
finished, and its PRM score.

Defaults follow the papers. ``step_tokens`` is 1024, as Puri et al. 2025 allow one step
(search-and-learn's beam search and DVTS override it with their 2048). A solution states its
answer with ``\\boxed{`` (``answer_pattern="boxed"``): the papers stop on EOS or ``\\boxed``, not
on a step that merely says "answer is"; ``answer_pattern="broad"`` (``\\boxed{``, "answer is",
"Answer:", ``####``) is for models that do not box, and any other value is a regular expression,
matched with a time limit (:mod:`ponder.core.patterns`); ``"none"`` leaves it to EOS and the caps
(search-and-learn's beam search, whose default this is). A step cut by ``step_tokens`` goes on
by default (``capped_step="continue"``); search-and-learn counts it as a finished solution
(``capped_step="finish"``, the default of its searches).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from ponder.answers import AnswerTask
from ponder.core.errors import InvalidInputError
from ponder.core.params import check, param
from ponder.core.patterns import UserPattern, compile_pattern
from ponder.core.result import Candidate, FinishReason
from ponder.engines.base import Completion

ANSWER_PATTERNS = {
    "boxed": r"\\boxed\{",  # the papers: a solution ends at EOS or when it boxes its answer
    "broad": r"\\boxed\{|answer is|[Aa]nswer:|####",  # for models that do not box their answers
    "none": r"(?!)",  # no step ends a solution by what it says: only EOS, a cap or max_steps do
}
DEFAULT_ANSWER_PATTERN = "boxed"


@dataclass(frozen=True)
class StepParams:
    """Parameters every step-level search shares."""

    prm: str = param(
        "self-eval-prm",
        "process reward model: self-eval-prm, vllm:URL#MODEL, http:URL, or a scorer passed in",
        local=True,
    )
    delimiter: str = param("\n\n", "text that ends a step (escapes such as \\n are understood)")
    step_tokens: int = param(1024, "token cap of one step (--max-tokens caps the whole solution)")
    max_steps: int = param(40, "steps after which a solution counts as finished")
    answer_pattern: str = param(
        DEFAULT_ANSWER_PATTERN,
        "a complete step matching it states the final answer: boxed (\\boxed{), broad (also 'answer is', "
        "'Answer:', ####), none (only EOS and the caps end a solution) or a regex",
    )
    temperature: float = param(0.8, "sampling temperature of each step (the run's --temperature overrides)")
    capped_step: Literal["continue", "finish"] = param(
        "continue", "a step cut by step_tokens: the solution goes on, or it ends there (search-and-learn)"
    )

    def __post_init__(self) -> None:
        if "\\" in self.delimiter:  # typed on a command line: -o delimiter='\n' means a newline
            object.__setattr__(self, "delimiter", _unescape(self.delimiter))
        check(bool(self.delimiter), "delimiter must not be empty")
        check(self.step_tokens >= 1, f"step_tokens must be >= 1, got {self.step_tokens}")
        check(self.max_steps >= 1, f"max_steps must be >= 1, got {self.max_steps}")
        check(self.temperature >= 0, f"temperature must be >= 0, got {self.temperature}")
        self.answer_regex()  # a bad pattern is refused now, not at the first step

    def answer_regex(self) -> UserPattern:
        """``answer_pattern`` (a name in :data:`ANSWER_PATTERNS` or a regex), compiled for timed matching."""
        source = ANSWER_PATTERNS.get(self.answer_pattern, self.answer_pattern)
        return compile_pattern(source, "answer_pattern")


def _unescape(text: str) -> str:
    """``\\n``, ``\\t`` and friends turned into the characters they name."""
    try:
        return text.encode("latin-1", "backslashreplace").decode("unicode_escape")
    except UnicodeDecodeError as exc:
        raise InvalidInputError(f"delimiter {text!r} has a bad escape: {exc.reason}") from None


@dataclass(frozen=True)
class Partial:
    """A (possibly finished) solution: its steps and where it came from.

    ``index`` is its identity (it seeds the samples drawn from it); ``parent`` the partial it
    extends; ``finish_reason`` is ``None`` while it is unfinished. Each step keeps the delimiter
    that ended it, so ``text`` is exactly what the model generated.
    """

    steps: tuple[str, ...]
    index: int
    completion_tokens: int = 0
    finish_reason: FinishReason | None = None
    parent: int | None = None
    score: float | None = None
    step_scores: tuple[float, ...] = ()
    path_scores: tuple[float, ...] = ()  # the (aggregated) score after each step
    step_tokens: tuple[int, ...] = ()  # completion tokens of each step

    @property
    def text(self) -> str:
        return "".join(self.steps)

    @property
    def finished(self) -> bool:
        return self.finish_reason is not None

    def clean_steps(self) -> list[str]:
        """The steps as a PRM reads them: stripped, empty ones dropped."""
        return [s.strip() for s in self.steps if s.strip()]

    def candidate(self, task: AnswerTask) -> Candidate:
        """This partial as a result candidate (an unfinished one finishes as ``length``)."""
        finish = self.finish_reason or "length"
        return Candidate(
            text=self.text,
            answer=task.extract(self.text) if finish != "error" else None,
            finish_reason=finish,
            completion_tokens=self.completion_tokens,
            index=self.index,
            score=self.score,
        )


def root(index: int = 0) -> Partial:
    """The empty partial every search starts from."""
    return Partial(steps=(), index=index)


def grow(
    parent: Partial, completion: Completion, index: int, params: StepParams, *, max_tokens: int, reports_stop: bool
) -> Partial:
    """``parent`` extended by one generated step, finished if the step ended the solution.

    ``reports_stop`` says whether the engine names the stop string that ended a sample. When it
    does not, a non-empty step that ended with ``stop`` is taken to have met the delimiter: a
    last step stating its answer still finishes by ``answer_pattern``, and one that does not is
    followed by an empty step (EOS), which finishes it.
    """
    step = completion.text
    stopped_at_delimiter = completion.finish_reason == "stop" and (
        completion.stop_sequence == params.delimiter if reports_stop else bool(step.strip())
    )
    if completion.finish_reason == "error":
        finish: FinishReason | None = "error"
    elif completion.finish_reason == "stop" and not stopped_at_delimiter:
        finish = "stop"  # EOS: the model ended its answer
    elif completion.finish_reason == "stop" and params.answer_regex().search(step):
        finish = "stop"  # a complete step stating the answer
    elif completion.finish_reason == "length" and params.capped_step == "finish":
        finish = "length"  # cut by the step cap: search-and-learn counts it as finished
    else:
        finish = None  # a complete step, or one cut by the cap that goes on
    if stopped_at_delimiter:
        step += params.delimiter
    tokens = parent.completion_tokens + completion.completion_tokens
    if finish is None and (len(parent.steps) + 1 >= params.max_steps or tokens >= max_tokens):
        finish = "length"
    return Partial(
        steps=parent.steps + (step,),
        index=index,
        completion_tokens=tokens,
        finish_reason=finish,
        parent=parent.index,
        path_scores=parent.path_scores,
        step_tokens=parent.step_tokens + (completion.completion_tokens,),
    )


def prefix(partial: Partial, depth: int) -> Partial:
    """The first ``depth`` steps of ``partial`` as it was then (unfinished unless it is all of it)."""
    if depth >= len(partial.steps):
        return partial
    return Partial(
        steps=partial.steps[:depth],
        index=partial.index,
        completion_tokens=sum(partial.step_tokens[:depth]),
        parent=partial.parent,
        score=partial.path_scores[depth - 1] if depth else None,
        path_scores=partial.path_scores[:depth],
        step_tokens=partial.step_tokens[:depth],
    )


def with_score(partial: Partial, score: float, step_scores: tuple[float, ...] = ()) -> Partial:
    """``partial`` scored after its latest step."""
    return replace(
        partial, score=score, step_scores=step_scores or partial.step_scores, path_scores=partial.path_scores + (score,)
    )
