"""``ponder engines``: every registered engine with its spec form and options."""

from __future__ import annotations

import click

from ponder.core.errors import PonderError
from ponder.engines.plugin import EnginePlugin, OptionInfo
from ponder.engines.registry import DEFAULT_ENGINE, engine_names, engine_plugin


@click.command()
def engines() -> None:
    """List the engines with their spec forms and options (set them with --engine NAME -E KEY=VALUE,
    or in a pipeline's model: NAME:TARGET?KEY=VALUE&KEY=VALUE)."""
    for name in engine_names():
        try:
            plugin = engine_plugin(name)
        except PonderError as exc:  # one broken plugin must not hide the others
            click.echo(f"{name}: unavailable: {exc}")
            continue
        click.echo("\n".join(describe_plugin(plugin)))
    click.echo("set options with --engine NAME -E KEY=VALUE, or in a spec: NAME:TARGET?KEY=VALUE&KEY=VALUE")


def describe_plugin(plugin: EnginePlugin) -> list[str]:
    """The lines ``ponder engines`` prints for one engine."""
    default = " (default)" if plugin.name == DEFAULT_ENGINE else ""
    lines = [f"{plugin.name}{default}: {plugin.summary}", f"    spec: {plugin.form}[?KEY=VALUE&...]"]
    lines += [f"    {_setting(info):<28} {info.type:<6} {info.help}" for info in plugin.describe()]
    return lines


def _setting(info: OptionInfo) -> str:
    if info.required:
        return f"{info.name} (required)"
    value = repr(info.default) if isinstance(info.default, str) and not info.default.strip() else str(info.default)
    return f"{info.name}={value}"
