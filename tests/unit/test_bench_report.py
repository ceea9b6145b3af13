"""Benchmark reports: statistics, the Markdown table, the PNG and the self-contained HTML page."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ponder.bench.report import ReportFiles, bootstrap_ci, paired_difference, pareto_frontier, summarise, write_report
from ponder.bench.report_curves import verifier_line
from ponder.bench.store import BenchStore
from ponder.bench.types import BenchRow, Config
from ponder.core.errors import InvalidInputError

PROBLEMS = 20
SCRIPT_QUESTION = "What is 2 + 2? <script>alert('x')</script> & more"
# label, strategy, budget, problems solved (the first k), completion tokens, scorer tokens per problem
CONFIGS = [
    ("greedy", 1, 10, 100, 0),  # 150 tokens per problem, 50%
    ("self-consistency", 8, 15, 800, 0),  # 850 tokens, 75%: on the frontier
    ("best-of-n", 8, 12, 800, 400),  # 1250 tokens, 60%: dominated by self-consistency
]


def _config(strategy: str, budget: int) -> Config:
    return Config(
        dataset="toy",
        strategy=strategy,
        budget=budget,
        seed=0,
        temperature=0.8,
        max_tokens=256,
        engine="fake",
        model="fake-model",
    )


def _record(problem: int, correct: bool, completion: int, scorer: int) -> BenchRow:
    answer = "4" if correct else "5"
    return BenchRow.from_dict(
        {
            "problem_id": f"p{problem:02d}",
            "question": SCRIPT_QUESTION if problem == 3 else f"Question {problem}: what is {problem} + 1?",
            "gold": "4",
            "answer": answer,
            "correct": int(correct),
            "candidates": [
                {
                    "text": "I think <b>4</b>",
                    "answer": answer,
                    "correct": correct,
                    "score": 0.9,
                    "completion_tokens": completion,
                    "finish_reason": "stop",
                }
            ],
            "votes": {answer: 1.0},
            "trace": [{"step": 0, "note": "x < y"}],
            "stop_reason": "budget",
            "prompt_tokens": 50,
            "prompt_tokens_computed": 30,
            "completion_tokens": completion,
            "scorer_tokens": scorer,
            "engine_calls": 1,
            "scorer_calls": 1 if scorer else 0,
            "seconds": 0.5,
        }
    )


@pytest.fixture(scope="module")
def db_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("bench") / "bench.sqlite"
    store = BenchStore(path)
    run = store.start_run(
        ponder_version="test", dataset="toy", engine="fake", model="fake-model", model_sha256=None, settings={}
    )
    for strategy, budget, solved, completion, scorer in CONFIGS:
        config_id = store.config_id(run, _config(strategy, budget))
        for problem in range(PROBLEMS):
            store.add_result(config_id, _record(problem, problem < solved, completion, scorer))
    store.close()
    return path


@pytest.fixture(scope="module")
def report(db_path: Path, tmp_path_factory: pytest.TempPathFactory) -> ReportFiles:
    return write_report(db_path, tmp_path_factory.mktemp("report"), baseline=_config("greedy", 1).label)


def test_markdown_has_every_label_and_ci_columns(report: ReportFiles) -> None:
    markdown = report.markdown.read_text(encoding="utf-8")
    for strategy, budget, *_ in CONFIGS:
        assert _config(strategy, budget).label in markdown
    assert "Accuracy 95% CI" in markdown and "Δ 95% CI" in markdown
    assert "bootstrap" in markdown and "accuracy_vs_tokens.png" in markdown
    sc_row = next(line for line in markdown.splitlines() if line.startswith("| self-consistency@8"))
    assert "75.0%" in sc_row and "850" in sc_row and "+25.0 pp" in sc_row and "★" in sc_row
    assert "| baseline |" in next(line for line in markdown.splitlines() if line.startswith("| greedy@1"))


def test_png_is_a_real_picture(report: ReportFiles) -> None:
    data = report.png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 10_000


def test_html_is_self_contained_and_escaped(report: ReportFiles) -> None:
    page = report.html.read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; more" in page
    assert "<script" not in page
    assert "I think &lt;b&gt;4&lt;/b&gt;" in page and "x &lt; y" in page
    assert 'src="data:image/png;base64,' in page and "http://" not in page and "https://" not in page
    assert page.count('<details class="config">') == len(CONFIGS)
    assert page.count('<details class="problem">') == len(CONFIGS) * PROBLEMS


def test_paired_difference_against_baseline(db_path: Path) -> None:
    summaries = {s.strategy: s for s in summarise(db_path, baseline=_config("greedy", 1).label, resamples=500)}
    assert summaries["greedy"].is_baseline and summaries["greedy"].versus_baseline is None
    versus = summaries["self-consistency"].versus_baseline
    assert versus is not None and versus.problems == PROBLEMS
    assert versus.difference == pytest.approx(0.25)
    # every per-problem difference is 0 or +1, so the interval cannot dip below zero
    assert 0.0 <= versus.low <= 0.25 <= versus.high <= 0.5
    best_of_n = summaries["best-of-n"].versus_baseline
    assert best_of_n is not None and best_of_n.difference == pytest.approx(0.10)
    assert [s.on_frontier for s in summaries.values()] == [True, True, False]


def test_paired_difference_uses_only_shared_problems() -> None:
    values = {"a": 1.0, "b": 1.0, "c": 0.0, "only-here": 1.0}
    baseline = {"a": 0.0, "b": 1.0, "c": 0.0, "only-there": 0.0}
    result = paired_difference(values, baseline, resamples=1000, seed=1)
    assert result.problems == 3 and result.difference == pytest.approx(1 / 3)
    assert result == paired_difference(values, baseline, resamples=1000, seed=1)
    with pytest.raises(InvalidInputError):
        paired_difference({"a": 1.0}, {"b": 1.0}, resamples=10, seed=0)


def test_pareto_frontier_on_hand_made_points() -> None:
    points = [(100, 0.5), (200, 0.6), (150, 0.4), (300, 0.6), (50, 0.3), (200, 0.6)]
    # (150, .4) loses to (100, .5); (300, .6) loses to (200, .6); identical points both stay
    assert pareto_frontier(points) == [4, 0, 1, 5]
    assert pareto_frontier([]) == []
    assert pareto_frontier([(10, 0.9), (20, 0.1)]) == [0]


def test_bootstrap_ci_contains_the_mean_and_is_seeded() -> None:
    values = np.random.default_rng(7).integers(0, 2, size=50).astype(float)
    low, high = bootstrap_ci(values, resamples=2000, seed=3)
    assert low < values.mean() < high
    assert (low, high) == bootstrap_ci(values, resamples=2000, seed=3)
    assert bootstrap_ci([0.5, 0.5, 0.5], resamples=100, seed=0) == (0.5, 0.5)
    with pytest.raises(InvalidInputError):
        bootstrap_ci([], resamples=100, seed=0)
    with pytest.raises(InvalidInputError):
        bootstrap_ci([1.0], resamples=0, seed=0)


def test_report_is_reproducible(db_path: Path, report: ReportFiles, tmp_path: Path) -> None:
    again = write_report(db_path, tmp_path, baseline=_config("greedy", 1).label)
    assert again.markdown.read_text(encoding="utf-8") == report.markdown.read_text(encoding="utf-8")
    assert again.png.read_bytes() == report.png.read_bytes()


def test_report_without_baseline_has_no_difference_columns(db_path: Path, tmp_path: Path) -> None:
    markdown = write_report(db_path, tmp_path, resamples=200).markdown.read_text(encoding="utf-8")
    assert "Accuracy 95% CI" in markdown and "Δ" not in markdown


def test_empty_or_missing_database_is_a_clear_error(tmp_path: Path) -> None:
    empty = tmp_path / "empty.sqlite"
    BenchStore(empty).close()
    with pytest.raises(InvalidInputError, match="no results"):
        write_report(empty, tmp_path / "out")
    missing = tmp_path / "missing.sqlite"
    with pytest.raises(InvalidInputError, match="no benchmark database"):
        write_report(missing, tmp_path / "out")
    assert not missing.exists()


def test_unknown_baseline_is_a_clear_error(db_path: Path, tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="no configuration"):
        write_report(db_path, tmp_path, baseline="nonesuch")


def test_configurations_without_results_are_named_not_reported(tmp_path: Path) -> None:
    path = tmp_path / "partial.sqlite"
    store = BenchStore(path)
    run = store.start_run(
        ponder_version="test", dataset="toy", engine="fake", model="fake-model", model_sha256=None, settings={}
    )
    store.add_result(store.config_id(run, _config("greedy", 1)), _record(0, True, 10, 0))
    store.config_id(run, _config("self-consistency", 4))
    store.close()
    markdown = write_report(path, tmp_path / "out", resamples=50).markdown.read_text(encoding="utf-8")
    assert "| greedy@1" in markdown and "| self-consistency@4" not in markdown
    assert "No results yet: self-consistency@4 T=0.8 seed=0." in markdown


def test_cheap_curves_section_from_recorded_samples(tmp_path: Path) -> None:
    store = BenchStore(tmp_path / "curves.db")
    run = store.start_run(ponder_version="t", dataset="toy", engine="fake", model="m", model_sha256=None, settings={})
    config_id = store.config_id(
        run,
        Config(
            dataset="toy",
            strategy="self-consistency",
            budget=4,
            seed=0,
            temperature=0.8,
            max_tokens=8,
            engine="fake",
            model="m",
        ),
    )
    for i in range(10):
        right = i % 2 == 0  # half the problems have 3 right samples of 4, half none
        candidates = [
            {
                "text": "t",
                "answer": "1" if right and j < 3 else str(j + 2),
                "correct": right and j < 3,
                "score": None,
                "completion_tokens": 5,
                "finish_reason": "stop",
            }
            for j in range(4)
        ]
        store.add_result(
            config_id,
            BenchRow.from_dict(
                {
                    "problem_id": str(i),
                    "question": "q",
                    "gold": "1",
                    "answer": "1" if right else "2",
                    "correct": int(right),
                    "candidates": candidates,
                    "votes": {},
                    "trace": [],
                    "stop_reason": "done",
                    "prompt_tokens": 10,
                    "prompt_tokens_computed": 10,
                    "completion_tokens": 20,
                    "scorer_tokens": 0,
                    "engine_calls": 1,
                    "scorer_calls": 0,
                    "seconds": 0.1,
                }
            ),
        )
    store.close()
    text = write_report(tmp_path / "curves.db", tmp_path / "out").markdown.read_text()
    assert "## Cheap curves" in text and "| k | self-consistency@k | pass@k |" in text
    assert "| 4 | 50.0% ± 16.7 | 50.0% ± 16.7 |" in text  # all four samples: SC and pass@4 are exact
    assert "| 1 |" in text and "saturation budget" in text


def test_scored_candidates_get_a_verifier_analysis() -> None:
    samples = [[("1", True, 0.9), ("2", False, 0.2), ("3", False, 0.7)], [("1", True, 0.8), ("4", False, 0.1)]]
    line = verifier_line(samples)
    assert "completeness 1.00, soundness 0.67" in line and "accuracy ceiling" in line
    assert "needs both" in verifier_line([[("1", True, 0.9)]])
