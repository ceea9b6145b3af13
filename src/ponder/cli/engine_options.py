"""Options shared by the commands: engine options (declared once, checked once) and ``-o KEY=VALUE``.

:func:`engine_options` gives a command ``--engine NAME``, ``-E KEY=VALUE`` for any option of
that engine, and flags that are aliases of common option names (``--model`` is ``-E model=...``).
The command receives one ``engine`` argument: an :class:`~ponder.engines.named.EngineSpec`,
already checked against the engine's options, so a typo fails before any model loads.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import click

from ponder.cli.failure import fail
from ponder.core.errors import InvalidInputError, PonderError
from ponder.engines.named import EngineSpec
from ponder.engines.registry import DEFAULT_ENGINE, engine_plugin

ALIASES: dict[str, str] = {  # engine option -> the flag that sets it (its click parameter has its name)
    "model": "--model",
    "base_url": "--base-url",
    "api_key": "--upstream-api-key",
    "profile": "--profile",
    "chat_template": "--chat-template",
    "timeout": "--upstream-timeout",
}


def engine_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add --engine, -E KEY=VALUE and the alias flags to a command, which gets ``engine: EngineSpec``."""

    @functools.wraps(command)
    def wrapper(*args: Any, engine: str, engine_option: tuple[str, ...], **kwargs: Any) -> Any:
        aliases = {name: kwargs.pop(name) for name in ALIASES}
        try:
            spec = engine_spec(engine, aliases, engine_option)
        except PonderError as exc:
            fail(str(exc))
        return command(*args, engine=spec, **kwargs)

    options = [
        click.option(
            "--engine",
            "-e",
            default=DEFAULT_ENGINE,
            show_default=True,
            help="backend: llama (embedded), openai (any OpenAI-compatible server), vllm (in-process, on a "
            "GPU) or an installed plugin; `ponder engines` lists them with their options",
        ),
        click.option(
            "--engine-option",
            "-E",
            "engine_option",
            multiple=True,
            metavar="KEY=VALUE",
            help="an option of the engine, e.g. -E n_ctx=4096 (repeatable; see `ponder engines`)",
        ),
        click.option(
            "--model",
            "-m",
            default=None,
            help="= -E model=...; llama: GGUF path, hf:OWNER/REPO/FILE.gguf or a built-in name "
            "[default: smollm2-135m]; openai: the served model name; vllm: a Hugging Face model",
        ),
        click.option(
            "--base-url", default=None, help="= -E base_url=...; openai: the server, e.g. http://127.0.0.1:8000"
        ),
        click.option(
            "--upstream-api-key",
            "api_key",
            default=None,
            help="= -E api_key=...; openai: the model server's API key [default: $PONDER_API_KEY or $OPENAI_API_KEY]",
        ),
        click.option(
            "--profile", default=None, help="= -E profile=...; openai: vllm, sglang, llama.cpp, ... [default: detect]"
        ),
        click.option(
            "--chat-template",
            default=None,
            help="= -E chat_template=...; openai: Jinja template or .gguf path, to continue partial answers",
        ),
        click.option(
            "--upstream-timeout",
            "timeout",
            default=None,
            metavar="SECONDS",
            help="= -E timeout=...; openai: total seconds one request to the model server may take, "
            "retries included [default: 300]",
        ),
    ]
    for option in reversed(options):
        wrapper = option(wrapper)
    return wrapper


def engine_spec(engine: str, aliases: dict[str, str | None], pairs: tuple[str, ...]) -> EngineSpec:
    """The engine and its options from ``--engine``, the alias flags and ``-E`` pairs, checked
    against the engine's options (an option it does not have is refused, naming those it has)."""
    plugin = engine_plugin(engine)
    given = {name: value for name, value in aliases.items() if value is not None}
    plugin.check_names(given, spelled=lambda name: ALIASES.get(name, name))
    extra = parse_options(pairs)
    plugin.check_names(extra)
    twice = sorted(set(given) & set(extra))
    if twice:
        raise InvalidInputError(f"engine option {twice[0]} is given both as {ALIASES[twice[0]]} and as -E")
    options = {**given, **extra}
    for info in plugin.describe():
        if info.required and info.name not in options:
            flag = ALIASES.get(info.name, f"-E {info.name}=...")
            raise InvalidInputError(f"--engine {engine} needs {flag}: {info.help}")
    plugin.options(options)
    return EngineSpec(engine, options)


def parse_options(pairs: tuple[str, ...]) -> dict[str, str]:
    """``("batch=4", "threshold=0.9")`` -> a dict; the strategy validates names and values."""
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InvalidInputError(f"option {pair!r} must look like KEY=VALUE")
        options[key.strip()] = value.strip()
    return options
