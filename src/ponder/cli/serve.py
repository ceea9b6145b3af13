"""``ponder serve``: the OpenAI-compatible server on one engine."""

from __future__ import annotations

import asyncio
import dataclasses
import socket

import click

from ponder.cli.engine_options import engine_options
from ponder.cli.failure import fail
from ponder.core.errors import BackendUnavailableError, PonderError
from ponder.engines.base import Engine
from ponder.engines.named import EngineSpec
from ponder.engines.registry import engine_plugin
from ponder.pipelines.source import read_config
from ponder.registry import load_pipeline
from ponder.scorers import SCORERS

SECONDS = click.FloatRange(min=0, min_open=True)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="address to listen on")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True, help="0: any free port")
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
@click.option(
    "--pipeline",
    "pipeline",
    type=click.Path(dir_okay=False),
    default=None,
    metavar="FILE",
    help="a pipeline config (YAML or JSON, e.g. from `ponder tune`) that requests naming no strategy (or "
    "naming pipeline) run instead of --strategy, at the budget it can spend unless they set one",
)
@click.option("--budget", type=int, default=4, show_default=True, help="generations when a request names none")
@click.option("--max-budget", type=int, default=64, show_default=True, help="most generations per request")
@click.option("--max-concurrent", type=int, default=4, show_default=True, help="runs at once; more get 429")
@click.option(
    "--request-timeout",
    type=SECONDS,
    default=300.0,
    show_default=True,
    help="seconds after which a run returns its best answer so far (one stuck past it is cancelled: 504)",
)
@click.option(
    "--header-timeout",
    type=SECONDS,
    default=10.0,
    show_default=True,
    help="seconds a client has to send a request's headers; slower ones get 408 and are disconnected",
)
@click.option(
    "--body-timeout",
    type=SECONDS,
    default=30.0,
    show_default=True,
    help="seconds a client has to send a request's body after its headers (else 408, disconnected)",
)
@click.option(
    "--max-connections",
    type=click.IntRange(min=1),
    default=100,
    show_default=True,
    help="open connections at most; requests past the cap get 503",
)
@click.option(
    "--code-execution",
    type=click.Choice(["on", "off"]),
    default="on",
    show_default=True,
    help="on: code the model writes (program-of-thought, program=true, ...) runs sandboxed, seeing only "
    "Python's own files; off: requests that would run it get 400",
)
@click.option(
    "--prm",
    "prms",
    multiple=True,
    metavar="SPEC",
    help="a PRM clients may name with the prm option (vllm:URL#MODEL, http:URL); repeatable",
)
@click.option(
    "--memory",
    type=click.Path(dir_okay=False),
    default=None,
    metavar="FILE",
    help="a concept memory file (created when missing) that every request reads: the concepts that fit its "
    "question go into the system prompt; requests cannot name or skip it",
)
@click.option(
    "--memory-write",
    type=click.Choice(["never", "confident"]),
    default="never",
    show_default=True,
    help="with --memory: add what a run teaches when its winning answer has >= 0.8 of the vote (confident); "
    "nothing a server runs is verified",
)
@click.option(
    "--memory-select",
    type=click.Choice(["lexical", "model"]),
    default="lexical",
    show_default=True,
    help="with --memory: choose concepts by word overlap (no model call) or ask the model (one call per request)",
)
def serve(
    host: str,
    port: int,
    server_key: str | None,
    engine: EngineSpec,
    served_name: str | None,
    strategy: str,
    pipeline: str | None,
    budget: int,
    max_budget: int,
    max_concurrent: int,
    request_timeout: float,
    header_timeout: float,
    body_timeout: float,
    max_connections: int,
    code_execution: str,
    prms: tuple[str, ...],
    memory: str | None,
    memory_write: str,
    memory_select: str,
) -> None:
    """Serve inference-time strategies behind the OpenAI chat completions API.

    Requests to an upstream model server (--engine openai) are bounded by --upstream-timeout.
    """
    try:
        import uvicorn

        from ponder.registry import strategy_class
        from ponder.serve import ServeConfig, create_app
        from ponder.serve.app import open_memory
        from ponder.serve.connections import listening_socket, uvicorn_config
        from ponder.serve.logs import configure
    except ImportError as exc:
        fail(str(BackendUnavailableError(f"the server needs the server extra: {exc.name} is missing")))
    try:
        strategy_class(strategy)
        operator_pipeline = None
        if pipeline is not None:  # checked here for errors with the file's lines; clients never name a file
            name = load_pipeline(pipeline, scorers=SCORERS, engines=()).name
            operator_pipeline = {**read_config(pipeline)[0], "name": name}
        config = ServeConfig.with_env_key(  # checked before the engine loads; named once it has
            **({"model_name": served_name} if served_name else {}),
            api_key=server_key,
            default_strategy=strategy,
            default_budget=budget,
            max_budget=max_budget,
            max_concurrent=max_concurrent,
            request_timeout=request_timeout,
            header_timeout=header_timeout,
            body_timeout=body_timeout,
            max_connections=max_connections,
            code_execution=code_execution == "on",
            prms=prms,
            default_pipeline=operator_pipeline,
            memory=memory,
            memory_write=memory_write,
            memory_selection=memory_select,
        )
        if config.memory is not None:  # an unusable memory file fails before the engine loads
            opened = open_memory(config)
            if opened is not None:
                opened.close()
        sock = listening_socket(host, port)  # before the engine loads: a port in use fails at once
    except PonderError as exc:
        fail(str(exc))
    try:
        backend = engine.create()
    except PonderError as exc:
        sock.close()
        fail(str(exc))
    try:
        config = dataclasses.replace(config, model_name=served_name or served_model_name(engine, backend))
    except PonderError as exc:
        sock.close()
        asyncio.run(backend.aclose())
        fail(str(exc))
    configure()
    app = create_app(backend, config)
    click.echo(
        f"ponder serving {config.model_name!r} on {_url(sock)}/v1{' (API key required)' if config.api_key else ''}",
        err=True,
    )
    try:
        uvicorn.Server(uvicorn_config(app, config)).run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn re-raises the Ctrl-C it shut down on
        pass
    finally:
        app.state.runs.close(final=backend.aclose())  # the engine's connections live on the run loop
        if app.state.memory is not None:
            app.state.memory.close()
        sock.close()


def _url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


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
