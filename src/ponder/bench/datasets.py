"""Benchmark data: problems with a question, a gold answer and the grader that judges answers.

:func:`load_problems` reads three kinds of source:

- a built-in data set by name (:data:`BUILTIN`, :func:`dataset_names`): GSM8K, MATH-500, AIME 2024,
  AMC 2023, the four MAWPS sets, FOLIO and HumanEval. Their files are looked up in ``data_dir``
  when given, else in ``$PONDER_DATA_DIR`` when set, else in ``./datasets``, else in the
  ``shared/datasets`` folder next to this repository;
- a local ``.jsonl`` or ``.jsonl.gz`` file, one JSON object a line; fields ``question`` and
  ``answer`` unless mapped with ``question_field`` / ``answer_field``; grader ``math`` unless told;
- ``hf:NAME[:SPLIT]`` or ``hf:NAME:CONFIG:SPLIT`` (split ``test`` by default): a Hugging Face data
  set, read with the ``datasets`` package when it is installed, with the same field mapping.

Ids are the row's ``id`` (or ``task_id``) when it has one, else its 0-based line index; error
messages name 1-based line numbers, as an editor shows them. Every problem keeps its raw row in
``Problem.data`` (HumanEval's tests, FOLIO's first-order-logic premises). :class:`Problem` is
defined in :mod:`ponder.bench.types`.
"""

from __future__ import annotations

import importlib
import math
import os
from collections.abc import Callable, Generator, Iterable, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

from ponder.answers import normalize_answer
from ponder.answers.extract import last_boxed
from ponder.bench.graders import get_grader
from ponder.bench.types import Problem
from ponder.core.errors import BackendUnavailableError, InvalidInputError, UnknownNameError
from ponder.core.jsonl import read_jsonl

DATA_DIR_ENV = "PONDER_DATA_DIR"
HF_PREFIX = "hf:"
HF_DEFAULT_SPLIT = "test"
LOCAL_SUFFIXES = (".jsonl", ".jsonl.gz")


Row = Mapping[str, Any]
RowReader = Callable[[Row], str]
"""Reads one text from a row; raises KeyError(field) for a missing field, ValueError for a bad one."""
IdReader = Callable[[Row, int], str]
"""The id of a row, given the row and its 0-based line index."""


def as_text(value: Any, *, strip: bool = True) -> str:
    """A field's value as text: strings stripped (unless told), numbers without a trailing ``.0``
    (``14.0`` -> ``14``, ``0.3`` -> ``0.3``)."""
    if isinstance(value, str):
        return value.strip() if strip else value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"expected text or a number, got {type(value).__name__}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"expected a finite number, got {value}")
    return format(Decimal(repr(value)).normalize(), "f")


def field(name: str, *, strip: bool = True) -> RowReader:
    """A reader of one field, as text (see :func:`as_text`)."""

    def read(row: Row) -> str:
        return as_text(row[name], strip=strip)

    return read


def verbatim(name: str) -> RowReader:
    """A reader of a question field, kept verbatim (the whitespace of a code prompt matters)."""
    return field(name, strip=False)


def after_hashes(name: str) -> RowReader:
    """The final answer of a GSM8K-style solution: the number after ``####``, commas dropped."""

    def read(row: Row) -> str:
        solution = as_text(row[name])
        if "####" not in solution:
            raise ValueError(f"field {name!r} has no '####' final answer")
        return normalize_answer(solution.rsplit("####", 1)[1])

    return read


def boxed(name: str) -> RowReader:
    """The content of the last ``\\boxed{...}`` of a solution (MATH style)."""

    def read(row: Row) -> str:
        answer = last_boxed(as_text(row[name]))
        if answer is None or not answer.strip():
            raise ValueError(f"field {name!r} has no \\boxed{{}} final answer")
        return answer.strip()

    return read


def premises_and_conclusion(premises: str = "premises", conclusion: str = "conclusion") -> RowReader:
    """A FOLIO question: "Premises:", one premise a line, then "Conclusion: ..."."""

    def read(row: Row) -> str:
        given = row[premises]
        lines = given.splitlines() if isinstance(given, str) else [as_text(item) for item in given]
        body = "\n".join(line.strip() for line in lines if line.strip())
        return f"Premises:\n{body}\nConclusion: {as_text(row[conclusion])}"

    return read


def constant(text: str) -> RowReader:
    """A reader that ignores the row (HumanEval's gold: the unit tests are the oracle)."""

    def read(row: Row) -> str:
        return text

    return read


def first_id(names: tuple[str, ...] = ("id", "task_id")) -> IdReader:
    """The first of ``names`` the row holds, else the row's 0-based line index."""

    def read(row: Row, index: int) -> str:
        for name in names:
            if name in row and row[name] is not None:
                return as_text(row[name])
        return str(index)

    return read


def required_id(name: str) -> IdReader:
    """The field ``name``, which every row must hold."""

    def read(row: Row, index: int) -> str:
        return as_text(row[name])

    return read


