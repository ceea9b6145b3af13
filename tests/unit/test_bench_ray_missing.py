"""``ponder bench --ray`` without Ray installed, and the pieces of a Ray run that need no Ray:
one-line errors, chunks, endpoints spread over tasks."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from ponder.bench.api import abench
from ponder.bench.distributed import import_ray
from ponder.bench.distributed.jobs import chunked, split_endpoints, with_endpoint
from ponder.bench.types import Problem
from ponder.cli.main import cli
from ponder.core.errors import BackendUnavailableError, InvalidInputError
from ponder.engines import FakeEngine

PROBLEMS = [Problem(id=f"p{i}", question=f"q{i}", gold="4", grader="math", data={}) for i in range(7)]


@pytest.fixture
def data(tmp_path: Path) -> Path:
    path = tmp_path / "toy.jsonl"
    path.write_text('{"question": "What is 2 + 2?", "answer": "4"}\n')
    return path


@pytest.fixture
def no_ray(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ray not installed: importing it fails as it does then."""
    monkeypatch.setitem(sys.modules, "ray", None)


def one_line_error(args: list[str]) -> str:
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1 and result.stdout == "" and "Traceback" not in result.stderr, result.output
    [line] = result.stderr.strip().splitlines()
    return line


def test_without_ray_the_error_says_what_to_install(no_ray: None, data: Path, tmp_path: Path) -> None:
    with pytest.raises(BackendUnavailableError, match=r"pip install 'ponder\[ray\]'"):
        import_ray()
    line = one_line_error(
        ["bench", str(data), "--engine", "openai", "--base-url", "http://127.0.0.1:9", "--ray", "local"]
        + ["--db", str(tmp_path / "b.db")]
    )
    assert line == "error: --ray needs Ray, which is not installed: pip install 'ponder[ray]'"


def test_a_list_of_endpoints_needs_ray(data: Path, tmp_path: Path) -> None:
    urls = "http://127.0.0.1:9,http://127.0.0.1:10"
    line = one_line_error(
        ["bench", str(data), "--engine", "openai", "--base-url", urls, "--db", str(tmp_path / "b.db")]
    )
    assert line == (
        "error: a comma-separated --base-url spreads problems over Ray workers: add --ray ADDRESS, or give one URL"
    )
    assert not (tmp_path / "b.db").exists()


async def test_ray_takes_an_engine_name_not_an_engine(no_ray: None, data: Path, tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="creates the engine on each worker"):
        await abench(str(data), engine=FakeEngine(["4"]), ray="local", db=tmp_path / "b.db", progress=False)


def test_problems_go_out_in_chunks_in_order() -> None:
    assert [[p.id for p in chunk] for chunk in chunked(PROBLEMS, 3)] == [["p0", "p1", "p2"], ["p3", "p4", "p5"], ["p6"]]
    assert chunked([], 3) == []
    for bad in (0, -1, 1.5, True):
        with pytest.raises(InvalidInputError, match="chunk size must be an integer >= 1"):
            chunked(PROBLEMS, bad)  # type: ignore[arg-type]


def test_endpoints_are_taken_in_turn() -> None:
    options = {"base_url": "http://a:1, http://b:2", "model": "m"}
    endpoints = split_endpoints(options)
    assert endpoints == ["http://a:1", "http://b:2"]
    turns = [with_endpoint(options, endpoints, n)["base_url"] for n in range(3)]
    assert turns == ["http://a:1", "http://b:2", "http://a:1"]
    assert with_endpoint({"model": "x"}, [], 5) == {"model": "x"}  # an engine without endpoints
    assert split_endpoints({"model": "x"}) == []
    with pytest.raises(InvalidInputError, match="empty entry"):
        split_endpoints({"base_url": "http://a:1,,http://b:2"})
