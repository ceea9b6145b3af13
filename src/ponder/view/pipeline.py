"""A pipeline's layers: for each, its components (what each did, spent and passed on) and the
candidates the layer handed to the next. A component that ran a whole strategy shows that
strategy's own trace, drawn by the renderer the page passes in (its tree, its usage)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ponder.view.html import Html, anchor, h, join, num
from ponder.view.model import RunView
from ponder.view.samples import candidate_link

TraceRenderer = Callable[[RunView, Sequence[Mapping[str, Any]], str], Html]
"""Draws a nested trace: ``(run, trace, key) -> html``."""

IDENTITY_KEYS = ("candidates", "kept", "dropped", "critiqued", "from")  # lists of candidate identities
LONG = 300  # characters of a text value shown before it is opened


def is_layer(entry: Mapping[str, Any]) -> bool:
    return entry.get("action") == "layer" and isinstance(entry.get("components"), list)


def _links(run: RunView, values: Sequence[Any]) -> Html:
    return join([candidate_link(run, v) if isinstance(v, int) else h("span", str(v)) for v in values], ", ")


def _usage(usage: Mapping[str, Any]) -> str:
    shown = [
        f"{usage.get('completion_tokens', 0)} completion",
        f"{usage.get('prompt_tokens_computed', 0)}/{usage.get('prompt_tokens', 0)} prompt computed",
        f"{usage.get('engine_calls', 0)} engine calls",
    ]
    if usage.get("scorer_calls"):
        shown.append(f"{usage['scorer_calls']} scorer calls, {usage.get('scorer_tokens', 0)} scorer tokens")
    if "wall_seconds" in usage:
        shown.append(f"{num(usage['wall_seconds'])} s")
    return ", ".join(shown)


def _value(run: RunView, name: str, value: Any) -> Html:
    if name in IDENTITY_KEYS and isinstance(value, list):
        return _links(run, value)
    if isinstance(value, str):
        if len(value) <= LONG and "\n" not in value:
            return h("span", value)
        return h("details", h("summary", value[:80] + "…"), h("pre", value))
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return h("ol", [h("li", _value(run, name, v)) for v in value])
    return h("code", json.dumps(value, ensure_ascii=False, default=str))


def component(run: RunView, data: Mapping[str, Any], key: str, nested: TraceRenderer) -> Html:
    """One component: its type, generations, usage, its own details and any nested trace."""
    rows: list[Html] = [h("dt", "generations"), h("dd", num(data.get("generations")))]
    if isinstance(data.get("usage"), Mapping):
        rows += [h("dt", "usage"), h("dd", _usage(data["usage"]))]
    for name, value in data.items():
        if name in ("type", "generations", "usage", "trace"):
            continue
        rows += [h("dt", name), h("dd", _value(run, name, value))]
    inner = data.get("trace")
    body = nested(run, inner, key) if isinstance(inner, list) and inner else Html("")
    return h("div", h("h4", str(data.get("type", "component"))), h("dl", rows, class_="kv"), body, class_="component")


def pipeline_section(run: RunView, trace: Sequence[Mapping[str, Any]], key: str, nested: TraceRenderer) -> Html:
    """The layers of a pipeline run, or nothing when the trace holds none."""
    layers = [e for e in trace if is_layer(e)]
    if not layers:
        return Html("")
    parts: list[Html] = [h("h3", f"Pipeline {layers[0].get('pipeline', '')}")]
    for entry in layers:
        number = entry.get("layer", "?")
        title = f"Layer {number}: {entry.get('name', '')}"
        components = [
            component(run, c, anchor(key, "layer", number, "c", i), nested)
            for i, c in enumerate(entry["components"])
            if isinstance(c, Mapping)
        ]
        passed = entry.get("candidates")
        passed_on = h("p", "passed on: ", _links(run, passed)) if isinstance(passed, list) else None
        usage = entry.get("usage")
        spent = h("p", "layer usage: ", _usage(usage), class_="note") if isinstance(usage, Mapping) else None
        parts.append(
            h("div", h("h4", title), components, passed_on, spent, class_="layer", id=anchor(key, "layer", number))
        )
    return join(parts)
