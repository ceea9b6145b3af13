"""Benchmark data: built-in sets load whole with sensible golds, local files map fields, graders judge."""

from __future__ import annotations

import gzip
import json
import sys
import types
from pathlib import Path
from typing import Any

import pytest

from ponder.bench.datasets import BUILTIN, Problem, dataset_names, load_problems
from ponder.bench.graders import GRADERS, grade, task_for
from ponder.core.errors import BackendUnavailableError, InvalidInputError, UnknownNameError

# Rows as counted by a JSON reader (the upstream README's table counted newlines, wc -l: the four
# MAWPS files do not end in a newline, so each holds one row more than it said).
ROWS = {
    "gsm8k": 1319,
    "gsm8k-updates": 707,
    "math500": 500,
    "aime24": 30,
    "amc23": 40,
    "mawps-singleop": 562,
    "mawps-addsub": 395,
    "mawps-multiarith": 600,
    "mawps-singleeq": 508,
    "folio": 204,
    "humaneval": 164,
}


def _write_jsonl(path: Path, rows: list[Any]) -> Path:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "wt", encoding="utf-8") as out:
        out.writelines(json.dumps(row) + "\n" for row in rows)
    return path


@pytest.fixture(autouse=True)
def _no_data_dir_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PONDER_DATA_DIR", raising=False)


def test_every_builtin_is_listed() -> None:
    assert dataset_names() == sorted(ROWS) == sorted(BUILTIN)


@pytest.mark.parametrize(("name", "rows"), sorted(ROWS.items()))
def test_every_builtin_loads_whole(name: str, rows: int) -> None:
    problems = load_problems(name)
    assert len(problems) == rows
    assert len({p.id for p in problems}) == rows
    assert all(p.question.strip() and p.grader == BUILTIN[name].grader for p in problems)
    if name != "humaneval":
        assert all(p.gold for p in problems)


def test_builtin_golds_are_final_answers() -> None:
    gsm8k = load_problems("gsm8k")
    assert gsm8k[0].gold == "18" and gsm8k[0].id == "0"
    assert all("," not in p.gold and "####" not in p.gold for p in gsm8k)  # "#### 2,125" -> "2125"
    math500 = load_problems("math500")
    assert math500[0].gold == "\\left( 3, \\frac{\\pi}{2} \\right)"
    assert all(p.gold and "\\boxed" not in p.gold for p in math500)
    assert load_problems("mawps-singleop", limit=1)[0].gold == "14"  # target 14.0
    addsub = [p.gold for p in load_problems("mawps-addsub")]
    assert addsub[:4] == ["43", "26", "6", "8"] and "9.43" in addsub  # 9.43 stays 9.43
    assert not any(gold.endswith(".0") for gold in addsub)
    assert load_problems("amc23", limit=1)[0].gold == "27"
    aime = load_problems("aime24", limit=1)[0]
    assert (aime.id, aime.gold) == ("60", "204")


def test_folio_and_humaneval_keep_their_rows() -> None:
    folio = load_problems("folio", limit=1)[0]
    lines = folio.question.splitlines()
    assert lines[0] == "Premises:" and len(lines) == 2 + len(folio.data["premises"])
    assert lines[-1] == "Conclusion: Bonnie performs in school talent shows often."
    assert folio.gold == "Uncertain" and "premises-FOL" in folio.data
    human = load_problems("humaneval", limit=2)[1]
    assert human.id == "HumanEval/1" and human.gold == "" and human.question == human.data["prompt"]
    assert {"test", "entry_point", "canonical_solution"} <= set(human.data)


def test_limit_keeps_the_first_rows() -> None:
    assert [p.id for p in load_problems("gsm8k", limit=3)] == ["0", "1", "2"]
    with pytest.raises(InvalidInputError, match="limit"):
        load_problems("gsm8k", limit=0)


def test_data_dir_and_environment_variable_choose_the_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write_jsonl(tmp_path / "aime24.jsonl", [{"id": 7, "problem": "1+1?", "answer": "2"}])
    assert [p.id for p in load_problems("aime24", data_dir=tmp_path)] == ["7"]
    monkeypatch.setenv("PONDER_DATA_DIR", str(tmp_path))
    assert [p.gold for p in load_problems("aime24")] == ["2"]
    with pytest.raises(InvalidInputError, match=r"gsm8k_test\.jsonl not found"):
        load_problems("gsm8k")  # the folder named is the only one searched: no silent packaged copy


