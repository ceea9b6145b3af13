"""ponder against its_hub and optillm on OpenAI-compatible servers: accuracy, tokens, wall time.

Runs the first ``--limit`` MAWPS SingleOp problems through every system x strategy x budget x
server x concurrency (problems in flight at once, ``--concurrency``, default 1 and 4):

1. server phase, once per server (``--servers``): start llama-cpp-python's server (one request at
   a time) or llama.cpp's ``llama-server --parallel 8`` (continuous batching; built beforehand by
   ``scripts/llama-server.sh --build-only``) with the embedded model, or use ``--url``; put a
   counting proxy in front of it, and run ponder's HTTP engine, its_hub and optillm (through its
   own proxy, a subprocess) against it at each concurrency; then stop the server;
2. embedded phase: only then load the model in this process for ponder's embedded engine (two
   llama.cpp computations at once on a small machine slow both down by orders of magnitude), at
   each concurrency.

Writes ``OUT.json`` (settings, versions, every raw number, every answer) and ``OUT.md`` (the
table), rewriting both after each configuration so an interrupted run keeps what it measured.
Installs nothing: its_hub comes from the ``bench-peers`` extra, optillm from its own venv.

    python benchmarks/peers/run.py [--limit 30] [--budgets 4,8] [--url URL] [--model GGUF]
        [--systems ponder-http,ponder-embedded,its_hub,optillm] [--max-tokens 128] [--out PATH]
        [--strategies self-consistency,best-of-n,particle-filtering,deepconf]
        [--servers llama-cpp-python,llama-server] [--concurrency 1,4] [--parallel 8]
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import sys
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # makes `peers` importable as a package

from peers import report
from peers.cli import parse_args
from peers.itshub import ItsHubSystem
from peers.measure import run_config
from peers.optillm_system import OptillmSystem
from peers.proxy import Adjustments, CountingProxy
from peers.servers import (
    ManagedProcess,
    find_optillm,
    llama_server_binary,
    optillm_version,
    server_profile,
    start_batching_server,
    start_llama_server,
)
from peers.systems import OPTILLM_SC_SAMPLES, SC, Setup, System, ponder_embedded, ponder_http
from ponder.bench.datasets import Problem, load_problems
from ponder.core.settings import DEFAULT_SYSTEM_PROMPT
from ponder.engines.http.profiles import PROFILES

SERVER_SYSTEMS = ("ponder-http", "its_hub", "optillm")
SERVED_ALIAS = "smollm2"
IN_PROCESS = "in-process"  # the embedded engine's rows: no server
PROFILE_SERVERS = {"llama.cpp": "llama-server", "llama-cpp-python": "llama-cpp-python"}  # --url: its label
__all__ = ["main", "parse_args", "plan"]


def plan(system: str, args: argparse.Namespace) -> list[tuple[str, int]]:
    """The (strategy, budget) pairs to run for a system: every strategy at every budget, plus
    self-consistency at optillm's fixed sample count for the systems compared with optillm."""
    pairs = [(strategy, budget) for strategy in args.strategies for budget in args.budgets]
    extra = (
        "optillm" in args.systems
        and SC in args.strategies
        and OPTILLM_SC_SAMPLES not in args.budgets
        and system in ("ponder-http", "ponder-embedded", "optillm")
    )
    return pairs + ([(SC, OPTILLM_SC_SAMPLES)] if extra else [])


def package_version(name: str) -> str | None:
    """An installed distribution's version, or None."""
    try:
        return version(name)
    except PackageNotFoundError:
        return None


class Recorder:
    """Collects configuration results and rewrites the report after each one."""

    def __init__(self, out: Path, meta: dict[str, Any], problems: list[Problem]) -> None:
        self.out, self.meta, self.problems = out, meta, problems
        self.configs: list[dict[str, Any]] = []

    def add(self, result: dict[str, Any]) -> None:
        """Keep one configuration's result, print a line about it, rewrite the report."""
        self.configs.append(result)
        if result["status"] == "ok":
            status = f"{result['accuracy']:.0%} in {result['wall_seconds']:.1f} s"
        else:
            status = f"{result['status']}: {result.get('reason')}"
        where = f"{result.get('server')} x{result.get('concurrency', 1)}"
        print(f"[peers] {result['system']} {result['strategy']} @{result['budget']} ({where}): {status}", flush=True)
        self.save()

    def save(self) -> tuple[Path, Path]:
        """Write the report as it stands; its JSON and Markdown paths."""
        return report.write(report.build(self.configs, self.meta), self.out)


