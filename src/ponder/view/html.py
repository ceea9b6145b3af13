"""Safe HTML building for the viewer: every text is escaped unless it is already :class:`Html`.

Model text is untrusted: a sample may contain ``<script>``. Strings passed to :func:`h` as
children or attribute values are escaped; only :class:`Html` (built by :func:`h`, :func:`esc`
or :func:`join`) goes through as markup. :func:`document` adds a second line of defence, a
Content-Security-Policy that allows no network access and runs no script but the page's own
(allowed by its SHA-256 hash), so the page works offline from a file and nothing injected runs.
"""

from __future__ import annotations

import base64
import hashlib
import math
from collections.abc import Iterable
from html import escape


class Html(str):
    """Markup that is safe to insert as is."""

    __slots__ = ()


Child = object  # Html, str (escaped), numbers, None (skipped) or an iterable of those


def esc(value: object) -> Html:
    """``value`` as text, escaped."""
    return value if isinstance(value, Html) else Html(escape(str(value), quote=True))


def join(parts: Iterable[Child], separator: str = "") -> Html:
    """The parts, escaped where needed, joined."""
    return Html(escape(separator).join(_flatten(parts)))


def _flatten(children: Iterable[Child]) -> Iterable[Html]:
    for child in children:
        if child is None or child is False:
            continue
        if isinstance(child, (list, tuple)) or (
            not isinstance(child, (str, bytes)) and isinstance(child, Iterable) and not isinstance(child, dict)
        ):
            yield from _flatten(child)
        else:
            yield esc(child)


VOID = ("br", "meta")  # HTML elements without an end tag
SVG_EMPTY = ("circle", "line", "path", "rect")  # SVG elements written self-closed when empty


def _attribute(name: str, value: object) -> str:
    key = name.rstrip("_").replace("_", "-")
    return f" {key}" if value is True else f' {key}="{esc(value)}"'


def h(tag: str, *children: Child, **attributes: object) -> Html:
    """An element: ``h("td", text, class_="num")``; attributes ``None`` or ``False`` are left out,
    ``True`` ones written bare; ``data_x`` is written ``data-x``."""
    attrs = "".join(_attribute(k, v) for k, v in attributes.items() if v is not None and v is not False)
    if tag in VOID and not children:
        return Html(f"<{tag}{attrs}>")
    if tag in SVG_EMPTY and not children:
        return Html(f"<{tag}{attrs}/>")
    return Html(f"<{tag}{attrs}>{join(children)}</{tag}>")


