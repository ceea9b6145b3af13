"""Options shared by the commands: engine options (declared once, checked once) and ``-o KEY=VALUE``."""

from __future__ import annotations

from typing import Any, Callable

import click

from ponder.engines.registry import DEFAULT_ENGINE
from ponder.errors import InvalidInputError

REMOTE = ("base_url", "api_key", "profile", "chat_template")


def engine_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add --engine, --model and the openai engine's options to a command."""
    options = [
        click.option("--engine", "-e", default=DEFAULT_ENGINE, show_default=True,
                     help="backend: llama (embedded) or openai (any OpenAI-compatible server)"),
        click.option("--model", "-m", default=None,
                     help="llama: GGUF path, hf:OWNER/REPO/FILE.gguf or a built-in name [default: smollm2-135m]; "
                          "openai: the served model name"),
        click.option("--base-url", default=None, help="openai engine: the server, e.g. http://127.0.0.1:8000"),
        click.option("--upstream-api-key", "api_key", default=None,
                     help="openai engine: the model server's API key [default: $PONDER_API_KEY or $OPENAI_API_KEY]"),
        click.option("--profile", default=None,
                     help="openai engine: vllm, sglang, llama.cpp, llama-cpp-python, ollama, openai, generic [default: detect]"),
        click.option("--chat-template", default=None,
                     help="openai engine: Jinja template or .gguf path, to continue partial answers"),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def remote_options(engine: str, values: dict[str, Any]) -> dict[str, Any]:
    """The openai engine's options that were given, refusing them for other engines."""
    given = {key: values[key] for key in REMOTE if values.get(key) is not None}
    if given and engine != "openai":
        flag = {"api_key": "upstream-api-key"}.get(next(iter(given)), next(iter(given)).replace("_", "-"))
        raise InvalidInputError(f"--{flag} applies to --engine openai")
    if engine == "openai" and "base_url" not in given:
        raise InvalidInputError("--engine openai needs --base-url (the server, e.g. http://127.0.0.1:8000)")
    return given


def parse_options(pairs: tuple[str, ...]) -> dict[str, str]:
    """``("batch=4", "threshold=0.9")`` -> a dict; the strategy validates names and values."""
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InvalidInputError(f"option {pair!r} must look like KEY=VALUE")
        options[key.strip()] = value.strip()
    return options
