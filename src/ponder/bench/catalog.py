"""The built-in data sets: what ponder ships, where a built-in name's file is read from, the listing.

The files are package data, gzipped copies (``gzip -9 -n``, otherwise unchanged) of the upstream
files in ``ponder/bench/data/<filename>.gz``, found with :mod:`importlib.resources`, so that an
installed wheel reads them exactly as a source checkout does. ``data/LICENSES.md`` gives every
set's source, licence and attribution (``ponder datasets`` lists them too).

Where a built-in name (``gsm8k``) is read from -- the first of these that is given wins:

1. the ``data_dir`` argument (``load_problems("gsm8k", data_dir=...)``);
2. the ``$PONDER_DATA_DIR`` environment variable, when set and not empty;
3. the package data.

A directory from 1 or 2 overrides the package data for every built-in name and is the only place
searched: it must hold ``<filename>`` or ``<filename>.gz`` (``gsm8k_test.jsonl`` or
``gsm8k_test.jsonl.gz``), else loading fails naming the directory -- it never falls back to the
packaged copy, so a replacement that is missing is noticed rather than silently swapped. Nothing
else is searched: not the working directory, not a folder next to the checkout. A path given as
the source itself (``my/gsm8k.jsonl``) is a local file read with the local field defaults, and
``hf:NAME`` is read from the Hugging Face hub (:mod:`ponder.bench.datasets`).

To add a built-in: put ``<filename>.gz`` into ``data/`` (``gzip -9 -n``; ``pyproject.toml``
ships every ``data/*.jsonl.gz``), add its :class:`~ponder.bench.rows.DatasetSpec` to
:data:`BUILTIN` with ``about``, ``licence`` and ``source``, and its section to ``data/LICENSES.md``.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

from ponder.bench.graders import task_for
from ponder.bench.rows import (
    DatasetSpec,
    after_hashes,
    boxed,
    constant,
    field,
    premises_and_conclusion,
    verbatim,
)
from ponder.core.errors import InvalidInputError, PonderError, UnknownNameError
from ponder.core.jsonl import read_jsonl

DATA_DIR_ENV = "PONDER_DATA_DIR"
PACKAGE = "ponder.bench"
PACKAGE_DATA = "data"  # the folder, inside PACKAGE, that holds the gzipped files
LICENSES = "LICENSES.md"

MIT = "MIT"
CONTEST = "public contest problems"


def _mawps(part: str, title: str, about: str) -> DatasetSpec:
    return DatasetSpec(
        f"mawps_{part}.jsonl",
        verbatim("input"),
        field("target"),
        "math",
        about=about,
        licence=MIT,
        source=f"MAWPS {title} (Koncel-Kedziorski et al., 2016), https://github.com/sroy9/mawps",
    )


BUILTIN: dict[str, DatasetSpec] = {
    "gsm8k": DatasetSpec(
        "gsm8k_test.jsonl",
        verbatim("question"),
        after_hashes("answer"),
        "math",
        about="GSM8K test split: grade-school math word problems (1319)",
        licence=MIT,
        source="GSM8K test split (Cobbe et al., 2021), https://github.com/openai/grade-school-math",
    ),
    "gsm8k-updates": DatasetSpec(
        "gsm8k_updates.jsonl",
        verbatim("question"),
        field("answer"),
        "math",
        about="GSM8K test problems with an update changing one number, its gold recomputed (707; fields "
        "update, update_answer: bench --interrupt update@P:update)",
        licence=MIT,
        source="derived from the GSM8K test split (Cobbe et al., 2021) by scripts/build_gsm8k_updates.py",
    ),
    "math500": DatasetSpec(
        "math500.jsonl",
        verbatim("question"),
        boxed("answer"),
        "math",
        about="MATH-500: competition math, answers in LaTeX (500)",
        licence=MIT,
        source="MATH-500, the PRM800K test subset of MATH (Hendrycks et al., 2021), https://github.com/openai/prm800k",
    ),
    "aime24": DatasetSpec(
        "aime24.jsonl",
        verbatim("problem"),
        field("answer"),
        "math",
        about="AIME 2024 I and II: integer answers 0-999 (30)",
        licence=CONTEST,
        source="AIME 2024 I and II (Mathematical Association of America); each row's url: its AoPS wiki page",
    ),
    "amc23": DatasetSpec(
        "amc23.jsonl",
        verbatim("problem"),
        field("answer"),
        "math",
        about="AMC 2023 (40)",
        licence=CONTEST,
        source="AMC 2023 (Mathematical Association of America); each row's url: its AoPS wiki page",
    ),
    "mawps-singleop": _mawps("singleop", "SingleOp", "MAWPS SingleOp: one-operation arithmetic word problems"),
    "mawps-addsub": _mawps("addsub", "AddSub", "MAWPS AddSub: addition and subtraction word problems"),
    "mawps-multiarith": _mawps("multiarith", "MultiArith", "MAWPS MultiArith: two-step arithmetic word problems"),
    "mawps-singleeq": _mawps("singleeq", "SingleEq", "MAWPS SingleEq: one-equation word problems"),
    "folio": DatasetSpec(
        "folio_validation.jsonl",
        premises_and_conclusion(),
        field("label"),
        "label",
        about="FOLIO validation: does a conclusion follow from premises? (204)",
        licence="CC BY-SA 4.0",
        source="FOLIO v0.0 validation split (Han et al., 2022), https://github.com/Yale-LILY/FOLIO",
    ),
    "humaneval": DatasetSpec(
        "humaneval.jsonl",
        verbatim("prompt"),
        constant(""),
        "humaneval",
        about="HumanEval: Python functions checked by unit tests (164)",
        licence=MIT,
        source="HumanEval (Chen et al., 2021), https://github.com/openai/human-eval",
    ),
}


def dataset_names() -> list[str]:
    """The names of the built-in data sets, sorted."""
    return sorted(BUILTIN)


def package_data_dir() -> Path:
    """The folder of the packaged data files (and ``LICENSES.md``), wherever ponder is installed."""
    folder = files(PACKAGE) / PACKAGE_DATA
    if not isinstance(folder, Path):  # only a zipped install gives something else; pip never makes one
        raise PonderError(f"ponder's data sets need ponder installed as files, not zipped ({folder})")
    return folder


def packaged_file(filename: str) -> Path:
    """The packaged, gzipped copy of a built-in's file (``gsm8k_test.jsonl`` -> ``.../gsm8k_test.jsonl.gz``)."""
    path = package_data_dir() / f"{filename}.gz"
    if not path.is_file():
        raise PonderError(f"ponder's data file {path} is missing: reinstall ponder, or set {DATA_DIR_ENV}")
    return path


