"""Seeded, stratified train / holdout / test splits of a dataset for ``ponder tune``.

The optimiser uses ``train`` freely, ``holdout`` is read only through
:class:`~ponder.tune.thresholdout.Thresholdout`, and ``test`` is touched once, for the chosen
configuration.

The split is a function of the set of problems and the seed only: problems are sorted by id first
(so the order they were read in does not matter), then grouped into strata by
``problem.data[stratify]`` when every problem has that field (a single stratum otherwise), each
stratum is shuffled by one seeded generator (strata in sorted order), and each stratum is cut by
the fractions. A stratum's counts are its exact shares rounded by the largest-remainder method
applied to the running totals: each split gets the floor or the ceiling of its exact share of the
stratum, and the seats left over go to the splits furthest behind their share of all problems
split so far, so many small strata do not all round towards ``train`` and the totals stay within
one problem of the fractions. Each split lists its problems in id order.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ponder.bench.types import Problem
from ponder.core.errors import InvalidInputError

SPLIT_NAMES = ("train", "holdout", "test")


@dataclass(frozen=True)
class Splits:
    """The three disjoint parts of a dataset; ``stratified_by`` is the field used (None: not stratified)."""

    train: tuple[Problem, ...]
    holdout: tuple[Problem, ...]
    test: tuple[Problem, ...]
    stratified_by: str | None = None

    @property
    def sizes(self) -> tuple[int, int, int]:
        """(train, holdout, test) problem counts."""
        return len(self.train), len(self.holdout), len(self.test)


def _check_fractions(fractions: tuple[float, float, float]) -> tuple[float, float, float]:
    values = tuple(fractions) if isinstance(fractions, (tuple, list)) else ()
    valid = len(values) == 3 and all(
        isinstance(f, (int, float)) and not isinstance(f, bool) and math.isfinite(f) and f > 0 for f in values
    )
    if not valid or abs(sum(values) - 1.0) > 1e-9:
        raise InvalidInputError(
            f"split fractions must be 3 positive numbers (train, holdout, test) that sum to 1, got {fractions!r}"
        )
    return float(values[0]), float(values[1]), float(values[2])


def _strata(problems: Sequence[Problem], stratify: str | None) -> tuple[list[list[Problem]], str | None]:
    """The problems (already in id order) grouped by ``data[stratify]``, strata in sorted key order."""
    if stratify is None or not all(isinstance(p.data, dict) and stratify in p.data for p in problems):
        return [list(problems)], None
    groups: dict[str, list[Problem]] = {}
    for p in problems:
        groups.setdefault(str(p.data[stratify]), []).append(p)
    return [groups[key] for key in sorted(groups)], stratify


def _counts(size: int, fractions: tuple[float, ...], done: int, assigned: list[int]) -> list[int]:
    """How many of a stratum of ``size`` go to each split: floor of its exact share, and the
    leftover seats to the splits furthest behind their exact share of the ``done + size``
    problems split so far (ties: train, holdout, test order)."""
    base = [math.floor(f * size) for f in fractions]
    deficit = [f * (done + size) - a - b for f, a, b in zip(fractions, assigned, base, strict=True)]
    order = sorted(range(len(fractions)), key=lambda i: (-deficit[i], i))
    for i in order[: size - sum(base)]:
        base[i] += 1
    return base


def split_problems(
    problems: Sequence[Problem],
    *,
    fractions: tuple[float, float, float] = (0.4, 0.3, 0.3),
    seed: int = 0,
    stratify: str | None = "type",
) -> Splits:
    """Split ``problems`` into train / holdout / test (see the module docstring for the method).

    Raises :class:`InvalidInputError` when the fractions are not 3 positive numbers summing to 1,
    when two problems share an id, or when a split would be empty.
    """
    shares = _check_fractions(fractions)
    ordered = sorted(problems, key=lambda p: p.id)
    for a, b in itertools.pairwise(ordered):
        if a.id == b.id:
            raise InvalidInputError(f"two problems share the id {a.id!r}; a split needs unique problem ids")
    strata, used = _strata(ordered, stratify)
    rng = np.random.default_rng(seed)
    parts: list[list[Problem]] = [[], [], []]
    assigned = [0, 0, 0]
    done = 0
    for stratum in strata:
        shuffled = [stratum[i] for i in rng.permutation(len(stratum))]
        counts = _counts(len(stratum), shares, done, assigned)
        start = 0
        for i, count in enumerate(counts):
            parts[i].extend(shuffled[start : start + count])
            assigned[i] += count
            start += count
        done += len(stratum)
    for name, part, share in zip(SPLIT_NAMES, parts, shares, strict=True):
        if not part:
            raise InvalidInputError(
                f"the {name} split would be empty: {len(ordered)} problems with fractions "
                f"{tuple(round(s, 6) for s in shares)} give it none; use more problems or a larger {name} "
                f"fraction (at {share:g} it needs about {math.ceil(1 / share)} problems or more)"
            )
    train, holdout, test = (tuple(sorted(part, key=lambda p: p.id)) for part in parts)
    return Splits(train=train, holdout=holdout, test=test, stratified_by=used)
