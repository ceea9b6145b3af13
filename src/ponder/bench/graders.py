"""Graders: whether a benchmark answer is right for its problem.

A grader is chosen per data set (``Problem.grader``) and looked up by name in :data:`GRADERS`:

- ``math``: the answer and the gold are normalised (``$1,200`` -> ``1200``) and compared by
  math-verify (``1/2`` = ``0.5`` = ``\\frac{1}{2}``);
- ``choice``: the same multiple-choice letter (``(b)`` = ``B``);
- ``label``: the same True / False / Uncertain label (FOLIO);
- ``humaneval``: the candidate's code passes the problem's unit tests (HumanEval's ``prompt``,
  ``test`` and ``entry_point``, kept in ``Problem.data``), run in the sandbox.

Each grader also names the answer task that ``ponder.solve`` should use for its problems
(:func:`task_for`), whether its problems need a gold answer, and which raw fields they must carry.
No answer (``None``) is never right.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ponder.answers import extract_choice, extract_label, get_task, normalize_answer
from ponder.bench.types import Problem
from ponder.core.errors import InvalidInputError, UnknownNameError
from ponder.verifiers.unit_tests import UnitTestVerifier

Check = Callable[[Problem, str | None, str | None], bool]


@dataclass(frozen=True)
class Grader:
    """One way of judging answers: its check, its answer task and what its problems must carry.

    ``check(problem, answer, candidate_text)`` returns True when the answer is right.
    ``task`` is the answer-task name (:func:`ponder.answers.get_task`) that extracts answers a
    check understands. ``needs_gold``: problems must come with a non-empty gold answer.
    ``data_fields``: raw fields every problem's row must hold (the unit tests of a code problem).
    """

    name: str
    check: Check
    task: str
    needs_gold: bool = True
    data_fields: tuple[str, ...] = ()


def _math(problem: Problem, answer: str | None, candidate_text: str | None = None) -> bool:
    """Equal values by math-verify, after normalisation (raw text as a second chance)."""
    if answer is None or not answer.strip():
        return False
    equivalent = get_task("math").equivalent
    if equivalent(normalize_answer(answer), normalize_answer(problem.gold)):
        return True
    return equivalent(answer.strip(), problem.gold.strip())


def _letter(text: str) -> str:
    return extract_choice(text) or text.strip().strip("().").upper()


def _choice(problem: Problem, answer: str | None, candidate_text: str | None = None) -> bool:
    """The same multiple-choice letter."""
    return answer is not None and bool(answer.strip()) and _letter(answer) == _letter(problem.gold)


def _label(problem: Problem, answer: str | None, candidate_text: str | None = None) -> bool:
    """The same label (True / False / Uncertain; case and "Unknown" for "Uncertain" forgiven)."""
    if answer is None:
        return False
    given = extract_label(answer.strip())
    return given is not None and given == extract_label(problem.gold.strip())


HUMANEVAL_FIELDS = ("prompt", "test", "entry_point")


def _humaneval(problem: Problem, answer: str | None, candidate_text: str | None = None) -> bool:
    """The candidate's code passes the problem's unit tests.

    The candidate's full text is preferred to its extracted answer: the code extractor keeps the
    indentation of a bare function body, which a stripped answer may have lost.
    """
    code = candidate_text if candidate_text is not None else answer
    if code is None or not code.strip():
        return False
    missing = [name for name in HUMANEVAL_FIELDS if name not in problem.data]
    if missing:
        raise InvalidInputError(f"problem {problem.id} has no {', '.join(missing)} for its unit tests")
    return UnitTestVerifier.from_problem(problem.data).check(code).passed


GRADERS: dict[str, Grader] = {
    "math": Grader("math", _math, task="math"),
    "choice": Grader("choice", _choice, task="choice"),
    "label": Grader("label", _label, task="label"),
    "humaneval": Grader("humaneval", _humaneval, task="code", needs_gold=False, data_fields=HUMANEVAL_FIELDS),
}


def get_grader(name: str) -> Grader:
    """The grader registered as ``name``; :class:`UnknownNameError` names the ones there are."""
    grader = GRADERS.get(name)
    if grader is None:
        raise UnknownNameError(f"unknown grader {name!r}; available: {', '.join(sorted(GRADERS))}")
    return grader


def grader_names() -> list[str]:
    """The names of all graders, sorted."""
    return sorted(GRADERS)


def task_for(grader: str) -> str:
    """The answer task ``ponder.solve`` should use for problems judged by ``grader``."""
    return get_grader(grader).task


def grade(problem: Problem, answer: str | None, candidate_text: str | None = None) -> bool:
    """Whether ``answer`` (or, for code, ``candidate_text``) is right for ``problem``."""
    return get_grader(problem.grader).check(problem, answer, candidate_text)
