"""The search of ``ponder tune``: optuna over the space, each trial through the bench runner, the
holdout read only through Thresholdout.

Algorithm (Archon's Inference-Time Architecture Search, Saad-Falcon et al., with Bayesian
optimisation; the reusable holdout of Dwork et al. 2015): a seeded optuna study proposes
candidates define-by-run (:meth:`ponder.tune.space.Space.suggest`: the architecture, then its
parameters) with ``TPESampler(seed=seed)`` for one objective (train accuracy, maximised) or
``NSGAIISampler(seed=seed)`` for the Pareto form (train accuracy maximised, completion tokens per
problem minimised). Each trial:

1. builds the candidate's pipeline config and evaluates it on the train split through the bench
   runner (:class:`~ponder.tune.evaluate.Evaluator`; stored rows are reused, so a configuration
   already evaluated in this or an earlier trial or run costs nothing);
2. checks the constraints (``max_tokens_per_problem``, ``max_seconds_per_problem``). They go to
   optuna as the trial's constraints (``trial.set_constraint``: ``measured - limit``, feasible when
   all are <= 0; both samplers then prefer feasible trials), not as a penalty on the objective:
   the sampler learns where the feasible region is, and the objective values stay true
   accuracies. Infeasible trials are kept (the report shows them) but never chosen. A candidate
   that cannot run at all (a combination the space's checks missed) is kept as infeasible too;
3. for a feasible trial, evaluates it on the holdout split and queries
   :class:`~ponder.tune.thresholdout.Thresholdout` with (train accuracy, holdout accuracy). A
   configuration that an earlier trial already queried reuses that answer (the same query twice
   would spend budget for nothing). Once the holdout budget is spent, later trials are not queried
   (nor evaluated on the holdout): the choice is among the trials queried before, and the result
   says from which trial on (``exhausted_at``).

The chosen configuration is the feasible trial with the highest Thresholdout answer (ties: fewer
tokens per problem, then the earlier trial). Only the optimiser's objective sees train accuracies;
only Thresholdout sees holdout accuracies; the test split is left to the caller, for the chosen
one (:func:`ponder.tune.api.atune`).

Resuming: the study lives in SQLite (:func:`open_study`) under a name derived from everything that
gives its trials their meaning (:func:`study_name`). Rerunning the same command loads it, counts
its finished trials towards ``trials``, and runs only the rest; a trial left running by a killed
process, or failed by an error, is retried once with the same parameters (enqueued). Thresholdout
is rebuilt by replaying the finished trials' stored queries in trial order (it is deterministic, so
every answer and the budget come back exactly). A resumed study's later proposals may differ from
an uninterrupted run's (the sampler's random state starts afresh), but no finished trial is repeated.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.exceptions import ExperimentalWarning
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from ponder.bench.types import Config
from ponder.core.errors import InvalidInputError, PonderError
from ponder.tune.evaluate import Evaluator, Measure
from ponder.tune.outcome import Trial
from ponder.tune.space import Space
from ponder.tune.splits import Splits
from ponder.tune.thresholdout import DEFAULT_BUDGET, DEFAULT_SIGMA, DEFAULT_THRESHOLD, Thresholdout

ERROR_TOKENS = 1e9  # the tokens objective of a candidate that could not run (never on the frontier)


@dataclass(frozen=True)
class SearchSettings:
    """What the search optimises and under which limits (see the module docstring)."""

    trials: int = 20
    pareto: bool = False
    max_tokens_per_problem: float | None = None
    max_seconds_per_problem: float | None = None
    seed: int = 0
    threshold: float = DEFAULT_THRESHOLD
    sigma: float = DEFAULT_SIGMA
    holdout_budget: int = DEFAULT_BUDGET

    def __post_init__(self) -> None:
        if isinstance(self.trials, bool) or not isinstance(self.trials, int) or self.trials < 1:
            raise InvalidInputError(f"trials must be an integer >= 1, got {self.trials!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise InvalidInputError(f"seed must be an integer >= 0, got {self.seed!r}")
        for name in ("max_tokens_per_problem", "max_seconds_per_problem"):
            limit = getattr(self, name)
            if limit is not None and not (isinstance(limit, (int, float)) and math.isfinite(limit) and limit > 0):
                raise InvalidInputError(f"{name} must be a number > 0, got {limit!r}")
        Thresholdout(threshold=self.threshold, sigma=self.sigma, budget=self.holdout_budget, seed=self.seed)

    @property
    def objective(self) -> str:
        """``accuracy`` (one objective) or ``pareto`` (accuracy and tokens)."""
        return "pareto" if self.pareto else "accuracy"

    @property
    def constraint(self) -> str:
        """The constraints in words (``none`` without any)."""
        parts = []
        if self.max_tokens_per_problem is not None:
            parts.append(f"<= {self.max_tokens_per_problem:g} completion tokens per problem")
        if self.max_seconds_per_problem is not None:
            parts.append(f"<= {self.max_seconds_per_problem:g} seconds per problem")
        return " and ".join(parts) or "none"

    def violations(self, measure: Measure) -> dict[str, float]:
        """``measured - limit`` for each constraint (feasible when all are <= 0)."""
        out = {}
        if self.max_tokens_per_problem is not None:
            out["tokens"] = measure.tokens_per_problem - self.max_tokens_per_problem
        if self.max_seconds_per_problem is not None:
            out["seconds"] = measure.seconds_per_problem - self.max_seconds_per_problem
        return out

    def thresholdout(self) -> Thresholdout:
        """A fresh Thresholdout with these settings (seeded with the search's seed)."""
        return Thresholdout(threshold=self.threshold, sigma=self.sigma, budget=self.holdout_budget, seed=self.seed)


@dataclass(frozen=True)
class SearchResult:
    """The finished trials (in trial order) with their pipeline configs, the Thresholdout that
    answered them, and the trial from which on the holdout budget was spent (None: never)."""

    trials: tuple[Trial, ...]
    pipelines: Mapping[int, dict[str, Any]]
    thresholdout: Thresholdout
    exhausted_at: int | None = None


def study_name(dataset: str, space: Space, settings: SearchSettings, context: Mapping[str, Any]) -> str:
    """``tune:DATASET:OBJECTIVE:seedN:HASH``; the hash covers the space's content, the objective and
    constraints, the seed, the Thresholdout settings and ``context`` (splits, limit, max tokens,
    engine and model), so a study is resumed only by a run whose trials mean the same."""
    meaning = {"space": space.digest, "settings": asdict(settings) | {"trials": None}, **context}
    digest = hashlib.sha256(json.dumps(meaning, sort_keys=True, default=str).encode()).hexdigest()[:12]
    return f"tune:{dataset}:{settings.objective}:seed{settings.seed}:{digest}"


def storage_path(db: str | Path) -> Path:
    """Where the optuna study of a bench store lives: beside it, ``NAME.optuna.db``."""
    path = Path(db)
    return path.with_name(f"{path.stem}.optuna.db")


@contextlib.contextmanager
def quiet_optuna() -> Iterator[None]:
    """optuna's INFO lines (one per trial) and experimental-feature warnings off, then restored."""
    before = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ExperimentalWarning)
            yield
    finally:
        optuna.logging.set_verbosity(before)


