"""The report's saturation budgets: the TTSPM curve fitted across a configuration family's stored budgets."""

from __future__ import annotations

import asyncio
import random
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from ponder.bench.api import abench
from ponder.bench.datasets import load_problems
from ponder.bench.report import saturation_budgets, summarise, write_report
from ponder.bench.report_plot import accuracy_figure
from ponder.bench.report_saturation import budget_saturations
from ponder.bench.store import BenchStore
from ponder.bench.types import BenchRow, Config
from ponder.cli.main import cli
from ponder.core.errors import InvalidInputError
from ponder.engines import FakeEngine
from ponder.engines.base import GenerationRequest
from ponder.engines.fake import prompt_text

SC = "self-consistency@N T=0.8 seed=0"
# Correct answers out of 40 at budgets 1, 2, 4, 8, 16: F(N) = 0.8 (1 - 0.5^N) rounded to a problem
# (16, 24, 30, 31.9, 32.0). The curve's next-unit gain 0.4 * 0.5^N first falls to 0.5 points or
# less at N = 7 (0.5^6 = 0.0156 > 0.0125 >= 0.5^7), so N* = 7.
SATURATING = {1: 16, 2: 24, 4: 30, 8: 32, 16: 32}


def _config(strategy: str, budget: int, *, temperature: float | None = 0.8, max_tokens: int = 256) -> Config:
    return Config(
        dataset="toy",
        strategy=strategy,
        budget=budget,
        seed=0,
        temperature=temperature,
        max_tokens=max_tokens,
        engine="fake",
        model="fake-model",
    )


def _row(problem: int, correct: bool, tokens: int) -> BenchRow:
    return BenchRow(
        problem_id=f"p{problem:03d}",
        question=f"q{problem}",
        gold="4",
        answer="4" if correct else "5",
        correct=correct,
        stop_reason="budget",
        prompt_tokens=20,
        completion_tokens=tokens,
    )


def _store(path: Path, families: dict[Config, tuple[int, int]]) -> Path:
    """A store with, per configuration, (problems run, problems correct: the first ones)."""
    store = BenchStore(path)
    run = store.start_run(ponder_version="t", dataset="toy", engine="fake", model="m", model_sha256=None, settings={})
    for config, (problems, solved) in families.items():
        config_id = store.config_id(run, config)
        for i in range(problems):
            store.add_result(config_id, _row(i, i < solved, 10 * config.budget))
    store.close()
    return path


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    families = {_config("self-consistency", n): (40, solved) for n, solved in SATURATING.items()}
    families[_config("greedy", 1)] = (40, 12)
    return _store(tmp_path_factory.mktemp("sat") / "bench.db", families)


def test_a_saturating_family_gets_the_budget_of_its_curve(db: Path) -> None:
    by_family = {s.family: s for s in saturation_budgets(db)}
    sc = by_family[SC]
    assert sc.budgets == (1, 2, 4, 8, 16) and sc.problems == 40
    assert sc.accuracies == (0.4, 0.6, 0.75, 0.8, 0.8)
    assert sc.p == pytest.approx(0.5, abs=0.01) and sc.ceiling == pytest.approx(0.8, abs=0.01)
    assert sc.budget == 7 and not sc.extrapolated and sc.reason is None
    assert sc.rms_error is not None and sc.rms_error < 0.01
    assert sc.tokens_at_saturation() == pytest.approx(20 + 70, rel=0.01)  # 10 completion tokens per unit


def test_a_family_at_one_budget_is_na_with_the_reason(db: Path) -> None:
    greedy = {s.family: s for s in saturation_budgets(db)}["greedy@N T=0.8 seed=0"]
    assert greedy.budget is None and greedy.p is None
    assert greedy.reason == "stored at one budget only (N=1); the fit needs two or more"
    assert greedy.tokens_at_saturation() is None and greedy.fitted_accuracy(1) is None