async def run_systems(
    systems: list[System], args: argparse.Namespace, recorder: Recorder, proxy: CountingProxy | None, server: str
) -> None:
    """Open each system, run its plan at each concurrency, close it."""
    for system in systems:
        await system.open()
        try:
            for concurrency in args.concurrency:
                for strategy, budget in plan(system.name, args):
                    result = await run_config(system, strategy, budget, recorder.problems, proxy, concurrency)
                    recorder.add({**result, "server": server})
        finally:
            await system.close()


def skip_server(recorder: Recorder, args: argparse.Namespace, names: list[str], server: str, reason: str) -> None:
    """Record every configuration of ``names`` on ``server`` as unavailable, with the reason."""
    for name in names:
        for concurrency in args.concurrency:
            for strategy, budget in plan(name, args):
                recorder.add(
                    {
                        "system": name,
                        "strategy": strategy,
                        "budget": budget,
                        "concurrency": concurrency,
                        "server": server,
                        "status": "unavailable",
                        "reason": reason,
                    }
                )


def make_setup(args: argparse.Namespace, url: str, model: str, profile: Any, model_path: str | None) -> Setup:
    """The settings every system shares."""
    return Setup(
        url=url,
        model=model,
        profile=profile,
        system_prompt=DEFAULT_SYSTEM_PROMPT,
        temperature=args.temperature,
        max_tokens=args.max_tokens,
        seed=args.seed,
        model_path=model_path,
        chat_template=args.chat_template or model_path,
        judge_max_tokens=args.judge_max_tokens,
        pf_max_steps=args.pf_max_steps,
        pf_options=args.pf_options,
        bon_options=args.bon_options,
        deepconf_options=args.deepconf_options,
        timeout=args.timeout,
    )


def start_server(kind: str, args: argparse.Namespace, model_path: str | None) -> ManagedProcess:
    """Start one of the ``--servers`` with the benchmark's model (served as ``SERVED_ALIAS``)."""
    assert model_path is not None
    print(f"[peers] starting {kind} on {model_path}", flush=True)
    if kind == "llama-server":
        return start_batching_server(model_path, parallel=args.parallel, n_ctx=args.server_ctx, alias=SERVED_ALIAS)
    return start_llama_server(model_path, n_ctx=args.n_ctx, alias=SERVED_ALIAS)


async def server_phase(
    args: argparse.Namespace, recorder: Recorder, model_path: str | None, optillm: str | None
) -> None:
    """ponder-http, its_hub and optillm against each server (``--url``, else each of ``--servers``
    in turn) behind the counting proxy."""
    wanted = [name for name in SERVER_SYSTEMS if name in args.systems]
    if wanted:
        for kind in [None] if args.url else args.servers:
            await one_server(kind, args, recorder, model_path, optillm, wanted)