def open_study(path: Path, name: str, settings: SearchSettings) -> optuna.Study:
    """The study ``name`` in the SQLite file ``path`` (created, or loaded to resume)."""
    sampler: optuna.samplers.BaseSampler
    if settings.pareto:
        sampler = optuna.samplers.NSGAIISampler(seed=settings.seed)
    else:
        sampler = optuna.samplers.TPESampler(seed=settings.seed)
    directions = [StudyDirection.MAXIMIZE, StudyDirection.MINIMIZE] if settings.pareto else [StudyDirection.MAXIMIZE]
    try:
        storage = optuna.storages.RDBStorage(f"sqlite:///{path}")
        return optuna.create_study(
            storage=storage, study_name=name, sampler=sampler, directions=directions, load_if_exists=True
        )
    except Exception as exc:  # SQLAlchemy's and optuna's own errors: one line naming the file
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InvalidInputError(f"cannot open the tune study store {path}: {reason}") from None


class Search:
    """One search over ``space`` (see the module docstring); :meth:`run` runs it to ``trials``."""

    def __init__(
        self,
        study: optuna.Study,
        space: Space,
        splits: Splits,
        evaluator: Evaluator,
        settings: SearchSettings,
        echo: Callable[[str], None] | None = None,
    ) -> None:
        self.study, self.space, self.splits, self.evaluator, self.settings = study, space, splits, evaluator, settings
        self.echo = echo or (lambda line: None)
        self.thresholdout = settings.thresholdout()
        self.answers: dict[str, tuple[float, float]] = {}  # config key -> (Thresholdout answer, holdout accuracy)
        self.exhausted_at: int | None = None

    async def run(self) -> SearchResult:
        """Run trials until ``settings.trials`` have finished (counting those stored)."""
        with quiet_optuna():
            self._recover()
            self._replay()
            done = len(self._finished())
            while done < self.settings.trials:
                trial = self.study.ask()
                try:
                    values = await self._trial(trial)
                except BaseException:
                    self.study.tell(trial, state=TrialState.FAIL)
                    raise
                self.study.tell(trial, values)
                done += 1
                self.echo(_line(self.study.trials[trial.number]))
        finished = self._finished()
        return SearchResult(
            trials=tuple(_record(t) for t in finished),
            pipelines={t.number: dict(t.user_attrs["pipeline"]) for t in finished if "pipeline" in t.user_attrs},
            thresholdout=self.thresholdout,
            exhausted_at=self.exhausted_at,
        )

    def _finished(self) -> list[FrozenTrial]:
        return sorted(self.study.get_trials(states=(TrialState.COMPLETE,)), key=lambda t: t.number)

    def _recover(self) -> None:
        """Fail trials a killed run left running (this process is the study's only user) and enqueue,
        once, a retry of each failed trial with its parameters."""
        storage = self.study._storage  # the study's own storage: optuna has no public way to fail a stale trial
        trials = self.study.get_trials(deepcopy=False)
        retried = {t.user_attrs.get("retry_of") for t in trials}
        for trial in trials:
            if trial.state == TrialState.RUNNING:
                storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
            if trial.state in (TrialState.RUNNING, TrialState.FAIL) and trial.number not in retried and trial.params:
                self.study.enqueue_trial(dict(trial.params), user_attrs={"retry_of": trial.number})

    def _replay(self) -> None:
        """Rebuild Thresholdout and the answered configurations from the finished trials, in order."""
        for trial in self._finished():
            attrs = trial.user_attrs
            if "query" in attrs:
                train, holdout = attrs["query"]
                answer = self.thresholdout.query(train, holdout)
                if not math.isclose(answer, attrs["reported"], rel_tol=0, abs_tol=1e-12):
                    raise InvalidInputError(
                        f"trial {trial.number}: replaying the holdout queries gave {answer}, not the stored "
                        f"{attrs['reported']}; the study {self.study.study_name!r} does not match these settings"
                    )
            if "reported" in attrs and "key" in attrs:
                self.answers.setdefault(attrs["key"], (attrs["reported"], attrs["holdout"]))
            if attrs.get("holdout_exhausted") and self.exhausted_at is None:
                self.exhausted_at = trial.number

    async def _trial(self, trial: optuna.Trial) -> list[float]:
        candidate = self.space.suggest(trial)
        trial.set_user_attr("architecture", candidate.architecture)
        trial.set_user_attr("params", candidate.params)
        trial.set_user_attr("pipeline", candidate.pipeline)
        try:
            config = self.evaluator.config(candidate.pipeline)
        except PonderError as exc:  # a combination the space's checks could not catch: kept, never chosen
            trial.set_user_attr("error", str(exc))
            trial.set_user_attr("feasible", False)
            for name in ("error", *self.settings.violations(Measure(0, 0, 0.0, 0.0))):
                trial.set_constraint(name, 1.0)
            return [0.0, ERROR_TOKENS] if self.settings.pareto else [0.0]
        trial.set_user_attr("key", config.key)
        train = await self.evaluator.measure(config, self.splits.train)
        violations = self.settings.violations(train)
        feasible = all(v <= 0 for v in violations.values())
        trial.set_user_attr("train", asdict(train))
        trial.set_user_attr("feasible", feasible)
        for name, value in {"error": 0.0, **violations}.items():
            trial.set_constraint(name, value)
        if feasible:
            await self._query(trial, config, train)
        return [train.accuracy, train.tokens_per_problem] if self.settings.pareto else [train.accuracy]

    async def _query(self, trial: optuna.Trial, config: Config, train: Measure) -> None:
        """Thresholdout's answer for a feasible trial (reused for a configuration already queried)."""
        key = config.key
        if key in self.answers:
            reported, holdout = self.answers[key]
        elif self.thresholdout.remaining < 1:
            trial.set_user_attr("holdout_exhausted", True)
            if self.exhausted_at is None:
                self.exhausted_at = trial.number
            return
        else:
            holdout = (await self.evaluator.measure(config, self.splits.holdout)).accuracy
            reported = self.thresholdout.query(train.accuracy, holdout)
            trial.set_user_attr("query", [train.accuracy, holdout])
            self.answers[key] = (reported, holdout)
        trial.set_user_attr("reported", reported)
        trial.set_user_attr("holdout", holdout)


