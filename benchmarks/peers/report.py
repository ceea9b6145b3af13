"""The peer benchmark's report: wall-time ratios, accuracy intervals, JSON and a Markdown table.

For every peer configuration that ran, the ratio is ponder's wall time over the peer's at the
same strategy and budget (below 1: ponder is faster), for each ponder engine that ran it. The
issue's targets are 0.8 for the HTTP engine and 0.5 for the embedded engine; a target counts
only where the accuracies are equal within noise (their difference inside 1.96 standard errors).
Rows a system could not run keep their reason.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

PONDER_SYSTEMS = ("ponder-http", "ponder-embedded")
TARGETS = {"ponder-http": 0.8, "ponder-embedded": 0.5}
SYSTEM_ORDER = ("ponder-http", "ponder-embedded", "its_hub", "optillm")
STRATEGY_ORDER = ("self-consistency", "best-of-n", "particle-filtering", "deepconf")


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


def _key(row: dict[str, Any]) -> tuple[int, int, int]:
    strategy = STRATEGY_ORDER.index(row["strategy"]) if row["strategy"] in STRATEGY_ORDER else len(STRATEGY_ORDER)
    system = SYSTEM_ORDER.index(row["system"]) if row["system"] in SYSTEM_ORDER else len(SYSTEM_ORDER)
    return strategy, int(row["budget"]), system


def compare(configs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One summary row per configuration (no per-problem records), peers with their ratios."""
    ran = {(c["system"], c["strategy"], c["budget"]): c for c in configs if c.get("status") == "ok"}
    rows = []
    for config in sorted(configs, key=_key):
        row = {k: v for k, v in config.items() if k != "records"}
        if config.get("status") == "ok":
            row["accuracy_ci95"] = [round(x, 4) for x in wilson(config["correct"], config["problems"])]
        if config.get("status") == "ok" and config["system"] not in PONDER_SYSTEMS:
            row["vs_ponder"] = {}
            for name in PONDER_SYSTEMS:
                mine = ran.get((name, config["strategy"], config["budget"]))
                if mine is None or not config["wall_seconds"]:
                    continue
                ratio = mine["wall_seconds"] / config["wall_seconds"]
                same = within_noise(mine, config)
                row["vs_ponder"][name] = {
                    "wall_ratio": round(ratio, 4),
                    "target": TARGETS[name],
                    "accuracy_delta": round(mine["accuracy"] - config["accuracy"], 4),
                    "accuracy_within_noise": same,
                    "meets_target": bool(same and ratio <= TARGETS[name]),
                }
        rows.append(row)
    return rows


def build(configs: Sequence[dict[str, Any]], meta: dict[str, Any]) -> dict[str, Any]:
    """The whole JSON report: settings and versions, summary rows, and every raw record."""
    return {"meta": meta, "rows": compare(configs), "configs": list(configs)}


def _ratio_cell(row: dict[str, Any], name: str) -> str:
    found = (row.get("vs_ponder") or {}).get(name)
    if not found:
        return ""
    mark = "" if found["accuracy_within_noise"] else " (acc. differs)"
    return f"{found['wall_ratio']:.2f}x{mark}"


def _notes(row: dict[str, Any]) -> list[str]:
    """The note cell of a row that ran: the system's note, failed problems, unreported prompt tokens."""
    notes = [str(row["note"])] if row.get("note") else []
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


def markdown(report: dict[str, Any]) -> str:
    """The summary as a Markdown table, with the settings above it."""
    meta = report["meta"]
    lines = [
        f"# ponder vs its_hub vs optillm: {meta.get('dataset')}, first {meta.get('problems')} problems",
        "",
        f"Server: {meta.get('server')} ({meta.get('profile')}), model {meta.get('model')}; max_tokens "
        f"{meta.get('max_tokens')}, temperature {meta.get('temperature')}, seed {meta.get('seed')}. "
        "Problems run one at a time. Tokens: summed from the server's usage by a counting proxy that every "
        "HTTP system goes through (judge calls included); the embedded engine reports its own (generator only). "
        "Ratios: ponder's wall time / the peer's at the same strategy and budget (targets: HTTP <= 0.8, "
        "embedded <= 0.5, at equal accuracy within noise).",
        "",
        "| strategy | budget | system | status | accuracy (95% CI) | wall s | s/problem | prompt tok | "
        "completion tok | requests | ponder-http / this | ponder-embedded / this | note |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in report["rows"]:
        if row.get("status") != "ok":
            lines.append(
                f"| {row['strategy']} | {row['budget']} | {row['system']} | {row['status']} | | | | | | | | | "
                f"{str(row.get('reason') or '').replace('|', '/')} |"
            )
            continue
        low, high = row["accuracy_ci95"]
        note = "; ".join(_notes(row)).replace("|", "/")
        lines.append(
            f"| {row['strategy']} | {row['budget']} | {row['system']} | ok | {100 * row['accuracy']:.1f}% "
            f"({100 * low:.0f}-{100 * high:.0f}) | {row['wall_seconds']:.1f} | "
            f"{row['wall_seconds'] / max(row['problems'], 1):.2f} | {_tokens(row.get('prompt_tokens'))} | "
            f"{_tokens(row.get('completion_tokens'))} | {_tokens(row.get('upstream_requests'))} | "
            f"{_ratio_cell(row, 'ponder-http')} | {_ratio_cell(row, 'ponder-embedded')} | {note} |"
        )
    adjustments = meta.get("proxy_adjustments")
    if adjustments:
        lines += ["", f"Proxy adjustments for this server: {json.dumps(adjustments)}."]
    lines += ["", "Versions: " + ", ".join(f"{k} {v}" for k, v in (meta.get("versions") or {}).items())]
    return "\n".join(lines) + "\n"


def write(report: dict[str, Any], out: Path) -> tuple[Path, Path]:
    """Write ``out`` (.json) and the Markdown next to it (.md); both paths."""
    out.parent.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out.with_suffix(".json"), out.with_suffix(".md")
    json_path.write_text(json.dumps(report, indent=2, default=str) + "\n")
    md_path.write_text(markdown(report))
    return json_path, md_path
