"""The peer benchmark's command line (see run.py's docstring and README.md)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from .servers import SERVER_KINDS
from .systems import DEEPCONF_LOW, STRATEGIES

ROOT = Path(__file__).resolve().parents[2]
ALL_SYSTEMS = ("ponder-http", "its_hub", "optillm", "ponder-embedded")


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
    parser = argparse.ArgumentParser(description="ponder against its_hub and optillm on OpenAI-compatible servers")
    parser.add_argument("--dataset", default="mawps-singleop", help="a ponder.bench data set (default mawps-singleop)")
    parser.add_argument("--limit", type=int, default=30, help="first N problems (default 30)")
    parser.add_argument("--budgets", type=csv(int), default=[4, 8], help="comma-separated budgets (default 4,8)")
    parser.add_argument("--systems", type=csv(str, ALL_SYSTEMS), default=list(ALL_SYSTEMS))
    parser.add_argument("--strategies", type=csv(str, STRATEGIES), default=list(STRATEGIES))
    parser.add_argument(
        "--url", help="an OpenAI-compatible server root to use instead of starting the --servers (one server)"
    )
    parser.add_argument(
        "--servers",
        type=csv(str, SERVER_KINDS),
        default=list(SERVER_KINDS),
        help="servers to start, in turn (default llama-cpp-python,llama-server)",
    )
    parser.add_argument(
        "--concurrency", type=csv(int), default=[1, 4], help="problems in flight at once, comma-separated (default 1,4)"
    )
    parser.add_argument("--parallel", type=int, default=8, help="llama-server's slots (default 8)")
    parser.add_argument(
        "--server-ctx", type=int, default=8192, help="llama-server's context, shared by its slots (default 8192)"
    )
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
    if args.limit < 1 or args.max_tokens < 1 or any(b < 1 for b in args.budgets + args.concurrency):
        parser.error("--limit, --max-tokens, budgets and concurrency must be >= 1")
    if args.parallel < 1 or args.server_ctx < 1:
        parser.error("--parallel and --server-ctx must be >= 1")
    return args