def _record(trial: FrozenTrial) -> Trial:
    """A finished optuna trial as the outcome's :class:`Trial`."""
    attrs = trial.user_attrs
    train = attrs.get("train", {})
    return Trial(
        number=trial.number,
        label=str(attrs["pipeline"]["name"]) if "pipeline" in attrs else f"trial {trial.number}",
        params={"architecture": attrs.get("architecture"), **attrs.get("params", {})},
        train_accuracy=train["correct"] / train["n"] if train.get("n") else 0.0,
        train_n=int(train.get("n", 0)),
        tokens_per_problem=float(train.get("tokens_per_problem", 0.0)),
        seconds_per_problem=float(train.get("seconds_per_problem", 0.0)),
        feasible=bool(attrs.get("feasible", False)),
        holdout_reported=attrs.get("reported"),
        holdout_accuracy=attrs.get("holdout"),
    )


def _line(trial: FrozenTrial) -> str:
    """One line per finished trial, for the progress output."""
    record = _record(trial)
    attrs = trial.user_attrs
    note = f"error: {attrs['error']}" if "error" in attrs else ""
    if not note and not record.feasible:
        note = "infeasible"
    elif record.holdout_reported is not None:
        note = f"thresholdout {record.holdout_reported:.3f}"
    elif attrs.get("holdout_exhausted"):
        note = "holdout budget spent: not queried"
    reused = " (stored)" if attrs.get("train", {}).get("new") == 0 else ""
    return (
        f"trial {record.number}: {record.label}: train {record.train_accuracy:.1%}, "
        f"{record.tokens_per_problem:.0f} tokens/problem{reused}" + (f"; {note}" if note else "")
    )


def choose(trials: Sequence[Trial]) -> Trial | None:
    """The feasible trial with the highest Thresholdout answer (ties: fewer tokens, then earlier)."""
    eligible = [t for t in trials if t.feasible and t.holdout_reported is not None]
    return max(eligible, key=lambda t: (t.holdout_reported or 0.0, -t.tokens_per_problem, -t.number), default=None)