@dataclass(frozen=True)
class DatasetSpec:
    """How one data set's rows become problems: its file, readers for question, gold and id, its grader.

    ``filename`` is looked up in the data directory (built-ins); ``about`` says what the set is.
    """

    filename: str
    question: RowReader
    gold: RowReader
    grader: str
    id: IdReader = first_id()
    about: str = ""


def _mawps(part: str, about: str) -> DatasetSpec:
    return DatasetSpec(f"mawps_{part}.jsonl", verbatim("input"), field("target"), "math", about=about)


BUILTIN: dict[str, DatasetSpec] = {
    "gsm8k": DatasetSpec(
        "gsm8k_test.jsonl",
        verbatim("question"),
        after_hashes("answer"),
        "math",
        about="GSM8K test split: grade-school math word problems (1319)",
    ),
    "math500": DatasetSpec(
        "math500.jsonl",
        verbatim("question"),
        boxed("answer"),
        "math",
        about="MATH-500: competition math, answers in LaTeX (500)",
    ),
    "aime24": DatasetSpec(
        "aime24.jsonl",
        verbatim("problem"),
        field("answer"),
        "math",
        about="AIME 2024 I and II: integer answers 0-999 (30)",
    ),
    "amc23": DatasetSpec("amc23.jsonl", verbatim("problem"), field("answer"), "math", about="AMC 2023 (40)"),
    "mawps-singleop": _mawps("singleop", "MAWPS SingleOp: one-operation arithmetic word problems"),
    "mawps-addsub": _mawps("addsub", "MAWPS AddSub: addition and subtraction word problems"),
    "mawps-multiarith": _mawps("multiarith", "MAWPS MultiArith: two-step arithmetic word problems"),
    "mawps-singleeq": _mawps("singleeq", "MAWPS SingleEq: one-equation word problems"),
    "folio": DatasetSpec(
        "folio_validation.jsonl",
        premises_and_conclusion(),
        field("label"),
        "label",
        about="FOLIO validation: does a conclusion follow from premises? (204)",
    ),
    "humaneval": DatasetSpec(
        "humaneval.jsonl.gz",
        verbatim("prompt"),
        constant(""),
        "humaneval",
        about="HumanEval: Python functions checked by unit tests (164)",
    ),
}


def dataset_names() -> list[str]:
    """The names of the built-in data sets, sorted."""
    return sorted(BUILTIN)


def repo_data_dir() -> Path:
    """The ``shared/datasets`` folder next to this repository (a source checkout)."""
    return Path(__file__).resolve().parents[3].parent / "shared" / "datasets"


def find_data_file(filename: str, data_dir: Path | None = None) -> Path:
    """Where a built-in data set's file is: ``data_dir``, else ``$PONDER_DATA_DIR``, else
    ``./datasets``, else the repository's ``shared/datasets``. A directory given explicitly
    (argument or variable) is the only one searched."""
    env = os.environ.get(DATA_DIR_ENV)
    if data_dir is not None:
        places = [Path(data_dir)]
    elif env:
        places = [Path(env)]
    else:
        places = [Path.cwd() / "datasets", repo_data_dir()]
    for place in places:
        if (place / filename).is_file():
            return place / filename
    searched = ", ".join(str(place) for place in places)
    raise InvalidInputError(f"data file {filename} not found in {searched} (set {DATA_DIR_ENV} or data_dir)")


def _split_hf(source: str) -> tuple[str, str | None, str]:
    """``hf:NAME[:SPLIT]`` or ``hf:NAME:CONFIG:SPLIT`` -> (name, config, split)."""
    parts = source[len(HF_PREFIX) :].split(":")
    if not parts[0] or len(parts) > 3 or not all(parts):
        raise InvalidInputError(f"bad Hugging Face source {source!r}; expected hf:NAME[:SPLIT] or hf:NAME:CONFIG:SPLIT")
    if len(parts) == 3:
        return parts[0], parts[1], parts[2]
    return parts[0], None, parts[1] if len(parts) == 2 else HF_DEFAULT_SPLIT


def _read_hf(source: str) -> Generator[tuple[int, Row], None, None]:
    """(row index, row) of a Hugging Face data set split, read with the ``datasets`` package."""
    name, config, split = _split_hf(source)
    try:
        hf_datasets = importlib.import_module("datasets")
    except ImportError as exc:
        raise BackendUnavailableError(
            f"{source} needs the Hugging Face 'datasets' package (pip install 'ponder[datasets]')"
        ) from exc
    try:
        rows = hf_datasets.load_dataset(name, config, split=split)
    except Exception as exc:  # the library's own errors (not found, offline, bad split) vary by version
        raise BackendUnavailableError(f"cannot load {source}: {type(exc).__name__}: {exc}".splitlines()[0]) from exc
    for index, row in enumerate(rows):
        yield index, dict(row)


