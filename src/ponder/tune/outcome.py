"""What a tune run produces: its trials, the chosen configuration and its scores, in one record.

- :class:`Trial`: one configuration the search evaluated (on the train split), with what
  Thresholdout answered for it and, for the report only, its naive holdout accuracy;
- :class:`ChosenScores`: the chosen configuration's train, Thresholdout, naive-holdout and test
  accuracies, with the split sizes;
- :class:`TuneOutcome`: the whole run; :meth:`TuneOutcome.to_dict` / :meth:`TuneOutcome.from_dict`
  are its JSON shape (``tune.json``);
- :func:`pareto_front`: the trials on the accuracy / tokens frontier.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from ponder.bench.report import pareto_frontier
from ponder.core.errors import InvalidInputError


@dataclass(frozen=True)
class Trial:
    """One evaluated configuration. ``holdout_reported`` is what Thresholdout answered for it (None
    when it was not queried); ``holdout_accuracy`` is its naive holdout accuracy, recorded for the
    report and never used to choose."""

    number: int
    label: str
    params: Mapping[str, Any]
    train_accuracy: float
    train_n: int
    tokens_per_problem: float
    seconds_per_problem: float
    feasible: bool = True
    holdout_reported: float | None = None
    holdout_accuracy: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (``params`` as a plain dict)."""
        data = asdict(self)
        data["params"] = dict(self.params)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Trial:
        """The inverse of :meth:`to_dict`."""
        return _build(cls, data)


@dataclass(frozen=True)
class ChosenScores:
    """The chosen configuration's accuracies: train (what the optimiser saw), Thresholdout (what the
    reusable holdout answered), naive holdout (the raw holdout accuracy) and test (touched once)."""

    train: float
    thresholdout: float
    naive_holdout: float
    test: float
    n_train: int
    n_holdout: int
    n_test: int

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ChosenScores:
        """The inverse of :meth:`to_dict`."""
        return _build(cls, data)


@dataclass(frozen=True)
class TuneOutcome:
    """A whole tune run. ``objective`` is ``"accuracy"`` or ``"pareto"``; ``constraint`` is human
    text (``"<= 300 completion tokens per problem"`` or ``"none"``); ``pareto`` holds the trial
    numbers on the accuracy / tokens frontier; ``split_sizes`` is (train, holdout, test).
    ``holdout_threshold`` / ``holdout_sigma`` are Thresholdout's ``T`` and noise scale, and
    ``stratified_by`` the field the split was stratified by (None: not stratified)."""

    dataset: str
    objective: str
    constraint: str
    seed: int
    trials: tuple[Trial, ...]
    pareto: tuple[int, ...]
    chosen: Trial | None
    scores: ChosenScores | None
    holdout_queries: int
    holdout_spent: int
    holdout_budget: int
    config_path: str | None
    split_sizes: tuple[int, int, int]
    holdout_threshold: float | None = None
    holdout_sigma: float | None = None
    stratified_by: str | None = None

    @property
    def holdout_remaining(self) -> int:
        """The holdout budget left at the end of the run."""
        return self.holdout_budget - self.holdout_spent

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of ``tune.json``."""
        return {
            "dataset": self.dataset,
            "objective": self.objective,
            "constraint": self.constraint,
            "seed": self.seed,
            "trials": [t.to_dict() for t in self.trials],
            "pareto": list(self.pareto),
            "chosen": None if self.chosen is None else self.chosen.to_dict(),
            "scores": None if self.scores is None else self.scores.to_dict(),
            "holdout_queries": self.holdout_queries,
            "holdout_spent": self.holdout_spent,
            "holdout_budget": self.holdout_budget,
            "holdout_remaining": self.holdout_remaining,
            "config_path": self.config_path,
            "split_sizes": list(self.split_sizes),
            "holdout_threshold": self.holdout_threshold,
            "holdout_sigma": self.holdout_sigma,
            "stratified_by": self.stratified_by,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TuneOutcome:
        """The inverse of :meth:`to_dict` (``holdout_remaining`` is derived, so it is ignored)."""
        if not isinstance(data, Mapping):
            raise InvalidInputError(f"a tune outcome must be a JSON object, got {type(data).__name__}")
        fields = {k: v for k, v in data.items() if k != "holdout_remaining"}
        try:
            fields["trials"] = tuple(Trial.from_dict(t) for t in data["trials"])
            fields["pareto"] = tuple(int(n) for n in data["pareto"])
            fields["chosen"] = None if data["chosen"] is None else Trial.from_dict(data["chosen"])
            fields["scores"] = None if data["scores"] is None else ChosenScores.from_dict(data["scores"])
            train, holdout, test = (int(n) for n in data["split_sizes"])
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInputError(f"not a tune outcome: {type(exc).__name__}: {exc}") from None
        fields["split_sizes"] = (train, holdout, test)
        return _build(cls, fields)


def _build(cls: Any, data: Mapping[str, Any]) -> Any:
    """``cls(**data)``, with a clear error naming what is missing or unknown."""
    if not isinstance(data, Mapping):
        raise InvalidInputError(f"a {cls.__name__} must be a JSON object, got {type(data).__name__}")
    try:
        return cls(**data)
    except TypeError as exc:
        raise InvalidInputError(f"not a valid {cls.__name__}: {exc}") from None


def pareto_front(trials: Iterable[Trial]) -> tuple[int, ...]:
    """The numbers of the feasible trials no other feasible trial dominates (higher or equal train
    accuracy at lower or equal tokens per problem, strictly better in one), cheapest first.
    Trials with identical accuracy and tokens do not dominate each other: all stay on the front."""
    feasible = [t for t in trials if t.feasible]
    points = [(t.tokens_per_problem, t.train_accuracy) for t in feasible]
    return tuple(feasible[i].number for i in pareto_frontier(points))
