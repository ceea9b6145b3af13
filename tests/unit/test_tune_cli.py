"""``ponder tune`` on the command line, with a scripted engine: what it prints, and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from tests.support.tune_toy import right_at, write_toy

from ponder.cli.main import cli
from ponder.core.params import NoParams
from ponder.engines import FakeEngine, registry
from ponder.engines.plugin import EnginePlugin

SPACE = """\
architectures:
  - name: sc
    strategy: self-consistency
    params:
      budget: [1, 2]
      temperature: [0.2, 0.7]
"""


@pytest.fixture
def scripted(monkeypatch: pytest.MonkeyPatch) -> None:
    plugin = EnginePlugin(
        name="scripted",
        summary="test",
        Options=NoParams,
        factory=lambda options: FakeEngine(right_at(temperature=0.7)),
        spec_option=None,
    )
    monkeypatch.setitem(registry.BUILTIN, "scripted", plugin)


def run(tmp_path: Path, *extra: str) -> tuple[int, str, str]:
    data = write_toy(tmp_path / "toy.jsonl")
    space = tmp_path / "space.yaml"
    if not space.exists():
        space.write_text(SPACE)
    args = ["tune", str(data), "--space", str(space), "--engine", "scripted", "--quiet"]
    args += ["--db", str(tmp_path / "b.db"), "--out", str(tmp_path / "out"), *extra]
    result = CliRunner().invoke(cli, args)
    return result.exit_code, result.stdout, result.stderr


def test_tune_prints_the_choice_its_accuracies_the_holdout_budget_and_the_files(tmp_path: Path, scripted: None) -> None:
    code, out, err = run(tmp_path, "--trials", "5", "--max-tokens-per-problem", "100")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("5 trials on ") and "constraint <= 100 completion tokens per problem" in lines[0]
    assert lines[1].startswith("chosen: trial ") and "temperature=0.7" in lines[1]
    assert "train 100.0% (n=12)" in lines[2] and "test 100.0% (n=9)" in lines[2] and "naive holdout 100.0%" in lines[2]
    assert lines[3].startswith("holdout queries: ") and "of 64" in lines[3]
    assert lines[4] == "wrote " + ", ".join(
        str(tmp_path / "out" / name) for name in ("chosen.yaml", "tune.md", "tune.json", "tune.png", "tune.html")
    )
    report = json.loads((tmp_path / "out" / "tune.json").read_text())
    assert len(report["trials"]) == 5 and report["chosen"]["params"]["temperature"] == 0.7
    again_code, again, _ = run(tmp_path, "--trials", "5", "--max-tokens-per-problem", "100")
    assert again_code == 0 and again == out  # resumed: the same outcome, nothing rerun


@pytest.mark.parametrize(
    ("args", "space", "message"),
    [
        (
            (),
            "architectures:\n  - strategy: greedy\n    params:\n      budget: [0]\n",
            "space.yaml:4: architectures[0]",
        ),
        (("--split", "0.5,0.5"), None, "--split takes three comma-separated fractions"),
        (("--split", "0.5,0.5,0.5"), None, "split fractions must be 3 positive numbers"),
        (("--trials", "0"), None, "Invalid value for '--trials'"),
        (("-E", "bogus=1"), None, "bogus"),
    ],
)
def test_bad_input_is_one_line(
    tmp_path: Path, scripted: None, args: tuple[str, ...], space: str | None, message: str
) -> None:
    if space is not None:
        (tmp_path / "space.yaml").write_text(space)
    code, _, err = run(tmp_path, *args)
    assert code != 0 and message in err, err
    assert "Traceback" not in err
    if not message.startswith("Invalid value"):  # click's own usage errors have their usual form
        [line] = err.strip().splitlines()
        assert line.startswith("error: ")


def test_an_out_that_is_a_file_is_refused_before_the_search(tmp_path: Path, scripted: None) -> None:
    (tmp_path / "taken").write_text("not a folder")
    code, _, err = run(tmp_path, "--out", str(tmp_path / "taken" / "inner"))
    assert code != 0 and "is a file, not a folder" in err, err
    assert not (tmp_path / "b.db").exists()  # refused before the store (and any model) was opened