def test_report_md_html_and_png_show_the_saturation_budget(db: Path, tmp_path: Path) -> None:
    files = write_report(db, tmp_path, resamples=100)
    assert list(files.saturation) == saturation_budgets(db)
    markdown = files.markdown.read_text(encoding="utf-8")
    assert "## Saturation budgets" in markdown and "| Saturation budget N* |" in markdown
    row = next(line for line in markdown.splitlines() if line.startswith(f"| {SC} |"))
    assert "| 40 | 1: 40.0%, 2: 60.0%, 4: 75.0%, 8: 80.0%, 16: 80.0% |" in row and row.endswith("| 7 |")
    assert "| 8→16: +0.0 ± 0.0 / +0.3 pp |" in row  # the data agree: nothing gained past N*
    assert "n/a (stored at one budget only (N=1); the fit needs two or more)" in markdown
    explanation = next(line for line in markdown.splitlines() if line.startswith("Saturation budget N*"))
    assert "Scaling over Scaling" in explanation and "at most 0.5 accuracy points" in explanation
    assert markdown.index("## Saturation budgets") < markdown.index("## Runs")
    page = files.html.read_text(encoding="utf-8")
    assert "<h2>Saturation budgets</h2>" in page and f"<td>{SC}</td>" in page and "<td>7</td>" in page
    assert "at most 0.5 accuracy points" in page
    figure = accuracy_figure(summarise(db, resamples=100), files.saturation)
    legend = figure.axes[0].get_legend()
    assert legend is not None
    assert "saturation budget N* (TTSPM fit)" in [text.get_text() for text in legend.get_texts()]
    assert any(text.get_text() == "N*=7" for text in figure.axes[0].texts)


def test_a_family_still_rising_past_its_budget_is_marked_unreliable(tmp_path: Path) -> None:
    # majority voting's slow climb from a high start: the curve (F(0) = 0) flattens by N* = 4, yet
    # 10 more problems of 100 (none fewer) are right at 16 than at 4
    climb = {1: 54, 2: 54, 4: 61, 8: 67, 16: 71}
    path = _store(tmp_path / "c.db", {_config("sc", n): (100, solved) for n, solved in climb.items()})
    (s,) = saturation_budgets(path)
    assert s.budget == 4 and s.check is not None
    assert (s.check.start, s.check.end) == (4, 16) and s.check.measured == pytest.approx(0.10)
    assert s.check.fitted < 0.01 and s.check.stderr == pytest.approx(0.03, abs=0.001) and s.check.still_rising
    markdown = write_report(path, tmp_path / "out", resamples=50).markdown.read_text(encoding="utf-8")
    assert "| 4→16: +10.0 ± 3.0 / +0.2 pp | 4 (unreliable: accuracy kept rising past it, beyond the fit) |" in markdown
    figure = accuracy_figure(summarise(path, resamples=50), [s])
    assert [text.get_text() for text in figure.axes[0].texts if text.get_text().startswith("N*")] == [
        "N*=4 (unreliable)"
    ]


def test_accuracies_are_taken_on_the_problems_every_budget_ran(tmp_path: Path) -> None:
    # budget 4 ran only the first 10 problems (all right): the others' first 10 are compared with them
    path = _store(
        tmp_path / "partial.db", {_config("s", 1): (20, 5), _config("s", 2): (20, 8), _config("s", 4): (10, 10)}
    )
    (s,) = saturation_budgets(path)
    assert s.problems == 10 and s.accuracies == (0.5, 0.8, 1.0)


def test_a_budget_above_the_stored_ones_is_marked_extrapolated(tmp_path: Path) -> None:
    # 0.2 at N=1, 0.36 at N=2: exactly F_max = 1, p = 0.2; 0.2 * 0.8^N <= 0.005 first at N = 17
    path = _store(tmp_path / "x.db", {_config("s", 1): (25, 5), _config("s", 2): (25, 9)})
    (s,) = saturation_budgets(path)
    assert s.p == pytest.approx(0.2, abs=1e-3) and s.ceiling == pytest.approx(1.0, abs=1e-3)
    assert s.budget == 17 and s.extrapolated and s.tokens_at_saturation() is None
    markdown = write_report(path, tmp_path / "out", resamples=50).markdown.read_text(encoding="utf-8")
    assert "| 17 (extrapolated: above the largest stored budget, 2) |" in markdown


