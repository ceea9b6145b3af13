"""Installed, not just checked out: ponder's wheel, installed into a fresh venv, runs from anywhere.

The wheel is built from a copy of the packaging inputs (``pyproject.toml``, ``README.md``,
``src/``), so the checkout gains no ``build/`` or ``egg-info``, and holds the data sets and the
LINC prompt. A fresh venv in a temporary directory gets it with the llama-cpp-python wheel that
``scripts/setup.sh`` cached (nothing is compiled; PyPI supplies the other dependencies). Then,
from an empty working directory, with no ``PYTHONPATH`` and no ``PONDER_DATA_DIR``, the installed
``ponder`` lists its data sets, solves a question and benchmarks two MAWPS problems with the
embedded model. Slow (a pip install and the model): marked ``model``, as it loads it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest

from ponder.bench.catalog import BUILTIN

pytestmark = [pytest.mark.model, pytest.mark.timeout(1800)]

ROOT = Path(__file__).resolve().parents[2]
WHEELS = Path(os.environ.get("PONDER_WHEELS") or Path.home() / ".cache" / "ponder" / "wheels").expanduser()
QUESTION = "Tom has 3 boxes with 4 apples in each box. How many apples does Tom have?"


@dataclass(frozen=True)
class Installed:
    wheel: Path
    venv: Path
    cwd: Path  # an empty directory outside the checkout
    env: dict[str, str]

    def ponder(self, *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
        """Run the installed ``ponder`` command from the unrelated directory."""
        return subprocess.run(
            [str(self.venv / "bin" / "ponder"), *args],
            cwd=self.cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


def _run(*command: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None) -> None:
    done = subprocess.run([str(c) for c in command], cwd=cwd, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"{' '.join(map(str, command))} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"


def _cached_llama_wheel() -> Path:
    """The llama-cpp-python wheel scripts/setup.sh built: the version this venv runs, else the newest."""
    try:
        ours = version("llama-cpp-python")
    except PackageNotFoundError:
        ours = ""
    found = sorted(WHEELS.glob("llama_cpp_python-*.whl"))
    if not found:
        pytest.skip(f"no cached llama-cpp-python wheel in {WHEELS}: run scripts/setup.sh (or set PONDER_WHEELS)")
    same = [wheel for wheel in found if wheel.name.startswith(f"llama_cpp_python-{ours}-")]
    return (same or found)[-1]


def _clean_env() -> dict[str, str]:
    """This process's environment without what would point the installed ponder back at the checkout."""
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "PONDER_DATA_DIR", "VIRTUAL_ENV"}}
    env["OMP_WAIT_POLICY"] = "PASSIVE"
    return env


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("wheel")
    source = root / "source"
    shutil.copytree(ROOT / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", source, "-w", root / "dist")
    (built,) = (root / "dist").glob("ponder-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Installed:
    llama = _cached_llama_wheel()
    root = tmp_path_factory.mktemp("installed")
    venv, cwd, env = root / "venv", root / "elsewhere", _clean_env()
    cwd.mkdir()
    _run(sys.executable, "-m", "venv", venv, env=env)
    python = venv / "bin" / "python"
    # The cached wheel named outright: pip would otherwise prefer a newer llama-cpp-python sdist and compile it.
    _run(python, "-m", "pip", "install", "--quiet", "--find-links", WHEELS, llama, wheel, cwd=cwd, env=env)
    return Installed(wheel, venv, cwd, env)


def test_the_wheel_holds_the_data_sets_and_the_prompts(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {f"ponder/bench/data/{spec.filename}.gz" for spec in BUILTIN.values()}
    expected |= {"ponder/bench/data/LICENSES.md", "ponder/strategies/prompts/linc_fewshot.json", "ponder/py.typed"}
    assert expected - names == set()


def test_the_installed_ponder_lists_its_own_data_sets(installed: Installed) -> None:
    done = installed.ponder("datasets", "--json", timeout=300)
    assert done.returncode == 0, done.stderr
    listed = {entry["name"]: entry for entry in json.loads(done.stdout)}
    assert listed["mawps-singleop"]["rows"] == 562 and listed["humaneval"]["rows"] == 164
    site = installed.venv.resolve()
    assert all(Path(entry["file"]).resolve().is_relative_to(site) for entry in listed.values())


def test_the_installed_ponder_solves_from_anywhere(installed: Installed) -> None:
    done = installed.ponder("solve", QUESTION, "--budget", "2", "--max-tokens", "96", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads([line for line in done.stdout.splitlines() if line.startswith("{")][-1])
    assert result["question"] == QUESTION and len(result["candidates"]) == 2
    assert result["usage"]["completion_tokens"] > 0


def test_the_installed_ponder_benchmarks_a_shipped_data_set(installed: Installed) -> None:
    done = installed.ponder("bench", "mawps-singleop", "--limit", "2", "--max-tokens", "96", "--quiet")
    assert done.returncode == 0, done.stderr
    assert "/2, 2 new)" in done.stdout, done.stdout  # 2 problems solved and stored
    assert (installed.cwd / "ponder-bench.db").is_file()  # the default store, in the working directory