async def one_server(
    kind: str | None,
    args: argparse.Namespace,
    recorder: Recorder,
    model_path: str | None,
    optillm: str | None,
    wanted: list[str],
) -> None:
    """The server systems against one server: ``--url`` (``kind`` None) or one the benchmark starts."""
    server = None
    try:
        if kind is None:
            root = args.url
        elif kind == "llama-server" and llama_server_binary() is None:
            reason = "llama-server is not built: run scripts/llama-server.sh --build-only (about 5-8 minutes)"
            skip_server(recorder, args, wanted, kind, reason)
            return
        else:
            try:
                server = start_server(kind, args, model_path)
            except RuntimeError as exc:
                skip_server(recorder, args, wanted, kind, f"{kind} did not start: {exc}")
                return
            root = server.url
        profile, served = server_profile(root)
        label = kind or PROFILE_SERVERS.get(profile.name, profile.name)
        model = args.model_name or (served[0] if served else SERVED_ALIAS)
        adjust = Adjustments(
            max_tokens_field=profile.max_tokens_field == "max_tokens",
            expand_n=not profile.supports_n,
            parallel_n=not profile.serves_one_at_a_time,
        )
        recorder.meta["servers"][label] = {
            "url": root if kind is None else f"{kind} (started by the benchmark)",
            "profile": profile.name,
            "model": model,
            "proxy_adjustments": adjust.to_dict(),
            **({"parallel": args.parallel, "ctx": args.server_ctx} if kind == "llama-server" else {}),
        }
        recorder.meta.setdefault("model", model)
        with CountingProxy(root, adjust, timeout=args.timeout) as proxy:
            setup = make_setup(args, proxy.url, model, profile, model_path)
            optillm_release = recorder.meta["versions"].get("optillm")
            makers = {
                "ponder-http": lambda: ponder_http(setup),
                "its_hub": lambda: ItsHubSystem(setup),
                "optillm": lambda: OptillmSystem(setup, optillm, proxy.url, optillm_release),
            }
            systems = [makers[name]() for name in wanted]
            await run_systems(systems, args, recorder, proxy, label)
            optillm_system = next((s for s in systems if isinstance(s, OptillmSystem)), None)
            if optillm_system is not None:
                recorder.meta["servers"][label]["optillm_start_seconds"] = optillm_system.start_seconds
    finally:
        if server is not None:
            server.stop()
            print(f"[peers] {kind} stopped", flush=True)


async def embedded_phase(args: argparse.Namespace, recorder: Recorder, model_path: str | None) -> None:
    """ponder's embedded engine, loaded only now that no server computes next to it."""
    if "ponder-embedded" not in args.systems:
        return
    profile = PROFILES["generic"]
    setup = make_setup(args, "", recorder.meta.get("model") or SERVED_ALIAS, profile, model_path)
    await run_systems([ponder_embedded(setup)], args, recorder, None, IN_PROCESS)


async def main_async(args: argparse.Namespace) -> tuple[Path, Path]:
    """Both phases; the report's paths."""
    from ponder.engines.llama.models import resolve_model

    problems = load_problems(args.dataset, limit=args.limit)
    model_path = str(resolve_model(args.model)) if (args.model or not args.url) else None
    optillm = find_optillm(args.optillm_bin) if "optillm" in args.systems else None
    meta: dict[str, Any] = {
        "dataset": args.dataset,
        "problems": len(problems),
        "budgets": args.budgets,
        "systems": args.systems,
        "strategies": args.strategies,
        "concurrency": args.concurrency,
        "servers": {},
        "max_tokens": args.max_tokens,
        "temperature": args.temperature,
        "seed": args.seed,
        "system_prompt": DEFAULT_SYSTEM_PROMPT,
        "model_path": model_path,
        "pf_options": args.pf_options,
        "bon_options": args.bon_options,
        "deepconf_options": args.deepconf_options,
        "pf_max_steps_its_hub": args.pf_max_steps,
        "judge_max_tokens_its_hub": args.judge_max_tokens,
        "optillm_bin": optillm,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "complete": False,
        "argv": sys.argv[1:],
        "machine": {"platform": platform.platform(), "python": platform.python_version()},
        "versions": {
            "ponder": package_version("ponder"),
            "llama-cpp-python": package_version("llama_cpp_python"),
            "its-hub": package_version("its-hub"),
            "optillm": optillm_version(optillm) if optillm else None,
        },
    }
    recorder = Recorder(args.out, meta, problems)
    await server_phase(args, recorder, model_path, optillm)
    await embedded_phase(args, recorder, model_path)
    meta["complete"] = True
    meta["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    return recorder.save()


def main(argv: list[str] | None = None) -> None:
    """Entry point: run, then print where the report went."""
    args = parse_args(argv)
    json_path, md_path = asyncio.run(main_async(args))
    print(f"[peers] wrote {json_path} and {md_path}")


if __name__ == "__main__":
    main()
