"""Cheap curves: pass@k, self-consistency@k and best-of-k for every k <= N from one run of N samples.

Input per problem: the N recorded samples, each ``(answer, correct, score)`` -- the extracted
answer (``None`` when none could be extracted), whether the grader accepted it, and the scorer's
score (``None`` when unscored).

pass@k (Chen et al. 2021) is exact: with c correct samples among n, the probability that a
random size-k subset (without replacement) holds at least one correct sample is
``1 - C(n - c, k) / C(n, k)``.

self-consistency@k and best-of-k are the expected accuracy of the method run on a random size-k
subset of the recorded samples. They are estimated by Monte Carlo: ``draws`` subsets of the
recorded samples, drawn without replacement (a uniformly random ordering of all N, first k kept),
each scored 0/1; the estimate is the mean over draws and its Monte Carlo standard error is
``sd / sqrt(draws)``. The subsets of problem i at size k come from
``np.random.default_rng(np.random.SeedSequence([seed, i, k]))``, and both methods use the same
subsets (common random numbers), so the numbers are reproducible and the methods are compared on
equal draws. At k == N there is one subset, the recorded order, so the value is exact.

- self-consistency: majority vote over the subset's answers; ``None`` answers do not vote; ties
  go to the answer that appeared first in the subset order (the rule of
  :func:`ponder.core.voting.winner`). The vote is right when the winning group's first
  sample in the subset is correct; a subset without any answer is wrong. Equivalent answers are
  grouped once per problem with :func:`ponder.core.voting.group_answers` (so an expensive
  ``equivalent`` runs at most once per distinct answer and group); the votes are then counted per
  group, vectorised over draws.
- best-of-k: the rule of the live ``best-of-n`` strategy (:func:`ponder.core.voting.best_scored`),
  so that the value at k == N is what best-of-n answers on the same samples: only samples with
  both an answer and a score compete (a sample without an answer never wins, however high its
  score); the highest score wins, ties to the first in the subset order; the answer is that
  sample's group of equivalent answers, right when the group's first competing sample in the
  subset is correct. A subset without any such sample falls back, as the live strategy does, to
  the majority vote above.

Aggregates over problems (:class:`CurvePoint`) carry two standard errors: ``stderr``, the
standard error of the mean over problems (sample sd / sqrt(P); it includes the Monte Carlo noise;
NaN with one problem), and ``monte_carlo_stderr``, the part due only to the finite number of
draws (zero for exact values). :func:`per_problem_curves` returns the per-problem values so that
a caller can bootstrap over problems.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from ponder.core.errors import InvalidInputError
from ponder.core.voting import group_answers

PASS_AT_K = "pass_at_k"
SELF_CONSISTENCY = "self_consistency"
BEST_OF_K = "best_of_k"
METHODS = (PASS_AT_K, SELF_CONSISTENCY, BEST_OF_K)


class Sample(NamedTuple):
    """One recorded sample; any ``(answer, correct, score)`` triple works in its place."""

    answer: str | None
    correct: bool
    score: float | None = None


@dataclass(frozen=True)
class CurvePoint:
    """Mean accuracy over problems of one method at subset size k."""

    k: int
    mean_accuracy: float
    stderr: float  # over problems, Monte Carlo noise included; NaN with a single problem
    monte_carlo_stderr: float = 0.0  # the part due to the finite number of draws alone


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from c correct among n samples: ``1 - C(n - c, k) / C(n, k)``."""
    if not 0 <= c <= n or not 1 <= k <= n:
        raise InvalidInputError(f"pass@k needs 0 <= c <= n and 1 <= k <= n, got n={n}, c={c}, k={k}")
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)  # int / int is correctly rounded


def _exact(a: str, b: str) -> bool:
    return a == b


@dataclass(frozen=True)
class _Problem:
    groups: np.ndarray  # group id per sample, -1 where the answer is None
    correct: np.ndarray  # bool per sample
    scores: np.ndarray  # float per sample, -inf where unscored
    scored: np.ndarray  # bool per sample: it has a score


def _prepare(samples: Sequence[Sequence[object]], index: int, equivalent: Callable[[str, str], bool]) -> _Problem:
    if len(samples) == 0:
        raise InvalidInputError(f"problem {index} has no samples")
    answers, correct, scores, scored = [], [], [], []
    for sample in samples:
        if len(sample) != 3:
            raise InvalidInputError(f"problem {index}: a sample must be (answer, correct, score), got {sample!r}")
        answer, right, score = sample
        if answer is not None and not isinstance(answer, str):
            raise InvalidInputError(f"problem {index}: an answer must be a string or None, got {answer!r}")
        if score is not None and (not isinstance(score, numbers.Real) or math.isnan(score)):
            raise InvalidInputError(f"problem {index}: a score must be a number or None, got {score!r}")
        answers.append(answer)
        correct.append(bool(right))
        scores.append(-math.inf if score is None else float(score))
        scored.append(score is not None)
    groups = np.full(len(answers), -1, dtype=np.int64)
    for g, members in enumerate(group_answers(answers, equivalent)):
        groups[members] = g
    return _Problem(groups, np.array(correct, dtype=bool), np.array(scores, dtype=float), np.array(scored, dtype=bool))


def _subsets(n: int, k: int, draws: int, seed: int, index: int) -> np.ndarray:
    """Sample indices, one row per draw, in subset order."""
    if k == n:
        return np.arange(n)[None, :]
    rng = np.random.default_rng(np.random.SeedSequence([seed, index, k]))
    return np.argsort(rng.random((draws, n)), axis=1, kind="stable")[:, :k]


