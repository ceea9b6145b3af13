"""The peer benchmark's report: wall-time ratios, accuracy intervals, the issue's targets, JSON and Markdown.

Every configuration is a system x strategy x budget x server x concurrency (problems in flight at
once). For every peer configuration that ran, the ratio is ponder's wall time over the peer's at
the same strategy, budget and concurrency (below 1: ponder is faster): ponder-http's on the same
server, ponder-embedded's (no server) whichever server the peer used. A ratio counts towards a
target only where the accuracies are equal within noise (their difference inside 1.96 standard
errors). Rows a system could not run keep their reason.

The issue's targets (:data:`TARGETS`), each checked against its_hub and optillm at SC@8 and BoN@8
(optillm's self-consistency only ever draws 5 samples, so it is compared at SC@5):

- on the batching server (llama-server), 4 problems at a time: ponder-http <= 0.8x the peer's wall;
- on llama-cpp-python's server, 4 problems at a time: ponder-embedded (4 problems at once on one
  engine, as ``bench --workers 4``) <= 0.5x the peer's wall.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PONDER_SYSTEMS = ("ponder-http", "ponder-embedded")
LIMITS = {"ponder-http": 0.8, "ponder-embedded": 0.5}
SYSTEM_ORDER = ("ponder-http", "ponder-embedded", "its_hub", "optillm")
STRATEGY_ORDER = ("self-consistency", "best-of-n", "particle-filtering", "deepconf")
SERVER_ORDER = ("llama-cpp-python", "llama-server", "in-process")
PEERS = ("its_hub", "optillm")
OPTILLM_SC_BUDGET = 5  # optillm's self_consistency always draws 5 samples


@dataclass(frozen=True)
class Target:
    """One of the issue's targets: ``system``'s wall <= ``limit`` x each peer's on ``server`` at ``concurrency``."""

    system: str
    server: str
    concurrency: int
    limit: float
    configs: tuple[tuple[str, int], ...] = (("self-consistency", 8), ("best-of-n", 8))

    def describe(self) -> str:
        """The target in words."""
        return f"{self.system} <= {self.limit}x the peer's wall on {self.server}, {self.concurrency} problems at once"


TARGETS = (
    Target("ponder-http", "llama-server", 4, 0.8),
    Target("ponder-embedded", "llama-cpp-python", 4, 0.5),
)