def builtin_file(name: str) -> Path:
    """The packaged file of the built-in data set ``name`` (``humaneval``), whatever overrides are set."""
    if name not in BUILTIN:
        raise UnknownNameError(f"unknown data set {name!r}; built-in: {', '.join(dataset_names())}")
    return packaged_file(BUILTIN[name].filename)


def override_dir(data_dir: Path | str | None = None) -> tuple[Path, str] | None:
    """The directory that overrides the package data, with what named it; None when nothing does."""
    if data_dir is not None:
        return Path(data_dir).expanduser(), "data_dir"
    env = os.environ.get(DATA_DIR_ENV)
    return (Path(env).expanduser(), f"${DATA_DIR_ENV}") if env else None


def find_data_file(filename: str, data_dir: Path | str | None = None) -> Path:
    """Where a built-in's file (``gsm8k_test.jsonl``) is read from: ``data_dir``, else
    ``$PONDER_DATA_DIR``, else the package data. A directory given (argument or variable) is the
    only place searched, for ``filename`` and then ``filename.gz``."""
    given = override_dir(data_dir)
    if given is None:
        return packaged_file(filename)
    folder, named_by = given
    if not folder.is_dir():
        raise InvalidInputError(f"{named_by} names {folder}, which is not a directory (it replaces ponder's data sets)")
    for candidate in (folder / filename, folder / f"{filename}.gz"):
        if candidate.is_file():
            return candidate
    raise InvalidInputError(
        f"data file {filename} not found in {folder} (named by {named_by}, which replaces ponder's packaged data "
        f"sets; add {filename} or {filename}.gz there, or unset it)"
    )


@dataclass(frozen=True)
class DatasetInfo:
    """One line of ``ponder datasets``: a built-in, its rows, answer task, grader, licence and source.

    ``file`` is where its rows are read from now; ``rows`` and ``file`` are None, and ``problem``
    says why, when an override directory lacks the file.
    """

    name: str
    rows: int | None
    task: str
    grader: str
    licence: str
    source: str
    about: str
    file: str | None
    problem: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def describe_dataset(name: str, data_dir: Path | str | None = None) -> DatasetInfo:
    """The listing of one built-in, reading its file (from wherever :func:`find_data_file` says) to count rows."""
    spec = BUILTIN[name]
    common = {"task": task_for(spec.grader), "grader": spec.grader, "licence": spec.licence, "source": spec.source}
    try:
        path = find_data_file(spec.filename, data_dir)
        rows = sum(1 for _ in read_jsonl(path))
    except PonderError as exc:
        return DatasetInfo(name, None, about=spec.about, file=None, problem=str(exc), **common)
    return DatasetInfo(name, rows, about=spec.about, file=str(path), **common)


def describe_datasets(data_dir: Path | str | None = None) -> list[DatasetInfo]:
    """The listing of every built-in, by name."""
    return [describe_dataset(name, data_dir) for name in dataset_names()]
