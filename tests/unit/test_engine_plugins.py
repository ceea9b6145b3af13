"""Engines as plugins: one registry for the library, pipeline specs, the CLI and the server."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from importlib.metadata import EntryPoint
from typing import Any

import pytest
from click.testing import CliRunner
from tests.support.echo_engine import EchoEngine
from tests.support.stub_server import StubServer

import ponder
from ponder.cli.main import cli
from ponder.cli.serve import served_model_name
from ponder.core.errors import BackendUnavailableError, InvalidInputError, UnknownNameError
from ponder.engines import registry
from ponder.engines.named import EngineSpec, parse_engine_spec
from ponder.engines.plugin import EnginePlugin
from ponder.engines.registry import create_engine, engine_names, engine_plugin, engine_plugins

GROUP = "ponder.engines"


@pytest.fixture
def installed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Three installed entry points: a plugin, a bare factory and a broken one."""
    points = [
        EntryPoint("echo", "tests.support.echo_engine:ECHO", GROUP),
        EntryPoint("plain", "tests.support.echo_engine:plain_factory", GROUP),
        EntryPoint("broken", "tests.support.no_such_module:PLUGIN", GROUP),
    ]

    def entry_points(*, group: str) -> list[EntryPoint]:
        return [p for p in points if p.group == group]

    monkeypatch.setattr(registry, "entry_points", entry_points)


def one_line_error(args: list[str]) -> str:
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1 and result.stdout == "" and "Traceback" not in result.stderr, result.output
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: ")
    return line


# -- the registry ---------------------------------------------------------------------------------


def test_the_built_ins_are_plugins_with_typed_options() -> None:
    assert {"llama", "openai"} <= set(engine_names())
    plugins = engine_plugins()
    assert all(isinstance(p, EnginePlugin) and p.name == name for name, p in plugins.items())
    llama = {info.name: info for info in plugins["llama"].describe()}
    assert (llama["n_ctx"].type, llama["n_ctx"].default) == ("int", 8192) and llama["model"].help
    openai = {info.name: info for info in plugins["openai"].describe()}
    assert openai["base_url"].required and not openai["timeout"].required
    assert plugins["openai"].form == "openai:BASE_URL[#MODEL]" and plugins["llama"].form == "llama:MODEL"


