"""``ponder serve``: the OpenAI-compatible server on one engine."""

from __future__ import annotations

import asyncio
import dataclasses

import click

from ponder.cli.engine_options import engine_options
from ponder.cli.failure import fail
from ponder.core.errors import BackendUnavailableError, PonderError
from ponder.engines.base import Engine
from ponder.engines.named import EngineSpec
from ponder.engines.registry import engine_plugin


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="address to listen on")
@click.option("--port", type=int, default=8000, show_default=True)
@click.option(
    "--api-key", "server_key", default=None, help="API key clients must send [default: $PONDER_SERVE_API_KEY]"
)
@engine_options
@click.option(
    "--served-name",
    default=None,
    help="model name clients ask for [default: the engine's model name; openai without --model: "
    "the server's first model, asked at start]",
)
@click.option("--strategy", default="self-consistency", show_default=True, help="strategy when a request names none")
@click.option("--budget", type=int, default=4, show_default=True, help="generations when a request names none")
@click.option("--max-budget", type=int, default=64, show_default=True, help="most generations per request")
@click.option("--max-concurrent", type=int, default=4, show_default=True, help="runs at once; more get 429")
@click.option(
    "--request-timeout",
    type=float,
    default=300.0,
    show_default=True,
    help="seconds after which a run returns its best answer so far",
)
@click.option(
    "--prm",
    "prms",
    multiple=True,
    metavar="SPEC",
    help="a PRM clients may name with the prm option (vllm:URL#MODEL, http:URL); repeatable",
)
def serve(
    host: str,
    port: int,
    server_key: str | None,
    engine: EngineSpec,
    served_name: str | None,
    strategy: str,
    budget: int,
    max_budget: int,
    max_concurrent: int,
    request_timeout: float,
    prms: tuple[str, ...],
) -> None:
    """Serve inference-time strategies behind the OpenAI chat completions API."""
    try:
        import uvicorn

        from ponder.registry import strategy_class
        from ponder.serve import ServeConfig, create_app
        from ponder.serve.logs import configure
    except ImportError as exc:
        fail(str(BackendUnavailableError(f"the server needs the server extra: {exc.name} is missing")))
    try:
        strategy_class(strategy)
        config = ServeConfig.with_env_key(  # checked before the engine loads; named once it has
            **({"model_name": served_name} if served_name else {}),
            api_key=server_key,
            default_strategy=strategy,
            default_budget=budget,
            max_budget=max_budget,
            max_concurrent=max_concurrent,
            request_timeout=request_timeout,
            prms=prms,
        )
        backend = engine.create()
    except PonderError as exc:
        fail(str(exc))
    try:
        config = dataclasses.replace(config, model_name=served_name or served_model_name(engine, backend))
    except PonderError as exc:
        asyncio.run(backend.aclose())
        fail(str(exc))
    configure()
    click.echo(
        f"ponder serving {config.model_name!r} on http://{host}:{port}/v1"
        f"{' (API key required)' if config.api_key else ''}",
        err=True,
    )
    try:
        uvicorn.run(create_app(backend, config), host=host, port=port, log_level="warning")
    finally:
        asyncio.run(backend.aclose())


def served_model_name(spec: EngineSpec, backend: Engine) -> str:
    """What clients call the model when ``--served-name`` is not given: the ``model`` option as
    given, else the plugin's ``default_model_name``, else the engine's own ``info.model``, learnt
    by a first, empty call (the openai engine asks its server's ``/v1/models``)."""
    model = spec.options.get("model")
    if model:
        return str(model)
    default = engine_plugin(spec.name).default_model_name
    if default:
        return default
    asyncio.run(backend.generate([]))
    return backend.info.model