def _problems(
    rows: Iterable[tuple[int, Row]],
    spec: DatasetSpec,
    where: str,
    limit: int | None,
    *,
    unit: str = "line",
    hint: str = "",
) -> list[Problem]:
    """Rows -> problems, checked: every field there, a question, a gold answer when needed, unique ids."""
    grader = get_grader(spec.grader)
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    for index, row in rows:
        if limit is not None and len(problems) >= limit:
            break
        at = f"{where}: {unit} {index + 1}"
        try:
            problem_id = spec.id(row, index)
            question = spec.question(row)
            gold = spec.gold(row)
        except KeyError as exc:
            raise InvalidInputError(f"{at}: missing field {exc.args[0]!r}{hint}") from exc
        except (ValueError, TypeError) as exc:
            raise InvalidInputError(f"{at}: {exc}") from exc
        missing = [name for name in grader.data_fields if name not in row]
        if missing:
            raise InvalidInputError(f"{at}: missing field {missing[0]!r} (grader {grader.name} needs it)")
        if not question.strip():
            raise InvalidInputError(f"{at}: empty question")
        if grader.needs_gold and not gold:
            raise InvalidInputError(f"{at}: empty gold answer")
        if problem_id in seen:
            raise InvalidInputError(f"{at}: duplicate id {problem_id!r} (first at {unit} {seen[problem_id] + 1})")
        seen[problem_id] = index
        problems.append(Problem(problem_id, question, gold, spec.grader, dict(row)))
    return problems


def _local_spec(
    question_field: str | None, answer_field: str | None, id_field: str | None, grader: str | None
) -> DatasetSpec:
    """The spec of a local or Hugging Face file: mapped fields, ``question``/``answer`` by default."""
    chosen = grader or "math"
    gold = field(answer_field or "answer") if answer_field or get_grader(chosen).needs_gold else constant("")
    return DatasetSpec(
        "", verbatim(question_field or "question"), gold, chosen, id=required_id(id_field) if id_field else first_id()
    )


def _builtin_spec(
    spec: DatasetSpec, question_field: str | None, answer_field: str | None, id_field: str | None, grader: str | None
) -> DatasetSpec:
    """A built-in's spec with any field mapping or grader the caller chose instead."""
    changes: dict[str, Any] = {}
    if question_field:
        changes["question"] = verbatim(question_field)
    if answer_field:
        changes["gold"] = field(answer_field)
    if id_field:
        changes["id"] = required_id(id_field)
    if grader:
        changes["grader"] = grader
    return replace(spec, **changes)


def load_problems(
    source: str,
    *,
    limit: int | None = None,
    question_field: str | None = None,
    answer_field: str | None = None,
    id_field: str | None = None,
    grader: str | None = None,
    data_dir: Path | None = None,
) -> list[Problem]:
    """The problems of a built-in data set, a local JSONL file or ``hf:NAME[:SPLIT]``, in file order.

    ``limit`` keeps the first N. ``question_field`` / ``answer_field`` / ``id_field`` name the
    fields to read (defaults: ``question``, ``answer``, then ``id`` or ``task_id`` or the line
    index; a built-in's own mapping unless given). ``grader`` names the grader (default ``math``
    for files, the data set's own for built-ins). Raises :class:`UnknownNameError` for an unknown
    name, :class:`InvalidInputError` for a missing file or a bad row (naming its line and field),
    :class:`BackendUnavailableError` when ``hf:`` sources cannot be read.
    """
    if limit is not None and limit < 1:
        raise InvalidInputError(f"limit must be >= 1, got {limit}")
    if grader is not None:
        get_grader(grader)
    hint, unit = " (map fields with question_field / answer_field / id_field)", "line"
    rows: Generator[tuple[int, Row], None, None]
    if source.startswith(HF_PREFIX):
        spec = _local_spec(question_field, answer_field, id_field, grader)
        rows, unit = _read_hf(source), "row"
    elif source in BUILTIN:
        spec = _builtin_spec(BUILTIN[source], question_field, answer_field, id_field, grader)
        path = find_data_file(spec.filename, data_dir)
        rows, source, hint = read_jsonl(path), str(path), ""
    elif source.endswith(LOCAL_SUFFIXES) or Path(source).exists():
        path = Path(source).expanduser()
        if not path.is_file():
            raise InvalidInputError(f"no such data file: {source}")
        if not path.name.endswith(LOCAL_SUFFIXES):
            raise InvalidInputError(f"{source}: expected a .jsonl or .jsonl.gz file")
        spec = _local_spec(question_field, answer_field, id_field, grader)
        rows = read_jsonl(path)
    else:
        raise UnknownNameError(
            f"unknown data set {source!r}; built-in: {', '.join(dataset_names())}; "
            f"or give a .jsonl / .jsonl.gz path or hf:NAME[:SPLIT]"
        )
    try:
        return _problems(rows, spec, source, limit, unit=unit, hint=hint)
    finally:
        rows.close()  # a limit stops reading early: close the file now
