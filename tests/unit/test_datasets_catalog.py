"""The built-in data sets ship with ponder: package data found wherever ponder runs, listed by
`ponder datasets`, overridden only by data_dir / $PONDER_DATA_DIR, and nothing reads a folder
beside the checkout."""

from __future__ import annotations

import fnmatch
import gzip
import json
import tomllib
from importlib.resources import files
from pathlib import Path

import pytest
from click.testing import CliRunner

from ponder.bench.catalog import BUILTIN, LICENSES, builtin_file, describe_datasets, find_data_file, package_data_dir
from ponder.bench.datasets import load_problems
from ponder.cli.main import cli
from ponder.core.errors import UnknownNameError

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "ponder"
# The sets shipped first, with their rows; a set added later must load too, with at least one row.
ROWS = {
    "aime24": 30,
    "amc23": 40,
    "folio": 204,
    "gsm8k": 1319,
    "humaneval": 164,
    "math500": 500,
    "mawps-addsub": 395,
    "mawps-multiarith": 600,
    "mawps-singleeq": 508,
    "mawps-singleop": 562,
}


@pytest.fixture(autouse=True)
def _no_data_dir_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PONDER_DATA_DIR", raising=False)


@pytest.mark.parametrize("name", sorted(BUILTIN))
def test_every_builtin_is_gzipped_package_data(name: str) -> None:
    path = find_data_file(BUILTIN[name].filename)
    assert path == builtin_file(name) == package_data_dir() / f"{BUILTIN[name].filename}.gz"
    assert path.parent == Path(str(files("ponder.bench") / "data"))  # found through importlib.resources
    assert path.read_bytes()[:2] == b"\x1f\x8b"  # gzip
    assert path.stat().st_size < 300_000


def test_built_in_names_ignore_the_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "datasets").mkdir()  # the old lookup read ./datasets before anything shipped
    (tmp_path / "datasets" / "gsm8k_test.jsonl").write_text('{"question": "q", "answer": "#### 5"}\n')
    monkeypatch.chdir(tmp_path)
    assert load_problems("gsm8k", limit=1)[0].gold == "18"


def test_builtin_file_refuses_unknown_names() -> None:
    with pytest.raises(UnknownNameError, match="unknown data set 'gsm9k'"):
        builtin_file("gsm9k")


def test_the_wheel_ships_every_builtin_and_the_licences() -> None:
    globs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["ponder"]
    shipped = [str(builtin_file(name).relative_to(PACKAGE)) for name in BUILTIN]
    shipped.append(str((package_data_dir() / LICENSES).relative_to(PACKAGE)))
    assert [path for path in shipped if not any(fnmatch.fnmatch(path, glob) for glob in globs)] == []
    assert sorted(p.name for p in package_data_dir().glob("*.jsonl.gz")) == sorted(
        f"{spec.filename}.gz" for spec in BUILTIN.values()
    )  # no file ships without a built-in name, no name lacks its file


def test_every_builtin_has_its_licence_source_and_attribution() -> None:
    licences = (package_data_dir() / LICENSES).read_text(encoding="utf-8")
    for name, spec in BUILTIN.items():
        assert spec.licence and spec.source and spec.about, name
        assert f"`{name}`" in licences and f"`{spec.filename}.gz`" in licences, name


def test_the_listing_counts_every_row() -> None:
    counted = {info.name: info.rows for info in describe_datasets()}
    assert {name: counted[name] for name in ROWS} == ROWS
    assert sorted(counted) == sorted(BUILTIN) and all(rows for rows in counted.values())
    assert all(info.problem is None and info.file for info in describe_datasets())


def test_ponder_datasets_prints_one_line_per_set() -> None:
    result = CliRunner().invoke(cli, ["datasets"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["name", "rows", "task", "grader", "licence", "source"]
    rows = {line.split()[0]: line.split() for line in lines[1 : 1 + len(BUILTIN)]}
    assert sorted(rows) == sorted(BUILTIN)
    assert {name: int(rows[name][1]) for name in ROWS} == ROWS
    assert rows["humaneval"][2:5] == ["code", "humaneval", "MIT"]
    assert rows["folio"][2:6] == ["label", "label", "CC", "BY-SA"]
    assert "read from: ponder's package data" in result.stdout and LICENSES in result.stdout


def test_ponder_datasets_json() -> None:
    result = CliRunner().invoke(cli, ["datasets", "--json"])
    assert result.exit_code == 0, result.output
    listed = json.loads(result.stdout)
    assert [entry["name"] for entry in listed] == sorted(BUILTIN)
    gsm8k = next(entry for entry in listed if entry["name"] == "gsm8k")
    assert {key: gsm8k[key] for key in ("rows", "task", "grader", "licence")} == {
        "rows": 1319,
        "task": "math",
        "grader": "math",
        "licence": "MIT",
    }
    assert "openai/grade-school-math" in gsm8k["source"]


def test_ponder_datasets_follows_the_override_and_names_what_it_lacks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with gzip.open(tmp_path / "aime24.jsonl.gz", "wt", encoding="utf-8") as out:
        out.write('{"id": 1, "problem": "1+1?", "answer": 2}\n')
    monkeypatch.setenv("PONDER_DATA_DIR", str(tmp_path))
    result = CliRunner().invoke(cli, ["datasets"])
    assert result.exit_code == 0, result.output
    rows = {line.split()[0]: line.split()[1] for line in result.stdout.splitlines()[1 : 1 + len(BUILTIN)]}
    assert rows["aime24"] == "1" and rows["gsm8k"] == "-"
    assert f"read from: {tmp_path} (from $PONDER_DATA_DIR)" in result.stdout
    assert "gsm8k: data file gsm8k_test.jsonl not found in" in result.stderr


# Spelled in pieces so that this file does not match itself.
FORBIDDEN = ("shared" + "/datasets", '"shared" / ' + '"datasets"', "/work/" + "shared")
SCANNED = ("src", "tests", "benchmarks", "scripts", "examples", ".ci", "Makefile", "pyproject.toml")
TEXT = {".py", ".sh", ".toml", ".yaml", ".yml", ".cfg", ".ini", ".md", ""}


def test_nothing_reads_a_folder_beside_the_checkout() -> None:
    offenders = []
    for top in SCANNED:
        paths = [ROOT / top] if (ROOT / top).is_file() else sorted((ROOT / top).rglob("*"))
        for path in paths:
            built = any(part == "__pycache__" or part.endswith(".egg-info") for part in path.parts)
            if built or not path.is_file() or path.suffix not in TEXT:
                continue
            text = path.read_text(encoding="utf-8", errors="replace")
            offenders += [f"{path.relative_to(ROOT)}: {bad}" for bad in FORBIDDEN if bad in text]
    assert offenders == []