def test_the_data_dir_argument_beats_the_variable_which_beats_the_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    argument, variable = tmp_path / "argument", tmp_path / "variable"
    argument.mkdir()
    variable.mkdir()
    _write_jsonl(argument / "amc23.jsonl", [{"id": "a", "problem": "1+1?", "answer": 2}])
    _write_jsonl(variable / "amc23.jsonl.gz", [{"id": "v", "problem": "1+2?", "answer": 3}])  # gzipped is fine
    assert load_problems("amc23", limit=1)[0].gold == "27"  # the packaged copy
    monkeypatch.setenv("PONDER_DATA_DIR", str(variable))
    assert [p.id for p in load_problems("amc23")] == ["v"]
    assert [p.id for p in load_problems("amc23", data_dir=argument)] == ["a"]
    assert [p.id for p in load_problems("amc23", data_dir=str(argument))] == ["a"]
    monkeypatch.setenv("PONDER_DATA_DIR", "")  # set but empty: as if unset
    assert load_problems("amc23", limit=1)[0].gold == "27"
    with pytest.raises(InvalidInputError, match=r"names .*absent, which is not a directory"):
        load_problems("amc23", data_dir=tmp_path / "absent")


def test_a_local_file_with_mapped_fields(tmp_path: Path) -> None:
    path = _write_jsonl(
        tmp_path / "mine.jsonl",
        [
            {"key": "a", "prompt": "What is 2+3?", "solution": 5.0},
            {"key": "b", "prompt": "What is 1/2 + 0?", "solution": "1/2"},
        ],
    )
    problems = load_problems(str(path), question_field="prompt", answer_field="solution", id_field="key")
    assert problems == [
        Problem("a", "What is 2+3?", "5", "math", {"key": "a", "prompt": "What is 2+3?", "solution": 5.0}),
        Problem("b", "What is 1/2 + 0?", "1/2", "math", {"key": "b", "prompt": "What is 1/2 + 0?", "solution": "1/2"}),
    ]


def test_a_gzipped_file_with_default_fields_and_line_ids(tmp_path: Path) -> None:
    path = _write_jsonl(tmp_path / "mine.jsonl.gz", [{"question": f"q{i}", "answer": "True"} for i in range(4)])
    problems = load_problems(str(path), grader="label", limit=3)
    assert [(p.id, p.question, p.gold, p.grader) for p in problems] == [
        ("0", "q0", "True", "label"),
        ("1", "q1", "True", "label"),
        ("2", "q2", "True", "label"),
    ]


def test_a_missing_field_names_its_line_and_field(tmp_path: Path) -> None:
    path = _write_jsonl(tmp_path / "bad.jsonl", [{"question": "q", "answer": "1"}, {"question": "q2"}])
    with pytest.raises(InvalidInputError, match=r"line 2: missing field 'answer'"):
        load_problems(str(path))
    with pytest.raises(InvalidInputError, match=r"line 1: missing field 'prompt'"):
        load_problems(str(path), question_field="prompt")


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([{"question": "  ", "answer": "1"}], "line 1: empty question"),
        ([{"question": "q", "answer": ""}], "line 1: empty gold answer"),
        ([{"question": "q", "answer": ["1"]}], "line 1: expected text or a number, got list"),
        (
            [{"id": 1, "question": "q", "answer": "1"}, {"id": 1, "question": "r", "answer": "2"}],
            "line 2: duplicate id '1' \\(first at line 1\\)",
        ),
        (["just a string"], "line 1: expected a JSON object"),
    ],
)
def test_bad_rows_are_named(tmp_path: Path, rows: list[Any], message: str) -> None:
    path = _write_jsonl(tmp_path / "bad.jsonl", rows)
    with pytest.raises(InvalidInputError, match=message):
        load_problems(str(path))


def test_a_code_file_needs_its_unit_tests(tmp_path: Path) -> None:
    path = _write_jsonl(tmp_path / "code.jsonl", [{"question": "def f():\n", "test": "", "entry_point": "f"}])
    with pytest.raises(InvalidInputError, match="line 1: missing field 'prompt' \\(grader humaneval needs it\\)"):
        load_problems(str(path), grader="humaneval")


