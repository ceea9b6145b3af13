"""Usage per step: one row per trace step with its action, tokens and calls, the step's other
details in short, and the run's totals."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from ponder.view.html import Html, h, join, num
from ponder.view.model import USAGE_KEYS

HEADERS = {
    "prompt_tokens": "prompt",
    "prompt_tokens_computed": "prompt computed",
    "completion_tokens": "completion",
    "engine_calls": "engine calls",
    "scorer_calls": "scorer calls",
    "scorer_tokens": "scorer tokens",
    "scorer_prompt_tokens_computed": "scorer prompt computed",
}
SHOWN_ELSEWHERE = ("step", "action", "usage", "grown", "components", "trace")  # drawn by other sections
SHORT = 200  # characters of a step's details shown before they are opened


def brief(value: Any) -> str:
    """A trace value on one line: long lists and texts summarised."""
    if isinstance(value, list) and len(value) > 12:
        return f"[{len(value)} items]"
    if isinstance(value, str) and len(value) > 60:
        return json.dumps(value[:57] + "...", ensure_ascii=False)
    return json.dumps(value, ensure_ascii=False, default=str)


def step_details(entry: Mapping[str, Any]) -> Html:
    """A step's own keys (those no other section draws), short; the whole on opening."""
    rest = {k: v for k, v in entry.items() if k not in SHOWN_ELSEWHERE}
    if "grown" in entry:
        rest["grown"] = f"{len(entry['grown'])} nodes"
    if "components" in entry:
        rest["components"] = [c.get("type") for c in entry["components"] if isinstance(c, Mapping)]
    line = ", ".join(f"{k}={brief(v)}" for k, v in rest.items())
    if len(line) <= SHORT:
        return h("code", line)
    full = json.dumps(rest, indent=1, ensure_ascii=False, default=str)
    return h("details", h("summary", h("code", line[:SHORT] + "…")), h("pre", full))


def usage_table(trace: Sequence[Mapping[str, Any]], total: Mapping[str, Any]) -> Html:
    """The table: a row per step (its usage, if it recorded one), and the run's total."""
    present = [*total, *(k for e in trace for k in (e.get("usage") or {}))]
    keys = [k for k in USAGE_KEYS if k in present]
    keys += [k for k in dict.fromkeys(present) if k not in keys and k != "wall_seconds"]  # counters added later
    wall = any("wall_seconds" in (e.get("usage") or {}) for e in trace) or "wall_seconds" in total
    header = [
        "step",
        "action",
        *[HEADERS.get(k, k.replace("_", " ")) for k in keys],
        *(["seconds"] if wall else []),
        "details",
    ]
    rows = []
    for position, entry in enumerate(trace, start=1):
        usage = entry.get("usage") or {}
        cells = [
            h("td", entry.get("step", position), class_="num"),
            h("td", str(entry.get("action", ""))),
            *[h("td", num(usage.get(k)), class_="num") for k in keys],
            *([h("td", num(usage.get("wall_seconds")), class_="num")] if wall else []),
            h("td", step_details(entry)),
        ]
        rows.append(h("tr", cells))
    totals = [
        h("td", "total", colspan=2),
        *[h("td", num(total.get(k)), class_="num") for k in keys],
        *([h("td", num(total.get("wall_seconds")), class_="num")] if wall else []),
        h("td", ""),
    ]
    rows.append(h("tr", totals, class_="total"))
    table = h("table", h("thead", h("tr", [h("th", name) for name in header])), h("tbody", rows), class_="usage")
    return join([h("h3", "Usage per step"), table])