def test_families_are_split_by_everything_but_the_budget(tmp_path: Path) -> None:
    path = _store(
        tmp_path / "f.db",
        {
            _config("s", 1): (10, 5),
            _config("s", 1, temperature=None): (10, 5),
            _config("s", 2): (10, 6),
            _config("s", 1, max_tokens=64): (10, 5),
        },
    )
    families = [(s.family, s.budgets) for s in saturation_budgets(path)]
    assert families == [
        ("s@N T=0.8 seed=0 max_tokens=256", (1, 2)),
        ("s@N seed=0", (1,)),
        ("s@N T=0.8 seed=0 max_tokens=64", (1,)),
    ]


def test_configurations_without_results_and_a_bad_epsilon(tmp_path: Path) -> None:
    path = _store(tmp_path / "e.db", {_config("s", 1): (10, 5), _config("s", 2): (0, 0)})
    (s,) = saturation_budgets(path)
    assert s.budgets == (1,) and s.budget is None
    with pytest.raises(InvalidInputError, match="epsilon"):
        saturation_budgets(path, epsilon=0)
    assert budget_saturations([]) == []


def _scripted_mawps(limit: int) -> FakeEngine:
    """A fake model answering MAWPS problems: each problem has its own (seeded) chance of a right
    sample; wrong samples scatter over four wrong numbers, so a majority vote gains with N."""
    problems = load_problems("mawps-singleop", limit=limit)

    def answer(request: GenerationRequest, index: int) -> str:
        text = prompt_text(request)
        problem = next(p for p in problems if p.question in text)
        chance = random.Random(f"difficulty {problem.id}").random()
        draw = random.Random(f"{problem.id} {request.seed} {request.first_index + index}")
        right = draw.random() < chance
        gold = float(problem.gold)
        return f"The answer is {gold:g}." if right else f"The answer is {gold + draw.randint(1, 4):g}."

    return FakeEngine(answer)


def test_the_done_when_benchmark_reports_end_to_end(tmp_path: Path) -> None:
    """``ponder bench mawps-singleop --limit 100 -s self-consistency -n 1,2,4,8,16 --max-tokens 128
    --workers 4``, on a fake engine, then ``ponder report`` on its database."""
    db = tmp_path / "bench.db"
    totals = asyncio.run(
        abench(
            "mawps-singleop",
            strategies=["self-consistency"],
            budgets=[1, 2, 4, 8, 16],
            limit=100,
            max_tokens=128,
            db=db,
            engine=_scripted_mawps(100),
            workers=4,
            progress=False,
        )
    )
    assert [t.solved for t in totals] == [100] * 5
    out = tmp_path / "report"
    result = CliRunner().invoke(cli, ["report", "--db", str(db), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "report.md" in result.output and "accuracy_vs_tokens.png" in result.output
    markdown = (out / "report.md").read_text(encoding="utf-8")
    assert sum(bool(re.match(r"\| self-consistency@\d", line)) for line in markdown.splitlines()) == 5
    row = next(line for line in markdown.splitlines() if line.startswith("| self-consistency@N seed=0 |"))
    assert re.search(r"\| \d+( \([^|]*\))? \|$", row), row
    (family,) = saturation_budgets(db)
    assert family.budgets == (1, 2, 4, 8, 16) and family.problems == 100 and family.budget is not None
    assert family.accuracies[-1] > family.accuracies[0]  # the vote gains with N
    assert (out / "accuracy_vs_tokens.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<h2>Saturation budgets</h2>" in (out / "report.html").read_text(encoding="utf-8")
