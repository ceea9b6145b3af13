"""The tune report (Markdown, JSON, PNG, HTML), the outcome's JSON shape, the Pareto front and Wilson."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ponder.core.errors import InvalidInputError
from ponder.tune.intervals import wilson_interval
from ponder.tune.outcome import ChosenScores, Trial, TuneOutcome, pareto_front
from ponder.tune.report import report_markdown, write_report


def trial(number: int, accuracy: float, tokens: float, *, feasible: bool = True, label: str = "") -> Trial:
    return Trial(
        number=number,
        label=label or f"self-consistency@{number + 1} T=0.7",
        params={"strategy": "self-consistency", "budget": number + 1},
        train_accuracy=accuracy,
        train_n=200,
        tokens_per_problem=tokens,
        seconds_per_problem=0.5 + number,
        feasible=feasible,
        holdout_reported=accuracy - 0.01,
        holdout_accuracy=accuracy - 0.03,
    )


def outcome() -> TuneOutcome:
    trials = (
        trial(0, 0.40, 100),
        trial(1, 0.55, 300),
        trial(2, 0.50, 250),
        trial(3, 0.60, 900, feasible=False),
        trial(4, 0.55, 400, label="pipe|line"),
    )
    return TuneOutcome(
        dataset="mawps-singleop",
        objective="accuracy",
        constraint="<= 300 completion tokens per problem",
        seed=0,
        trials=trials,
        pareto=pareto_front(trials),
        chosen=trials[1],
        scores=ChosenScores(
            train=0.55, thresholdout=0.523, naive_holdout=0.52, test=0.48, n_train=200, n_holdout=150, n_test=150
        ),
        holdout_queries=5,
        holdout_spent=2,
        holdout_budget=64,
        config_path="best.yaml",
        split_sizes=(200, 150, 150),
        holdout_threshold=0.04,
        holdout_sigma=0.01,
        stratified_by=None,
    )


def test_pareto_front_on_a_hand_made_set() -> None:
    trials = [
        trial(0, 0.40, 100),  # cheapest: on the front
        trial(1, 0.55, 300),  # on the front
        trial(2, 0.50, 300),  # dominated by 1 (same tokens, lower accuracy)
        trial(3, 0.55, 300),  # identical to 1: both stay
        trial(4, 0.55, 400),  # dominated by 1 (same accuracy, more tokens)
        trial(5, 0.70, 800),  # the most accurate: on the front
        trial(6, 0.90, 50, feasible=False),  # would dominate all, but is infeasible
        trial(7, 0.30, 100),  # dominated by 0
    ]
    assert pareto_front(trials) == (0, 1, 3, 5)
    assert pareto_front([]) == ()


def test_outcome_round_trips_through_json() -> None:
    original = outcome()
    data = json.loads(json.dumps(original.to_dict()))
    assert data["holdout_remaining"] == 62
    assert TuneOutcome.from_dict(data) == original
    empty = TuneOutcome("d", "pareto", "none", 1, (), (), None, None, 0, 0, 64, None, (4, 3, 3), stratified_by="type")
    assert TuneOutcome.from_dict(json.loads(json.dumps(empty.to_dict()))) == empty
    with pytest.raises(InvalidInputError, match="not a tune outcome"):
        TuneOutcome.from_dict({"dataset": "d"})
    with pytest.raises(InvalidInputError, match="not a valid Trial"):
        Trial.from_dict({"number": 1})


def test_wilson_interval() -> None:
    low, high = wilson_interval(0.5, 100)
    assert low == pytest.approx(0.4038, abs=1e-4) and high == pytest.approx(0.5962, abs=1e-4)
    assert wilson_interval(0.0, 10)[0] == 0.0 and wilson_interval(0.0, 10)[1] == pytest.approx(0.2775, abs=1e-4)
    with pytest.raises(InvalidInputError, match="at least 1 trial"):
        wilson_interval(0.5, 0)


def test_write_report_writes_the_four_files(tmp_path: Path) -> None:
    result = outcome()
    paths = write_report(result, tmp_path / "out")
    assert set(paths) == {"markdown", "json", "png", "html"}
    assert all(p.exists() and p.stat().st_size > 0 for p in paths.values())
    markdown = paths["markdown"].read_text(encoding="utf-8")
    assert "5 answered; 2 spent (threshold crossings), 62 of 64 remaining" in markdown
    assert "train 200, holdout 150, test 150 problems" in markdown
    assert "T = 0.04, sigma = 0.01, budget 64" in markdown
    # the chosen configuration's four accuracies, the proportions with Wilson intervals
    train_low, train_high = wilson_interval(0.55, 200)
    assert f"| train | 200 | 55.0% | [{100 * train_low:.1f}%, {100 * train_high:.1f}%] |" in markdown
    assert "| Thresholdout (reusable holdout) | 150 | 52.3% |" in markdown
    assert "| naive holdout | 150 | 52.0% |" in markdown
    test_low, test_high = wilson_interval(0.48, 150)
    assert f"| test | 150 | 48.0% | [{100 * test_low:.1f}%, {100 * test_high:.1f}%] |" in markdown
    assert "Trial 1: `self-consistency@2 T=0.7`" in markdown
    assert "most of the differences in the table are noise" in markdown
    assert "pipe\\|line" in markdown  # a | in a label does not break the table
    table = markdown[markdown.index("## Explored") :]
    order = [line.split("|")[1].strip() for line in table.splitlines() if line.startswith("| ") and "#" not in line]
    assert order == ["3", "1", "4", "2", "0"]  # by train accuracy, ties by tokens
    assert json.loads(paths["json"].read_text(encoding="utf-8")) == result.to_dict()
    assert paths["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    html = paths["html"].read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and "data:image/png;base64," in html
    assert "pipe|line" in html and "62 of 64 remaining" in html


def test_report_without_a_chosen_configuration(tmp_path: Path) -> None:
    empty = TuneOutcome("d", "accuracy", "none", 0, (), (), None, None, 0, 0, 64, None, (4, 3, 3))
    assert "No configuration was chosen" in report_markdown(empty)
    paths = write_report(empty, tmp_path)
    assert paths["png"].stat().st_size > 0