def num(value: float | int | None, digits: int = 3) -> str:
    """A number for a table cell: ``—`` for none, integers as they are, others rounded."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    return f"{value:.{digits}g}" if abs(value) < 10**digits else f"{value:.0f}"


def anchor(*parts: object) -> str:
    """An element id made of ``parts`` (only letters, digits and ``-``: safe in ids and URLs)."""
    raw = "-".join(str(p) for p in parts)
    return "".join(c if c.isascii() and (c.isalnum() or c == "-") else "_" for c in raw)


CSS = """
:root { --ok: #0a7a2f; --bad: #b3261e; --live: #d97706; --ref: #2563eb; --muted: #6b7280; }
body { font-family: system-ui, sans-serif; margin: 1.5rem 2rem; color: #1f2328; max-width: 90rem; }
h1 { font-size: 1.4rem; } h2 { font-size: 1.15rem; margin-top: 1.6rem; } h3 { font-size: 1rem; }
table { border-collapse: collapse; margin: 0.5rem 0; font-size: 0.85rem; }
th, td { border: 1px solid #d0d7de; padding: 0.2rem 0.45rem; text-align: left; vertical-align: top; }
th { background: #f3f4f6; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.total td { font-weight: 600; background: #f9fafb; }
pre { background: #f6f8fa; padding: 0.4rem 0.6rem; margin: 0.2rem 0; white-space: pre-wrap;
      word-break: break-word; font-size: 0.8rem; max-height: 24rem; overflow: auto; }
details { margin: 0.2rem 0; } summary { cursor: pointer; }
.note { color: var(--muted); font-size: 0.85rem; }
.ok { color: var(--ok); font-weight: 700; } .bad { color: var(--bad); font-weight: 700; }
.chosen { background: #ecfdf5; }
.badge { display: inline-block; border-radius: 0.6rem; padding: 0 0.45rem; font-size: 0.75rem; color: #fff; }
.badge.finished { background: var(--ok); } .badge.pruned { background: var(--bad); }
.badge.live, .badge.extended, .badge.kept, .badge.open { background: var(--live); }
.badge.frozen { background: var(--muted); } .badge.reference { background: var(--ref); }
.bars { display: grid; grid-template-columns: max-content 1fr max-content; gap: 0.2rem 0.6rem;
        align-items: center; max-width: 48rem; font-size: 0.85rem; }
.bar { background: #93c5fd; height: 0.9rem; border-radius: 2px; } .bar.win { background: #34d399; }
dl.kv { display: grid; grid-template-columns: max-content 1fr; gap: 0.1rem 1rem; font-size: 0.85rem; }
dl.kv dt { font-weight: 600; } dl.kv dd { margin: 0; }
.run { border-top: 2px solid #d0d7de; margin-top: 2rem; padding-top: 0.5rem; }
.layer { border-left: 3px solid #93c5fd; padding-left: 0.8rem; margin: 0.8rem 0; }
.tree { overflow-x: auto; border: 1px solid #d0d7de; background: #fff; }
svg.tree-svg text { font-size: 10px; fill: #374151; }
svg.tree-svg .edge { stroke: #9ca3af; stroke-width: 1.2; fill: none; }
svg.tree-svg .node circle { stroke: #374151; stroke-width: 1; }
svg.tree-svg .node.live circle, svg.tree-svg .node.extended circle, svg.tree-svg .node.kept circle,
svg.tree-svg .node.open circle { fill: var(--live); }
svg.tree-svg .node.finished circle { fill: var(--ok); }
svg.tree-svg .node.pruned circle { fill: #e5e7eb; stroke: var(--bad); stroke-dasharray: 2 1; }
svg.tree-svg .node.frozen circle { fill: #d1fae5; }
svg.tree-svg .node.reference circle { fill: var(--ref); }
svg.tree-svg .node.answer circle { stroke: #111827; stroke-width: 3; }
svg.tree-svg .lit circle { stroke: #7c3aed; stroke-width: 3; }
svg.tree-svg .edge.lit { stroke: #7c3aed; stroke-width: 2.5; }
tr.lit td { background: #f5f3ff; }
"""

SCRIPT = """
document.addEventListener("click", function (event) {
  var node = event.target.closest ? event.target.closest("[data-lineage]") : null;
  if (!node) { return; }
  var svg = node.closest("svg");
  var lit = svg.querySelectorAll(".lit");
  for (var i = 0; i < lit.length; i++) { lit[i].classList.remove("lit"); }
  var keys = node.getAttribute("data-lineage").split(" ");
  for (var j = 0; j < keys.length; j++) {
    var found = svg.querySelectorAll("[data-key='" + keys[j] + "']");
    for (var k = 0; k < found.length; k++) { found[k].classList.add("lit"); }
  }
});
"""
"""Clicking a node of a tree lights up its lineage (the nodes and edges that led to it)."""


def document(title: str, body: Html) -> str:
    """A complete, self-contained page: inline CSS and script, no network access allowed."""
    digest = base64.b64encode(hashlib.sha256(SCRIPT.encode("utf-8")).digest()).decode("ascii")
    policy = f"default-src 'none'; style-src 'unsafe-inline'; img-src data:; script-src 'sha256-{digest}'"
    head = join(
        [
            Html('<meta charset="utf-8">'),
            h("meta", http_equiv="Content-Security-Policy", content=policy),
            h("meta", name="viewport", content="width=device-width, initial-scale=1"),
            h("title", title),
            Html(f"<style>{CSS}</style>"),
        ]
    )
    return f'<!DOCTYPE html>\n<html lang="en"><head>{head}</head><body>{body}<script>{SCRIPT}</script></body></html>\n'