def test_listing_the_engines_loads_no_llama_cpp() -> None:
    code = (
        "import sys; from ponder.engines.registry import engine_plugins; from ponder.cli.main import cli; "
        "engine_plugins(); print('llama_cpp' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_options_are_converted_and_checked() -> None:
    llama = engine_plugin("llama")
    options = llama.options({"n_ctx": "4096", "verbose": "yes", "model": None})
    assert (options.n_ctx, options.verbose, options.model) == (4096, True, "smollm2-135m")
    with pytest.raises(InvalidInputError, match="option n_ctx='big': expected int"):
        llama.options({"n_ctx": "big"})
    with pytest.raises(InvalidInputError, match="engine 'llama' has no option 'base_url'; its options: model, n_ctx"):
        create_engine("llama", base_url="http://x")
    with pytest.raises(InvalidInputError, match="engine 'openai' needs option base_url"):
        create_engine("openai", model="m")
    with pytest.raises(UnknownNameError, match="unknown engine 'nope'; available: llama, openai"):
        create_engine("nope")


def test_the_openai_plugin_passes_its_options_to_the_engine() -> None:
    engine: Any = create_engine(
        "openai", base_url="http://127.0.0.1:9", model="m", timeout="5", retries="0", profile="vllm"
    )
    assert engine.info.model == "m" and engine.profile.name == "vllm"
    assert engine._timeout == 5.0 and engine._retry.attempts == 1


def test_an_installed_plugin_is_created_by_name(installed: None) -> None:
    assert {"echo", "plain", "broken", "llama", "openai"} <= set(engine_names())
    engine = create_engine("echo", answer="7", loud="true")
    assert isinstance(engine, EchoEngine) and (engine.options.answer, engine.options.loud) == (7, True)
    assert ponder.solve("q", engine=engine, budget=2).answer == "7"
    with pytest.raises(InvalidInputError, match="engine 'echo' has no option 'n_ctx'; its options: model, answer"):
        create_engine("echo", n_ctx=1)
    with pytest.raises(InvalidInputError, match=r"option answer=1\.5: expected int"):
        create_engine("echo", answer=1.5)


def test_a_bare_factory_entry_point_takes_a_model(installed: None) -> None:
    assert create_engine("plain").info.model == "plain-1"
    assert create_engine("plain", model="m2").info.model == "m2"
    assert [info.name for info in engine_plugin("plain").describe()] == ["model"]
    with pytest.raises(InvalidInputError, match="engine 'plain' has no option 'answer'"):
        create_engine("plain", answer=3)


def test_a_broken_entry_point_names_itself(installed: None) -> None:
    with pytest.raises(BackendUnavailableError, match=r"engine plugin 'broken'.*failed to load"):
        create_engine("broken")
    assert create_engine("echo").info.model == "echo-1"  # the others still work


# -- engine specs ---------------------------------------------------------------------------------


def test_specs_carry_options_after_a_question_mark(installed: None) -> None:
    assert parse_engine_spec("llama:m.gguf?n_ctx=4096&n_threads=2") == EngineSpec(
        "llama", {"model": "m.gguf", "n_ctx": "4096", "n_threads": "2"}
    )
    assert parse_engine_spec("openai:http://h:8000/v1#org/m?timeout=30") == EngineSpec(
        "openai", {"base_url": "http://h:8000/v1", "model": "org/m", "timeout": "30"}
    )
    spec = parse_engine_spec("echo:e2?answer=9&loud=yes")
    engine: Any = spec.create()
    assert (engine.options.model, engine.options.answer, engine.options.loud) == ("e2", 9, True)
    assert parse_engine_spec("echo:e?answer=%37").options == {"model": "e", "answer": "7"}  # percent-decoded


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        (
            "nope:x",
            "'nope:x' is not an engine spec: use llama:MODEL, openai:BASE_URL[#MODEL] or vllm:MODEL"
            " (see `ponder engines`)",
        ),
        ("llama:m?model=n", "'llama:m?model=n': option 'model' is given twice"),
        ("llama:m?n_ctx", "'llama:m?n_ctx': option 'n_ctx' must look like KEY=VALUE"),
        ("llama:m?n_ctx=1&n_ctx=2", "'llama:m?n_ctx=1&n_ctx=2': option 'n_ctx' is given twice"),
        ("llama:m?verbose=maybe", "'llama:m?verbose=maybe': option verbose='maybe': expected bool"),
        ("openai:ftp://x", "'openai:ftp://x' needs a base URL starting with http:// or https:// after openai:"),
    ],
)
def test_bad_specs_are_one_clear_error(spec: str, problem: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        parse_engine_spec(spec)
    assert str(caught.value).startswith(problem) and "\n" not in str(caught.value)


def test_a_third_party_prefix_works_in_a_pipeline(installed: None) -> None:
    main = EchoEngine(engine_plugin("echo").options({"answer": "4"}))
    pipeline = {"layers": [{"type": "generator", "samples": 2, "model": "echo:judge-1?answer=7"}]}
    result = ponder.solve("q", engine=main, pipeline=pipeline)
    assert result.answer == "7" and main.requests == []
    with pytest.raises(InvalidInputError, match="has no option 'n_ctx'"):
        ponder.plan("q", pipeline={"layers": [{"type": "generator", "model": "echo:x?n_ctx=1"}]})


# -- the command line -----------------------------------------------------------------------------


def test_ponder_engines_lists_every_engine_with_its_options(installed: None) -> None:
    result = CliRunner().invoke(cli, ["engines"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "llama (default): " in out and "spec: llama:MODEL[?KEY=VALUE&...]" in out
    assert "spec: openai:BASE_URL[#MODEL][?KEY=VALUE&...]" in out
    assert "n_ctx=8192" in out and "base_url (required)" in out and "timeout=300.0" in out
    assert "echo: answers with one number" in out and "answer=4" in out and "loud=False" in out
    assert "plain: An engine made by a bare factory" in out and "broken: unavailable: engine plugin 'broken'" in out
    assert "ponder engines" in CliRunner().invoke(cli, ["solve", "--help"]).stdout


def test_cli_engine_options_reach_the_plugin(installed: None) -> None:
    result = CliRunner().invoke(
        cli, ["solve", "What is 2+2?", "--engine", "echo", "-E", "answer=7", "--engine-option", "loud=1", "-n", "2"]
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == "answer:  7"
    result = CliRunner().invoke(cli, ["solve", "What is 2+2?", "-e", "echo", "--model", "m9", "-n", "1", "--json"])
    assert result.exit_code == 0 and '"model": "m9"' in result.stdout, result.output


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["-e", "echo", "-E", "n_ctx=1"], ["engine 'echo' has no option 'n_ctx'; its options: model, answer, loud"]),
        (["-e", "echo", "--base-url", "http://x"], ["engine 'echo' has no option --base-url", "model, answer, loud"]),
        (["--base-url", "http://x"], ["engine 'llama' has no option --base-url", "n_ctx"]),
        (["-e", "echo", "-E", "answer=many"], ["option answer='many': expected int"]),
        (["-e", "echo", "-E", "answer"], ["option 'answer' must look like KEY=VALUE"]),
        (["-e", "echo", "-m", "a", "-E", "model=b"], ["model is given both as --model and as -E"]),
        (["-e", "openai"], ["--engine openai needs --base-url: the server"]),
        (
            ["-e", "openai", "--base-url", "http://x", "-E", "bogus=1"],
            ["engine 'openai' has no option 'bogus'", "timeout"],
        ),
        (["-e", "nope"], ["unknown engine 'nope'", "llama", "openai", "echo"]),
    ],
)
def test_cli_engine_option_errors_are_one_line(installed: None, args: list[str], needles: list[str]) -> None:
    line = one_line_error(["solve", "What is 2+2?", *args])
    assert all(needle in line for needle in needles), line


def test_serve_refuses_a_bad_engine_option_before_starting(installed: None) -> None:
    pytest.importorskip("uvicorn")
    line = one_line_error(["serve", "--engine", "echo", "-E", "nope=1"])
    assert "engine 'echo' has no option 'nope'" in line


def test_the_served_model_name_comes_from_the_engine(installed: None) -> None:
    assert served_model_name(EngineSpec("echo", {"model": "given"}), create_engine("echo")) == "given"
    assert served_model_name(EngineSpec("echo", {}), create_engine("echo", model="own")) == "own"
    assert served_model_name(EngineSpec("llama", {}), create_engine("echo")) == "smollm2-135m"  # the plugin's default


def test_an_openai_engine_without_a_model_is_served_under_its_servers_model() -> None:
    with StubServer(owned_by="vllm", model="org/served-7b") as server:
        spec = EngineSpec("openai", {"base_url": server.url})
        backend = spec.create()
        assert served_model_name(spec, backend) == "org/served-7b"
        asyncio.run(backend.aclose())
