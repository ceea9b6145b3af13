"""The search of ``ponder tune`` with scripted engines: it finds the known best configuration, keeps
infeasible ones out of the choice, resumes without repeating a finished trial, retries an
interrupted one, and keeps choosing when the holdout budget is spent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna
import pytest
from tests.support.tune_toy import Failing, right_at, write_toy

from ponder.core.errors import BackendUnavailableError, InvalidInputError
from ponder.engines import FakeEngine
from ponder.tune import atune
from ponder.tune.search import storage_path

TEMPERATURES = {
    "architectures": [
        {"name": "sc", "strategy": "self-consistency", "params": {"budget": [1, 2], "temperature": [0.2, 0.7, 1.0]}}
    ]
}


def studies(db: Path) -> list[optuna.study.StudySummary]:
    return optuna.get_all_study_summaries(f"sqlite:///{storage_path(db)}")


def trials_of(db: Path) -> list[optuna.trial.FrozenTrial]:
    [summary] = studies(db)
    return optuna.load_study(study_name=summary.study_name, storage=f"sqlite:///{storage_path(db)}").trials


async def tune(tmp_path: Path, engine: FakeEngine, **options: Any) -> Any:
    data = write_toy(tmp_path / "toy.jsonl")
    defaults: dict[str, Any] = {"space": TEMPERATURES, "trials": 8, "db": tmp_path / "b.db", "out": tmp_path / "out"}
    return await atune(str(data), engine=engine, progress=False, **{**defaults, **options})


async def test_tuning_finds_the_one_good_temperature(tmp_path: Path) -> None:
    outcome = await tune(tmp_path, FakeEngine(right_at(temperature=0.7)))
    assert outcome.chosen is not None and outcome.chosen.params["temperature"] == 0.7
    assert outcome.scores.train == 1.0 and outcome.scores.test == 1.0 and outcome.scores.naive_holdout == 1.0
    assert outcome.split_sizes == (12, 9, 9) and len(outcome.trials) == 8
    wrong = [t for t in outcome.trials if t.params["temperature"] != 0.7]
    assert wrong and all(t.train_accuracy == 0.0 for t in wrong)
    # each distinct configuration is queried once; repeats reuse its answer
    distinct = {(t.params["budget"], t.params["temperature"]) for t in outcome.trials}
    assert outcome.holdout_queries == len(distinct)
    assert Path(outcome.config_path).is_file() and (tmp_path / "out" / "tune.md").is_file()


async def test_a_pipeline_architecture_can_win(tmp_path: Path) -> None:
    space = {
        "architectures": [
            {"name": "greedy", "strategy": "greedy"},
            {"name": "drafts", "pipeline": {"samples": [3], "temperature": [0.7], "fuser_layers": 0}},
        ]
    }
    outcome = await tune(tmp_path, FakeEngine(right_at(temperature=0.7)), space=space, trials=4)
    assert outcome.chosen is not None and outcome.chosen.params["architecture"] == "drafts"


async def test_infeasible_trials_are_kept_but_never_chosen(tmp_path: Path) -> None:
    """Two samples per call answer right, but cost more tokens than the constraint allows."""
    outcome = await tune(tmp_path, FakeEngine(right_at(n=2)), max_tokens_per_problem=10, trials=8)
    infeasible = [t for t in outcome.trials if not t.feasible]
    assert infeasible and all(t.params["budget"] == 2 and t.train_accuracy == 1.0 for t in infeasible)
    assert all(t.holdout_reported is None for t in infeasible)  # the holdout is never read for them
    assert outcome.chosen is not None and outcome.chosen.params["budget"] == 1 and outcome.chosen.feasible
    assert outcome.constraint == "<= 10 completion tokens per problem"


async def test_a_resumed_search_repeats_no_finished_trial(tmp_path: Path) -> None:
    first = FakeEngine(right_at(temperature=0.7))
    before = await tune(tmp_path, first, trials=3)
    assert first.calls > 0
    again = FakeEngine(right_at(temperature=0.7))
    same = await tune(tmp_path, again, trials=3)
    assert again.calls == 0 and same.trials == before.trials  # nothing run: every trial and row is stored
    assert same.holdout_queries == before.holdout_queries and same.holdout_spent == before.holdout_spent
    more = FakeEngine(right_at(temperature=0.7))
    longer = await tune(tmp_path, more, trials=6)
    assert len(longer.trials) == 6 and longer.trials[:3] == before.trials
    assert [t.state for t in trials_of(tmp_path / "b.db")] == [optuna.trial.TrialState.COMPLETE] * 6


async def test_an_interrupted_trial_is_retried_with_its_parameters(tmp_path: Path) -> None:
    with pytest.raises(BackendUnavailableError):
        await tune(tmp_path, Failing(right_at(temperature=0.7), limit=25), trials=6)
    stored = trials_of(tmp_path / "b.db")
    [failed] = [t for t in stored if t.state == optuna.trial.TrialState.FAIL]
    done = [t for t in stored if t.state == optuna.trial.TrialState.COMPLETE]
    engine = FakeEngine(right_at(temperature=0.7))
    outcome = await tune(tmp_path, engine, trials=6)
    assert len(outcome.trials) == 6 and [t.number for t in outcome.trials[: len(done)]] == [t.number for t in done]
    [retry] = [t for t in trials_of(tmp_path / "b.db") if t.user_attrs.get("retry_of") == failed.number]
    assert retry.params == failed.params and retry.number == failed.number + 1
    assert retry.state == optuna.trial.TrialState.COMPLETE


async def test_a_trial_left_running_by_a_killed_run_is_retried(tmp_path: Path) -> None:
    await tune(tmp_path, FakeEngine(right_at(temperature=0.7)), trials=2)
    [summary] = studies(tmp_path / "b.db")
    study = optuna.load_study(study_name=summary.study_name, storage=f"sqlite:///{storage_path(tmp_path / 'b.db')}")
    killed = study.ask()  # as a run killed mid-trial leaves it
    killed.suggest_categorical("architecture", ["sc"])
    killed.suggest_categorical("sc.budget", [1, 2])
    outcome = await tune(tmp_path, FakeEngine(right_at(temperature=0.7)), trials=4)
    assert len(outcome.trials) == 4
    states = {t.number: t.state for t in trials_of(tmp_path / "b.db")}
    assert states[killed.number] == optuna.trial.TrialState.FAIL
    retry = next(t for t in trials_of(tmp_path / "b.db") if t.user_attrs.get("retry_of") == killed.number)
    assert retry.params["sc.budget"] == killed.params["sc.budget"]


async def test_a_spent_holdout_budget_stops_the_queries_not_the_search(tmp_path: Path) -> None:
    """With T = 0 and no noise every query whose train and holdout accuracies differ spends budget."""
    space = {"architectures": [{"name": "sc", "strategy": "self-consistency", "params": {"budget": [1, 2, 3, 4]}}]}
    outcome = await tune(
        tmp_path,
        FakeEngine(right_at(parity=True)),
        space=space,
        trials=6,
        threshold=0.0,
        sigma=0.0,
        holdout_budget=1,
    )
    assert outcome.holdout_spent == outcome.holdout_budget == 1 and outcome.holdout_remaining == 0
    queried = [t for t in outcome.trials if t.holdout_reported is not None]
    assert queried and any(t.holdout_reported is None for t in outcome.trials)
    assert outcome.chosen in queried and len(outcome.trials) == 6


async def test_the_pareto_form_searches_accuracy_against_tokens(tmp_path: Path) -> None:
    outcome = await tune(tmp_path, FakeEngine(right_at(temperature=0.7)), pareto=True, trials=6)
    assert outcome.objective == "pareto" and outcome.pareto
    front = [t for t in outcome.trials if t.number in outcome.pareto]
    assert all(t.feasible for t in front)
    [summary] = studies(tmp_path / "b.db")
    assert len(summary.directions) == 2


async def test_a_different_space_is_a_different_study(tmp_path: Path) -> None:
    await tune(tmp_path, FakeEngine(right_at(temperature=0.7)), trials=2)
    other = {"architectures": [{"name": "sc", "strategy": "self-consistency", "params": {"budget": [1, 4]}}]}
    await tune(tmp_path, FakeEngine(right_at(temperature=0.7)), space=other, trials=2)
    assert len(studies(tmp_path / "b.db")) == 2


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"trials": 0}, "trials must be an integer >= 1"),
        ({"seed": -1}, "seed must be an integer >= 0"),
        ({"max_tokens_per_problem": 0}, "max_tokens_per_problem must be a number > 0"),
        ({"fractions": (0.5, 0.5, 0.5)}, "split fractions must be 3 positive numbers"),
        ({"holdout_budget": 0}, "Thresholdout budget must be an integer >= 1"),
        ({"space": {"architectures": [{"strategy": "nope"}]}}, "space: architectures[0].strategy: unknown strategy"),
    ],
)
async def test_bad_arguments_fail_before_anything_runs(tmp_path: Path, options: dict[str, Any], message: str) -> None:
    engine = FakeEngine(right_at())
    with pytest.raises(InvalidInputError) as caught:
        await tune(tmp_path, engine, **options)
    assert message in str(caught.value) and engine.calls == 0