def wilson(correct: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of a proportion (95% by default)."""
    if n == 0:
        return 0.0, 0.0
    p = correct / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def within_noise(a: dict[str, Any], b: dict[str, Any], z: float = 1.96) -> bool:
    """Whether two runs' accuracies differ by less than ``z`` standard errors of the difference."""
    pa, pb, na, nb = a["accuracy"], b["accuracy"], a["problems"], b["problems"]
    se = math.sqrt(pa * (1 - pa) / na + pb * (1 - pb) / nb) if na and nb else 0.0
    return abs(pa - pb) <= max(z * se, 1e-12)


def _order(value: Any, order: tuple[str, ...]) -> int:
    return order.index(value) if value in order else len(order)


def _key(row: dict[str, Any]) -> tuple[int, int, int, int, int]:
    return (
        _order(row["strategy"], STRATEGY_ORDER),
        int(row["budget"]),
        int(row.get("concurrency", 1)),
        _order(row.get("server"), SERVER_ORDER),
        _order(row["system"], SYSTEM_ORDER),
    )


class Index:
    """The configurations that ran, found by what they ran."""

    def __init__(self, configs: Sequence[dict[str, Any]]) -> None:
        self.configs = list(configs)

    def find(
        self, system: str, strategy: str, budget: int, concurrency: int, server: str | None = None, ok: bool = True
    ) -> dict[str, Any] | None:
        """The configuration (the last one, if several) of ``system`` at that point; ``server`` None:
        on any server (the embedded engine has none). ``ok`` False finds one that did not run too."""
        found = None
        for config in self.configs:
            if (
                config["system"] == system
                and config["strategy"] == strategy
                and config["budget"] == budget
                and config.get("concurrency", 1) == concurrency
                and (server is None or config.get("server") == server)
                and (config.get("status") == "ok" or not ok)
            ):
                found = config
        return found

    def ponder(self, name: str, peer: dict[str, Any]) -> dict[str, Any] | None:
        """ponder's configuration ``name`` to set against a peer's: the same strategy, budget and
        concurrency, and (the HTTP engine) the same server."""
        server = peer.get("server") if name == "ponder-http" else None
        return self.find(name, peer["strategy"], peer["budget"], peer.get("concurrency", 1), server)


def ratio(mine: dict[str, Any], peer: dict[str, Any], limit: float) -> dict[str, Any]:
    """ponder's wall over the peer's, with whether the accuracies agree and the limit is met."""
    value = mine["wall_seconds"] / peer["wall_seconds"]
    same = within_noise(mine, peer)
    return {
        "wall_ratio": round(value, 4),
        "target": limit,
        "accuracy_delta": round(mine["accuracy"] - peer["accuracy"], 4),
        "accuracy_within_noise": same,
        "meets_target": bool(same and value <= limit),
    }


def compare(configs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One summary row per configuration (no per-problem records), peers with their ratios."""
    index = Index(configs)
    rows = []
    for config in sorted(configs, key=_key):
        row = {k: v for k, v in config.items() if k != "records"}
        if config.get("status") == "ok":
            row["accuracy_ci95"] = [round(x, 4) for x in wilson(config["correct"], config["problems"])]
        if config.get("status") == "ok" and config["system"] not in PONDER_SYSTEMS:
            row["vs_ponder"] = {}
            for name in PONDER_SYSTEMS:
                mine = index.ponder(name, config)
                if mine is not None and config["wall_seconds"]:
                    row["vs_ponder"][name] = ratio(mine, config, LIMITS[name])
        rows.append(row)
    return rows


def why_not(config: dict[str, Any] | None) -> str:
    """Why a configuration has no measurement: its reason, else its status, else that it did not run."""
    if config is None:
        return "not run"
    return str(config.get("reason") or config.get("status"))


def evaluate(configs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each target against each peer and configuration: ``met``, ``missed`` (with why: slower, or
    accuracy outside noise) or ``not measured`` (with why)."""
    index = Index(configs)
    out = []
    for target in TARGETS:
        for peer_name in PEERS:
            for strategy, wanted in target.configs:
                budget = OPTILLM_SC_BUDGET if (peer_name, strategy) == ("optillm", "self-consistency") else wanted
                entry: dict[str, Any] = {
                    "target": target.describe(),
                    "system": target.system,
                    "peer": peer_name,
                    "strategy": strategy,
                    "budget": budget,
                    "server": target.server,
                    "concurrency": target.concurrency,
                    "limit": target.limit,
                }
                if budget != wanted:
                    entry["note"] = f"optillm's self_consistency always draws {budget} samples: compared at {budget}"
                peer = index.find(peer_name, strategy, budget, target.concurrency, target.server)
                server = target.server if target.system == "ponder-http" else None
                mine = index.find(target.system, strategy, budget, target.concurrency, server)
                if peer is None or mine is None or not peer["wall_seconds"]:
                    why = [
                        f"{name}: {why_not(index.find(name, strategy, budget, target.concurrency, where, ok=False))}"
                        for name, found, where in ((peer_name, peer, target.server), (target.system, mine, server))
                        if found is None
                    ]
                    out.append({**entry, "status": "not measured", "reason": "; ".join(why) or "peer wall time 0"})
                    continue
                found = ratio(mine, peer, target.limit)
                found.pop("target")  # the entry's target is the description; its limit is "limit"
                status = "met" if found["meets_target"] else "missed"
                out.append(
                    {
                        **entry,
                        **found,
                        "status": status,
                        "wall_seconds": mine["wall_seconds"],
                        "peer_wall_seconds": peer["wall_seconds"],
                        "accuracy": mine["accuracy"],
                        "peer_accuracy": peer["accuracy"],
                    }
                )
    return out


def build(configs: Sequence[dict[str, Any]], meta: dict[str, Any]) -> dict[str, Any]:
    """The whole JSON report: settings and versions, summary rows, the targets, and every raw record."""
    return {"meta": meta, "targets": evaluate(configs), "rows": compare(configs), "configs": list(configs)}


def _ratio_cell(row: dict[str, Any], name: str) -> str:
    found = (row.get("vs_ponder") or {}).get(name)
    if not found:
        return ""
    mark = "" if found["accuracy_within_noise"] else " (acc. differs)"
    return f"{found['wall_ratio']:.2f}x{mark}"


def _notes(row: dict[str, Any]) -> list[str]:
    """The note cell of a row that ran: the system's note, how it ran problems at once, failed
    problems, unreported prompt tokens."""
    notes = [str(row["note"])] if row.get("note") else []
    if row.get("concurrent"):
        notes.append(f"at once: {row['concurrent']}")
    if row.get("errors"):
        notes.append(f"{row['errors']} problem(s) failed")
    unreported = (row.get("proxy") or {}).get("streams_without_usage")
    if unreported:
        notes.append(
            f"prompt tokens of {unreported} streamed request(s) unreported by the server (counted as 0); "
            "their completion tokens counted from the stream"
        )
    return notes


def _tokens(value: Any) -> str:
    return "" if value is None else f"{value:,}"


def _cell(text: Any) -> str:
    return str(text or "").replace("|", "/")


def _servers(meta: dict[str, Any]) -> str:
    servers = meta.get("servers") or {}
    if not servers:
        return "none"
    return "; ".join(
        f"{label} ({info.get('profile')}, model {info.get('model')}"
        + (f", --parallel {info['parallel']}, context {info.get('ctx')}" if info.get("parallel") else "")
        + ")"
        for label, info in servers.items()
    )


def target_lines(targets: list[dict[str, Any]]) -> list[str]:
    """The targets as a Markdown table."""
    if not targets:
        return []
    lines = [
        "## The issue's targets",
        "",
        "| target | peer | strategy | budget | ponder wall s | peer wall s | ratio | limit | accuracy ponder / peer "
        "| result |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for t in targets:
        head = f"| {t['target']} | {t['peer']} | {t['strategy']} | {t['budget']} |"
        if t["status"] == "not measured":
            lines.append(f"{head} | | | {t['limit']} | | not measured: {_cell(t.get('reason'))} |")
            continue
        why = "" if t["accuracy_within_noise"] else " (accuracy outside noise)"
        note = f"; {t['note']}" if t.get("note") else ""
        lines.append(
            f"{head} {t['wall_seconds']:.1f} | {t['peer_wall_seconds']:.1f} | {t['wall_ratio']:.2f}x | {t['limit']} | "
            f"{100 * t['accuracy']:.0f}% / {100 * t['peer_accuracy']:.0f}% | {t['status']}{why}{_cell(note)} |"
        )
    return [*lines, ""]


def markdown(report: dict[str, Any]) -> str:
    """The targets and the summary as Markdown tables, with the settings above them."""
    meta = report["meta"]
    lines = [
        f"# ponder vs its_hub vs optillm: {meta.get('dataset')}, first {meta.get('problems')} problems",
        "",
        f"Servers: {_servers(meta)}. max_tokens {meta.get('max_tokens')}, temperature {meta.get('temperature')}, "
        f"seed {meta.get('seed')}. Concurrency: problems in flight at once, for every system alike. Tokens: summed "
        "from the server's usage by a counting proxy that every HTTP system goes through (judge calls included); "
        "the embedded engine (server: in-process) reports its own (generator only). Ratios: ponder's wall time / "
        "the peer's at the same strategy, budget and concurrency (ponder-http on the same server).",
        "",
        *target_lines(report.get("targets") or []),
        "| strategy | budget | concurrency | server | system | status | accuracy (95% CI) | wall s | s/problem | "
        "prompt tok | completion tok | requests | ponder-http / this | ponder-embedded / this | note |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in report["rows"]:
        head = (
            f"| {row['strategy']} | {row['budget']} | {row.get('concurrency', 1)} | {row.get('server') or ''} | "
            f"{row['system']} |"
        )
        if row.get("status") != "ok":
            lines.append(f"{head} {row['status']} | | | | | | | | | {_cell(row.get('reason'))} |")
            continue
        low, high = row["accuracy_ci95"]
        lines.append(
            f"{head} ok | {100 * row['accuracy']:.1f}% ({100 * low:.0f}-{100 * high:.0f}) | "
            f"{row['wall_seconds']:.1f} | {row['wall_seconds'] / max(row['problems'], 1):.2f} | "
            f"{_tokens(row.get('prompt_tokens'))} | {_tokens(row.get('completion_tokens'))} | "
            f"{_tokens(row.get('upstream_requests'))} | {_ratio_cell(row, 'ponder-http')} | "
            f"{_ratio_cell(row, 'ponder-embedded')} | {_cell('; '.join(_notes(row)))} |"
        )
    for label, info in (meta.get("servers") or {}).items():
        if info.get("proxy_adjustments"):
            lines += ["", f"Proxy adjustments for {label}: {json.dumps(info['proxy_adjustments'])}."]
    lines += ["", "Versions: " + ", ".join(f"{k} {v}" for k, v in (meta.get("versions") or {}).items())]
    return "\n".join(lines) + "\n"


def write(report: dict[str, Any], out: Path) -> tuple[Path, Path]:
    """Write ``out`` (.json) and the Markdown next to it (.md); both paths."""
    out.parent.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out.with_suffix(".json"), out.with_suffix(".md")
    json_path.write_text(json.dumps(report, indent=2, default=str) + "\n")
    md_path.write_text(markdown(report))
    return json_path, md_path
