"""``ponder serve``: the OpenAI-compatible server on one engine."""

from __future__ import annotations

import asyncio

import click

from ponder.cli.failure import fail
from ponder.cli.engine_options import engine_options, remote_options
from ponder.engines.registry import create_engine
from ponder.errors import BackendUnavailableError, PonderError


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="address to listen on")
@click.option("--port", type=int, default=8000, show_default=True)
@click.option("--api-key", "server_key", default=None, help="API key clients must send [default: $PONDER_SERVE_API_KEY]")
@engine_options
@click.option("--served-name", default=None, help="model name clients ask for [default: the engine's model name]")
@click.option("--strategy", default="self-consistency", show_default=True, help="strategy when a request names none")
@click.option("--budget", type=int, default=4, show_default=True, help="generations when a request names none")
@click.option("--max-budget", type=int, default=64, show_default=True, help="most generations per request")
@click.option("--max-concurrent", type=int, default=4, show_default=True, help="runs at once; more get 429")
@click.option("--request-timeout", type=float, default=300.0, show_default=True,
              help="seconds after which a run returns its best answer so far")
@click.option("--prm", "prms", multiple=True, metavar="SPEC",
              help="a PRM clients may name with the prm option (vllm:URL#MODEL, http:URL); repeatable")
def serve(host: str, port: int, server_key: str | None, engine: str, model: str | None, base_url: str | None,
          api_key: str | None, profile: str | None, chat_template: str | None, served_name: str | None,
          strategy: str, budget: int, max_budget: int, max_concurrent: int, request_timeout: float,
          prms: tuple[str, ...]) -> None:
    """Serve inference-time strategies behind the OpenAI chat completions API."""
    try:
        import uvicorn

        from ponder.serve import ServeConfig, create_app
        from ponder.serve.logs import configure
        from ponder.strategies import strategy_class
    except ImportError as exc:
        fail(str(BackendUnavailableError(f"the server needs the server extra: {exc.name} is missing")))
    try:
        strategy_class(strategy)
        options = remote_options(engine, {"base_url": base_url, "api_key": api_key, "profile": profile,
                                          "chat_template": chat_template})
        config = ServeConfig.with_env_key(
            model_name=served_name or model or ("ponder" if engine == "openai" else "smollm2-135m"),
            api_key=server_key, default_strategy=strategy, default_budget=budget, max_budget=max_budget,
            max_concurrent=max_concurrent, request_timeout=request_timeout, prms=prms,
        )
        backend = create_engine(engine, **({"model": model} if model else {}), **options)
    except PonderError as exc:
        fail(str(exc))
    configure()
    click.echo(f"ponder serving {config.model_name!r} on http://{host}:{port}/v1"
               f"{' (API key required)' if config.api_key else ''}", err=True)
    try:
        uvicorn.run(create_app(backend, config), host=host, port=port, log_level="warning")
    finally:
        asyncio.run(backend.aclose())