def _vote(problem: _Problem, subsets: np.ndarray) -> np.ndarray:
    """0/1 outcome of majority voting on each subset (ties to the first answer in subset order)."""
    rows, k = subsets.shape
    groups = problem.groups[subsets]  # (rows, k)
    n_groups = int(problem.groups.max()) + 1
    if n_groups == 0:
        return np.zeros(rows)
    votes = np.zeros((rows, n_groups), dtype=np.int64)
    first = np.full((rows, n_groups), k, dtype=np.int64)
    row = np.arange(rows)
    for position in range(k - 1, -1, -1):  # backwards, so ``first`` ends at the first appearance
        g = groups[:, position]
        has = g >= 0
        votes[row[has], g[has]] += 1
        first[row[has], g[has]] = position
    key = votes * (k + 1) + (k - first)  # more votes first, then earlier first appearance
    best = np.argmax(key, axis=1)
    position = first[row, best]
    has_answer = votes[row, best] > 0
    outcome = problem.correct[subsets[row, np.minimum(position, k - 1)]]
    return (outcome & has_answer).astype(float)


def _best_of(problem: _Problem, subsets: np.ndarray) -> np.ndarray:
    """0/1 outcome of best-of-n on each subset (see the module docstring): the top-scored sample
    with an answer (ties to the first), judged by its answer group's first such sample; subsets
    with no scored answer fall back to the majority vote."""
    rows = np.arange(len(subsets))
    groups = problem.groups[subsets]
    scores = problem.scores[subsets]
    competing = (groups >= 0) & problem.scored[subsets]
    masked = np.where(competing, scores, -math.inf)
    best = masked.max(axis=1)[:, None]
    top = np.argmax(competing & (masked == best), axis=1)  # argmax returns the first maximum
    first = np.argmax(competing & (groups == groups[rows, top][:, None]), axis=1)  # the group's first
    outcome = problem.correct[subsets[rows, first]].astype(float)
    none = ~competing.any(axis=1)
    if none.any():
        outcome[none] = _vote(problem, subsets[none])
    return outcome


def _estimates(
    samples_per_problem: Sequence[Sequence[Sequence[object]]],
    ks: Sequence[int],
    draws: int,
    seed: int,
    equivalent: Callable[[str, str], bool] | None,
) -> tuple[list[int], dict[str, dict[int, tuple[np.ndarray, np.ndarray]]]]:
    """Per method and k: (per-problem means, per-problem Monte Carlo variances of those means)."""
    if not samples_per_problem:
        raise InvalidInputError("no problems: pass the samples of at least one problem")
    if draws < 1:
        raise InvalidInputError(f"draws must be >= 1, got {draws}")
    if seed < 0:
        raise InvalidInputError(f"seed must be >= 0, got {seed}")
    sizes = sorted(set(ks))
    if not sizes:
        raise InvalidInputError("ks is empty: ask for at least one subset size")
    problems = [_prepare(samples, i, equivalent or _exact) for i, samples in enumerate(samples_per_problem)]
    smallest = min(len(p.correct) for p in problems)
    if sizes[0] < 1 or sizes[-1] > smallest:
        raise InvalidInputError(f"every k must be in [1, {smallest}] (the fewest samples of any problem), got {sizes}")
    out: dict[str, dict[int, tuple[np.ndarray, np.ndarray]]] = {method: {} for method in METHODS}
    for k in sizes:
        rows: dict[str, list[tuple[float, float]]] = {method: [] for method in METHODS}
        for i, problem in enumerate(problems):
            n = len(problem.correct)
            rows[PASS_AT_K].append((pass_at_k(n, int(problem.correct.sum()), k), 0.0))
            subsets = _subsets(n, k, draws, seed, i)
            outcomes = ((SELF_CONSISTENCY, _vote(problem, subsets)), (BEST_OF_K, _best_of(problem, subsets)))
            for method, outcome in outcomes:
                variance = float(outcome.var(ddof=1)) / len(outcome) if len(outcome) > 1 else 0.0
                rows[method].append((float(outcome.mean()), variance))
        for method in METHODS:
            means, variances = zip(*rows[method], strict=True)
            out[method][k] = (np.array(means), np.array(variances))
    return sizes, out


def per_problem_curves(
    samples_per_problem: Sequence[Sequence[Sequence[object]]],
    ks: Sequence[int],
    *,
    draws: int = 200,
    seed: int = 0,
    equivalent: Callable[[str, str], bool] | None = None,
) -> dict[str, dict[int, tuple[float, ...]]]:
    """Per method (``METHODS``), per k (ascending): the expected accuracy of each problem, in input order."""
    _, estimates = _estimates(samples_per_problem, ks, draws, seed, equivalent)
    return {
        method: {k: tuple(float(v) for v in means) for k, (means, _) in by_k.items()}
        for method, by_k in estimates.items()
    }


def curves(
    samples_per_problem: Sequence[Sequence[Sequence[object]]],
    ks: Sequence[int],
    *,
    draws: int = 200,
    seed: int = 0,
    equivalent: Callable[[str, str], bool] | None = None,
) -> dict[str, list[CurvePoint]]:
    """Per method (``METHODS``): one :class:`CurvePoint` per k, ascending, averaged over problems."""
    sizes, estimates = _estimates(samples_per_problem, ks, draws, seed, equivalent)
    result: dict[str, list[CurvePoint]] = {}
    for method, by_k in estimates.items():
        points = []
        for k in sizes:
            means, variances = by_k[k]
            count = len(means)
            stderr = math.sqrt(float(means.var(ddof=1)) / count) if count > 1 else math.nan
            points.append(
                CurvePoint(
                    k=k,
                    mean_accuracy=float(means.mean()),
                    stderr=stderr,
                    monte_carlo_stderr=math.sqrt(float(variances.sum())) / count,
                )
            )
        result[method] = points
    return result