def test_unknown_names_and_bad_paths(tmp_path: Path) -> None:
    with pytest.raises(UnknownNameError, match="unknown data set 'gsm9k'; built-in: aime24"):
        load_problems("gsm9k")
    with pytest.raises(InvalidInputError, match="no such data file"):
        load_problems(str(tmp_path / "absent.jsonl"))
    (tmp_path / "data.csv").write_text("question,answer\n")
    with pytest.raises(InvalidInputError, match=r"expected a \.jsonl or \.jsonl\.gz file"):
        load_problems(str(tmp_path / "data.csv"))
    with pytest.raises(UnknownNameError, match="unknown grader 'maths'"):
        load_problems("gsm8k", grader="maths")
    (tmp_path / "broken.jsonl").write_text('{"question": "q", "answer": "1"}\n{"question": \n')
    with pytest.raises(InvalidInputError, match="line 2: not JSON"):
        load_problems(str(tmp_path / "broken.jsonl"))


def test_hugging_face_sources_need_the_datasets_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "datasets", None)  # import fails as if it were not installed
    with pytest.raises(BackendUnavailableError, match="needs the Hugging Face 'datasets' package"):
        load_problems("hf:openai/gsm8k:main:test")


def test_hugging_face_sources_are_read_with_the_field_mapping(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, str | None, str]] = []

    def load_dataset(name: str, config: str | None, *, split: str) -> list[dict[str, Any]]:
        calls.append((name, config, split))
        return [{"problem": "2+2?", "solution": 4}, {"problem": "3+3?", "solution": 6}]

    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(load_dataset=load_dataset))
    problems = load_problems("hf:org/set", question_field="problem", answer_field="solution", limit=1)
    assert [(p.id, p.question, p.gold) for p in problems] == [("0", "2+2?", "4")]
    load_problems("hf:org/set:cfg:validation", question_field="problem", answer_field="solution")
    assert calls == [("org/set", None, "test"), ("org/set", "cfg", "validation")]
    with pytest.raises(InvalidInputError, match="row 1: missing field 'question'"):
        load_problems("hf:org/set")
    with pytest.raises(InvalidInputError, match="bad Hugging Face source"):
        load_problems("hf:")


def _problem(gold: str, grader: str = "math") -> Problem:
    return Problem("p", "question", gold, grader, {})


@pytest.mark.parametrize(
    ("gold", "answer", "right"),
    [
        ("0.5", "1/2", True),
        ("\\frac{1}{2}", "0.5", True),
        ("2125", "$2,125", True),
        ("025", "25", True),
        ("18", "19", False),
        ("\\left( 3, \\frac{\\pi}{2} \\right)", "(3, \\frac{\\pi}{2})", True),
        ("18", None, False),
        ("18", "", False),
    ],
)
def test_math_grading(gold: str, answer: str | None, right: bool) -> None:
    assert grade(_problem(gold), answer) is right


def test_label_and_choice_grading() -> None:
    folio = load_problems("folio", limit=1)[0]
    assert grade(folio, "Uncertain") and grade(folio, "uncertain") and grade(folio, "Unknown")
    assert not grade(folio, "True") and not grade(folio, None)
    assert grade(_problem("B", "choice"), "(b)") and grade(_problem("B", "choice"), "B")
    assert not grade(_problem("B", "choice"), "C") and not grade(_problem("B", "choice"), None)


def test_humaneval_grading_runs_the_unit_tests() -> None:
    problem = load_problems("humaneval", limit=1)[0]
    solution = problem.data["canonical_solution"]
    assert grade(problem, None, solution)
    assert grade(problem, None, f"```python\n{problem.data['prompt']}{solution}```")
    assert not grade(problem, None, solution.replace("distance < threshold", "distance > threshold"))
    assert not grade(problem, None) and not grade(problem, "   ")


def test_every_grader_names_an_answer_task() -> None:
    assert {name: task_for(name) for name in GRADERS} == {
        "math": "math",
        "label": "label",
        "choice": "choice",
        "humaneval": "code",
    }
    with pytest.raises(UnknownNameError):
        task_for("nope")
