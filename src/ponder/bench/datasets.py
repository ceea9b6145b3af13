"""Benchmark data: problems with a question, a gold answer and the grader that judges answers.

:func:`load_problems` reads three kinds of source:

- a built-in data set by name (:data:`BUILTIN`, :func:`dataset_names`): GSM8K, MATH-500, AIME 2024,
  AMC 2023, the four MAWPS sets, FOLIO and HumanEval, shipped with ponder as package data. Their
  files are read from ``data_dir`` when given, else from ``$PONDER_DATA_DIR`` when set, else from
  the package data (:mod:`ponder.bench.catalog`, which also lists them with licence and source);
- a local ``.jsonl`` or ``.jsonl.gz`` file, one JSON object a line; fields ``question`` and
  ``answer`` unless mapped with ``question_field`` / ``answer_field``; grader ``math`` unless told;
- ``hf:NAME[:SPLIT]`` or ``hf:NAME:CONFIG:SPLIT`` (split ``test`` by default): a Hugging Face data
  set, read with the ``datasets`` package when it is installed, with the same field mapping.

Ids are the row's ``id`` (or ``task_id``) when it has one, else its 0-based line index; error
messages name 1-based line numbers, as an editor shows them. Every problem keeps its raw row in
``Problem.data`` (HumanEval's tests, FOLIO's first-order-logic premises). :class:`Problem` is
defined in :mod:`ponder.bench.types`, the row readers and :class:`DatasetSpec` in
:mod:`ponder.bench.rows`; both are importable from here too.
"""

from __future__ import annotations

import importlib
from collections.abc import Generator, Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

from ponder.bench.catalog import BUILTIN, DATA_DIR_ENV, dataset_names, find_data_file
from ponder.bench.graders import get_grader
from ponder.bench.rows import DatasetSpec, Row, constant, field, first_id, required_id, verbatim
from ponder.bench.types import Problem
from ponder.core.errors import BackendUnavailableError, InvalidInputError, UnknownNameError
from ponder.core.jsonl import read_jsonl

__all__ = [
    "BUILTIN",
    "DATA_DIR_ENV",
    "DatasetSpec",
    "HF_DEFAULT_SPLIT",
    "HF_PREFIX",
    "LOCAL_SUFFIXES",
    "Problem",
    "dataset_names",
    "find_data_file",
    "load_problems",
]

HF_PREFIX = "hf:"
HF_DEFAULT_SPLIT = "test"
LOCAL_SUFFIXES = (".jsonl", ".jsonl.gz")


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
    data_dir: Path | str | None = None,
) -> list[Problem]:
    """The problems of a built-in data set, a local JSONL file or ``hf:NAME[:SPLIT]``, in file order.

    ``limit`` keeps the first N. ``question_field`` / ``answer_field`` / ``id_field`` name the
    fields to read (defaults: ``question``, ``answer``, then ``id`` or ``task_id`` or the line
    index; a built-in's own mapping unless given). ``grader`` names the grader (default ``math``
    for files, the data set's own for built-ins). A built-in's file is read from ``data_dir`` when
    given, else from ``$PONDER_DATA_DIR`` when set, else from the package data; a directory given
    is the only one searched (:func:`ponder.bench.catalog.find_data_file`). Raises
    :class:`UnknownNameError` for an unknown name, :class:`InvalidInputError` for a missing file or
    a bad row (naming its line and field), :class:`BackendUnavailableError` when ``hf:`` sources
    cannot be read.
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
