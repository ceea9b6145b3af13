"""ponder against its_hub and optillm on one OpenAI-compatible server: accuracy, tokens, wall time.

Runs the first ``--limit`` MAWPS SingleOp problems through every system x strategy x budget:

1. server phase: start llama-cpp-python's server with the embedded model (or use ``--url``), put
   a counting proxy in front of it, and run ponder's HTTP engine, its_hub and optillm (through
   its own proxy, a subprocess) against it; then stop the server;
2. embedded phase: only then load the model in this process for ponder's embedded engine (two
   llama.cpp computations at once on a small machine slow both down by orders of magnitude).

Writes ``OUT.json`` (settings, versions, every raw number, every answer) and ``OUT.md`` (the
table), rewriting both after each configuration so an interrupted run keeps what it measured.
Installs nothing: its_hub comes from the ``bench-peers`` extra, optillm from its own venv.

    python benchmarks/peers/run.py [--limit 30] [--budgets 4,8] [--url URL] [--model GGUF]
        [--systems ponder-http,ponder-embedded,its_hub,optillm] [--max-tokens 128] [--out PATH]
        [--strategies self-consistency,best-of-n,particle-filtering,deepconf]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import sys
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # makes `peers` importable as a package

from peers import report
from peers.measure import run_config
from peers.proxy import Adjustments, CountingProxy
from peers.servers import find_optillm, optillm_version, server_profile, start_llama_server
from peers.systems import (
    DEEPCONF_LOW,
    OPTILLM_SC_SAMPLES,
    SC,
    STRATEGIES,
    ItsHubSystem,
    OptillmSystem,
    Setup,
    System,
    ponder_embedded,
    ponder_http,
)
from ponder.bench.datasets import Problem, load_problems
from ponder.core.settings import DEFAULT_SYSTEM_PROMPT
from ponder.engines.http.profiles import PROFILES

ROOT = Path(__file__).resolve().parents[2]
SERVER_SYSTEMS = ("ponder-http", "its_hub", "optillm")
ALL_SYSTEMS = ("ponder-http", "its_hub", "optillm", "ponder-embedded")
SERVED_ALIAS = "smollm2"


def csv(kind: type, choices: tuple[str, ...] | None = None) -> Any:
    """An argparse type for a comma-separated list (checked against ``choices`` when given)."""

    def parse(text: str) -> list[Any]:
        items = [kind(part.strip()) for part in text.split(",") if part.strip()]
        if not items:
            raise argparse.ArgumentTypeError("give at least one value")
        bad = [item for item in items if choices is not None and item not in choices]
        if bad:
            known = ", ".join(choices or ())
            raise argparse.ArgumentTypeError(f"unknown {', '.join(map(str, bad))}; choose from {known}")
        return items

    return parse


def json_object(text: str) -> dict[str, Any]:
    """An argparse type for a JSON object (strategy options)."""
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("expected a JSON object")
    return value


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--dataset", default="mawps-singleop", help="a ponder.bench data set (default mawps-singleop)")
    parser.add_argument("--limit", type=int, default=30, help="first N problems (default 30)")
    parser.add_argument("--budgets", type=csv(int), default=[4, 8], help="comma-separated budgets (default 4,8)")
    parser.add_argument("--systems", type=csv(str, ALL_SYSTEMS), default=list(ALL_SYSTEMS))
    parser.add_argument("--strategies", type=csv(str, STRATEGIES), default=list(STRATEGIES))
    parser.add_argument("--url", help="an OpenAI-compatible server root to use instead of starting llama-cpp-python's")
    parser.add_argument(
        "--model",
        help="GGUF path or ponder model name for the started server and the embedded "
        "engine (default: the embedded SmolLM2-135M); with --url, the served "
        "model's GGUF",
    )
    parser.add_argument("--model-name", help="served model name (default: the first /v1/models lists)")
    parser.add_argument(
        "--chat-template",
        help="for ponder's HTTP engine on servers that cannot continue a message (default: the GGUF's)",
    )
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument(
        "--temperature", type=float, default=0.8, help="sampling temperature (optillm fixes its own: 1)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-ctx", type=int, default=4096, help="context of the started server")
    parser.add_argument("--judge-max-tokens", type=int, default=64, help="its_hub's LLM judge reply cap")
    parser.add_argument(
        "--pf-options",
        type=json_object,
        default={},
        help='ponder\'s particle-filtering options as JSON, e.g. \'{"prm": "self-eval-prm"}\'',
    )
    parser.add_argument(
        "--bon-options",
        type=json_object,
        default={"scorer": "self-eval"},
        help='ponder\'s best-of-n options as JSON (default {"scorer": "self-eval"})',
    )
    parser.add_argument(
        "--deepconf-options",
        type=json_object,
        default=dict(DEEPCONF_LOW),
        help='ponder\'s deepconf options as JSON (default {"eta": 10}: DeepConf-low, online, '
        "as benchmarks/fewer_tokens.py)",
    )
    parser.add_argument(
        "--pf-max-steps", type=int, default=40, help="its_hub particle filtering's step limit (default 40, as ponder's)"
    )
    parser.add_argument(
        "--optillm-bin", help="the optillm executable (default: $PONDER_OPTILLM_BIN, .venv-optillm, PATH)"
    )
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds one request may take")
    parser.add_argument(
        "--out",
        type=Path,
        default=ROOT / "benchmarks" / "results" / "peers",
        help="output path without suffix: writes .json and .md (default benchmarks/results/peers)",
    )
    args = parser.parse_args(argv)
    if args.limit < 1 or args.max_tokens < 1 or any(b < 1 for b in args.budgets):
        parser.error("--limit, --max-tokens and budgets must be >= 1")
    return args


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
        print(f"[peers] {result['system']} {result['strategy']} @{result['budget']}: {status}", flush=True)
        self.save()

    def save(self) -> tuple[Path, Path]:
        """Write the report as it stands; its JSON and Markdown paths."""
        return report.write(report.build(self.configs, self.meta), self.out)


async def run_systems(
    systems: list[System], args: argparse.Namespace, recorder: Recorder, proxy: CountingProxy | None
) -> None:
    """Open each system, run its plan, close it."""
    for system in systems:
        await system.open()
        try:
            for strategy, budget in plan(system.name, args):
                recorder.add(await run_config(system, strategy, budget, recorder.problems, proxy))
        finally:
            await system.close()


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


async def server_phase(
    args: argparse.Namespace, recorder: Recorder, model_path: str | None, optillm: str | None
) -> None:
    """ponder-http, its_hub and optillm against one server behind the counting proxy."""
    wanted = [name for name in SERVER_SYSTEMS if name in args.systems]
    if not wanted:
        return
    server = None
    try:
        if args.url:
            root = args.url
        else:
            assert model_path is not None
            print(f"[peers] starting llama_cpp.server on {model_path}", flush=True)
            server = start_llama_server(model_path, n_ctx=args.n_ctx, alias=SERVED_ALIAS)
            root = server.url
        profile, served = server_profile(root)
        model = args.model_name or (served[0] if served else SERVED_ALIAS)
        adjust = Adjustments(max_tokens_field=profile.max_tokens_field == "max_tokens", expand_n=not profile.supports_n)
        recorder.meta.update(
            server=root if args.url else "llama_cpp.server (started by the benchmark)",
            profile=profile.name,
            model=model,
            proxy_adjustments=adjust.to_dict(),
        )
        with CountingProxy(root, adjust, timeout=args.timeout) as proxy:
            setup = make_setup(args, proxy.url, model, profile, model_path)
            optillm_release = recorder.meta["versions"].get("optillm")
            makers = {
                "ponder-http": lambda: ponder_http(setup),
                "its_hub": lambda: ItsHubSystem(setup),
                "optillm": lambda: OptillmSystem(setup, optillm, proxy.url, optillm_release),
            }
            systems = [makers[name]() for name in wanted]
            await run_systems(systems, args, recorder, proxy)
            optillm_system = next((s for s in systems if isinstance(s, OptillmSystem)), None)
            if optillm_system is not None:
                recorder.meta["optillm_start_seconds"] = optillm_system.start_seconds
    finally:
        if server is not None:
            server.stop()
            print("[peers] llama_cpp.server stopped", flush=True)


async def embedded_phase(args: argparse.Namespace, recorder: Recorder, model_path: str | None) -> None:
    """ponder's embedded engine, loaded only now that no server computes next to it."""
    if "ponder-embedded" not in args.systems:
        return
    profile = PROFILES["generic"]
    setup = make_setup(args, "", recorder.meta.get("model") or SERVED_ALIAS, profile, model_path)
    await run_systems([ponder_embedded(setup)], args, recorder, None)


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
