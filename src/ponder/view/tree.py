"""The tree of a step-level search, drawn as an inline SVG with a table of every node below it.

Two layouts, chosen by what the trace holds (not by the strategy's name):

- particles (particle filtering, particle Gibbs: steps with ``log_weights``): one picture per
  sweep, a column per step and a row per particle slot. A node is the particle in that slot
  after the step (``ids``; copies made by resampling share one), its size its normalised
  weight ``softmax(log w)``; an edge joins it to the slot it was copied from at the resampling
  after the step before (``ancestors``). A particle that no slot drew is *pruned* (resampled
  away); *finished* ones are frozen afterwards; slot 0 of a conditioned sweep holds the
  *reference* particle.
- nodes (beam search, DVTS, A*: steps with ``grown``): a column per depth, a node per partial
  solution grown, an edge to the partial it extends. A node is *finished*, *extended* (it has
  children), *kept* or *pruned* (the step's ``kept`` beams, when the search records them) or
  *open* (left on the frontier, as A* leaves them).

A node whose whole text is a candidate's is ringed when that candidate's answer is the run's.
Clicking a node lights up its lineage (the page's one script); hovering shows its step text.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ponder.view.html import Html, anchor, h, join, num
from ponder.view.model import RunView

COLUMN, ROW, LEFT, TOP = 120, 28, 50, 42  # SVG geometry, in pixels
TOOLTIP = 400  # characters of a step's text in a node's tooltip
PREVIEW = 240  # characters of a step's text shown in the table before it is opened

Entry = Mapping[str, Any]


@dataclass
class Node:
    """One node of a drawn tree and the cells of its table row."""

    key: str
    step: int  # the trace step that made it
    column: int  # 1-based step (particles) or depth (nodes)
    row: int
    label: str
    status: str
    text: str
    parent: str | None  # the key of the node it comes from; None: from the root (the question)
    radius: float = 6.0
    answer: bool = False
    cells: dict[str, object] = field(default_factory=dict)


def is_particle_step(entry: Entry) -> bool:
    return isinstance(entry.get("log_weights"), list) and isinstance(entry.get("scores"), list)


def is_node_step(entry: Entry) -> bool:
    return isinstance(entry.get("grown"), list) and not is_particle_step(entry)


def softmax(values: Sequence[float]) -> list[float]:
    """Normalised weights from log weights."""
    if not values:
        return []
    top = max(values)
    exps = [math.exp(v - top) for v in values]
    total = sum(exps)
    return [e / total for e in exps]


def _records(trace: Sequence[Entry]) -> dict[int, Mapping[str, Any]]:
    """Every grown node of the trace by identity."""
    found: dict[int, Mapping[str, Any]] = {}
    for entry in trace:
        for record in entry.get("grown") or ():
            if isinstance(record, Mapping) and isinstance(record.get("id"), int):
                found.setdefault(record["id"], record)
    return found


def _full_text(identity: int, records: Mapping[int, Mapping[str, Any]]) -> str:
    """The partial solution's whole text: its ancestors' steps and its own."""
    parts, seen = [], set()
    current: int | None = identity
    while current is not None and current in records and current not in seen:
        seen.add(current)
        parts.append(str(records[current].get("text") or ""))
        parent = records[current].get("parent")
        current = parent if isinstance(parent, int) else None
    return "".join(reversed(parts))


def _winning_texts(run: RunView) -> set[str]:
    return {c.text for c in run.candidates if run.answer is not None and c.answer == run.answer}


def particle_nodes(run: RunView, steps: Sequence[Entry], key: str, records: Mapping[int, Any]) -> list[Node]:
    """The nodes of one sweep (its steps in order): slot i after step t, weighted, with the
    edge to the slot it was copied from."""
    winners = _winning_texts(run)
    nodes: list[Node] = []
    for t, entry in enumerate(steps, start=1):
        scores = list(entry.get("scores") or [])
        weights = softmax([float(w) for w in entry.get("log_weights") or []])
        ids = entry.get("ids") or [None] * len(scores)
        finishes = entry.get("finishes") or [None] * len(scores)
        grown = {g.get("id"): g for g in entry.get("grown") or () if isinstance(g, Mapping)}
        ancestors = entry.get("ancestors")
        before = steps[t - 2].get("ancestors") if t > 1 else None
        for i, score in enumerate(scores):
            identity = ids[i] if i < len(ids) else None
            weight = weights[i] if i < len(weights) else None
            copies = None if ancestors is None else sum(1 for a in ancestors if a == i)
            finish = finishes[i] if i < len(finishes) else None
            extended = identity in grown
            if entry.get("reference") and i == 0:
                status = "reference"
            elif copies == 0:
                status = "pruned"
            elif finish is not None:
                status = "finished" if extended or t == 1 else "frozen"
            else:
                status = "live"
            source = (before[i] if before is not None and i < len(before) else i) if t > 1 else None
            text = str(grown[identity].get("text") or "") if extended else ""
            parent_id = grown[identity].get("parent") if extended else None
            radius = 3.0 + 4.0 * math.sqrt(min((weight or 0.0) * len(scores), 6.0))
            whole = _full_text(identity, records) if isinstance(identity, int) else None
            nodes.append(
                Node(
                    key=anchor(key, "t", t, "i", i),
                    step=t,
                    column=t,
                    row=i,
                    label=f"slot {i}" + ("" if identity is None else f" · #{identity}"),
                    status=status,
                    text=text,
                    parent=None if source is None else anchor(key, "t", t - 1, "i", source),
                    radius=radius,
                    answer=bool(whole) and whole in winners,
                    cells={
                        "step": t,
                        "slot": i,
                        "particle": "—" if identity is None else f"#{identity}",
                        "from": "—" if parent_id is None else f"#{parent_id}",
                        "score": num(score),
                        "weight": num(weight),
                        "copies": "—" if copies is None else copies,
                        "status": status + ("" if finish is None else f" ({finish})"),
                    },
                )
            )
    return nodes


def _kept(entry: Entry) -> set[int] | None:
    """The identities a step kept (beam search's ``[id, score]`` pairs, DVTS's ids), if recorded."""
    kept = entry.get("kept")
    if not isinstance(kept, list):
        return None
    found: set[int] = set()
    for item in kept:
        first = item[0] if isinstance(item, list) and item else item
        if isinstance(first, int):
            found.add(first)
    return found


def grown_nodes(run: RunView, steps: Sequence[Entry], key: str, records: Mapping[int, Any]) -> list[Node]:
    """The nodes of a search that records what each step grew, laid out by depth."""
    winners = _winning_texts(run)
    found = {e.get("index") for e in steps if e.get("action") == "found"}
    items: list[tuple[int, Mapping[str, Any], Entry]] = []
    for position, entry in enumerate(steps, start=1):
        for record in entry.get("grown") or ():
            if isinstance(record, Mapping) and isinstance(record.get("id"), int):
                items.append((int(entry.get("step", position)), record, entry))
    parents = {r["id"]: r.get("parent") for _, r, _ in items}
    children = {p for p in parents.values() if isinstance(p, int)}
    depth: dict[int, int] = {}

    def depth_of(identity: int) -> int:
        """1 for a first step; one more than its parent's otherwise (a parent not grown in
        this trace, or a loop in bad data, counts as the root)."""
        chain: list[int] = []
        current: Any = identity
        while isinstance(current, int) and current in parents and current not in depth and current not in chain:
            chain.append(current)
            current = parents[current]
        base = depth.get(current, 0) if isinstance(current, int) and current not in chain else 0
        for node in reversed(chain):
            base += 1
            depth[node] = base
        return depth[identity]

    nodes: dict[int, Node] = {}
    for step, record, entry in items:
        identity = record["id"]
        kept = _kept(entry)
        if record.get("finish") is not None:
            status = "finished"
        elif identity in children:
            status = "extended"
        elif kept is not None:
            status = "kept" if identity in kept else "pruned"
        else:
            status = "open"
        parent = record.get("parent")
        whole = _full_text(identity, records)
        nodes[identity] = Node(
            key=anchor(key, "n", identity),
            step=step,
            column=depth_of(identity),
            row=0,
            label=f"#{identity}",
            status=status,
            text=str(record.get("text") or ""),
            parent=anchor(key, "n", parent) if isinstance(parent, int) and parent in parents else None,
            radius=4.0 + 5.0 * float(record.get("score") or 0.0),
            answer=identity in found or (bool(whole) and whole in winners),
            cells={
                "step": step,
                "depth": depth_of(identity),
                "node": f"#{identity}",
                "from": "root" if parent is None else f"#{parent}",
                "score": num(record.get("score")),
                "status": status + ("" if record.get("finish") is None else f" ({record.get('finish')})"),
            },
        )
    rows: dict[str, int] = {}
    for column in sorted({n.column for n in nodes.values()}):
        here = sorted(
            (n for n in nodes.values() if n.column == column),
            key=lambda n: (rows.get(n.parent, -1) if n.parent else -1, int(n.label[1:])),
        )
        for row, node in enumerate(here):
            node.row = row
            rows[node.key] = row
    return list(nodes.values())


def _lineage(node: Node, by_key: Mapping[str, Node]) -> str:
    """The keys of a node, its ancestors and the edges between them (what a click lights up)."""
    keys: list[str] = []
    current: Node | None = node
    while current is not None and current.key not in keys:
        keys += [current.key, current.key + "-e"]
        current = by_key.get(current.parent) if current.parent else None
    return " ".join(keys)


def draw(nodes: Sequence[Node], headers: Mapping[int, str], key: str) -> Html:
    """The SVG: a root (the question), columns of nodes, edges from each node to its source."""
    if not nodes:
        return Html("")
    by_key = {n.key: n for n in nodes}
    columns = max(n.column for n in nodes)
    rows = max(n.row for n in nodes) + 1
    width, height = LEFT + columns * COLUMN + 60, TOP + rows * ROW + 10

    def x(column: int) -> int:
        return LEFT + column * COLUMN

    def y(row: float) -> float:
        return TOP + row * ROW + ROW / 2

    firsts = [n.row for n in nodes if n.parent is None] or [0]
    middle = (min(firsts) + max(firsts)) / 2  # the root faces the nodes it starts
    parts: list[Html] = [h("text", "question", x=4, y=y(middle) - 10)]
    parts.append(h("circle", cx=LEFT - 20, cy=y(middle), r=5, fill="#111827"))
    for column, label in sorted(headers.items()):
        parts.append(h("text", label, x=x(column) - 20, y=16))
    for node in nodes:
        source = by_key.get(node.parent) if node.parent else None
        x0, y0 = (x(source.column), y(source.row)) if source else (LEFT - 20, y(middle))
        x1, y1 = x(node.column), y(node.row)
        bend = (x1 - x0) / 2
        path = f"M{x0},{y0:.1f} C{x0 + bend},{y0:.1f} {x1 - bend},{y1:.1f} {x1},{y1:.1f}"
        edge = {"data_key": node.key + "-e", "data_from": node.parent or "root", "data_to": node.key}
        parts.append(h("path", d=path, class_="edge", **edge))
    for node in nodes:
        tooltip = f"{node.label} · {node.status}" + "".join(
            f" · {k} {v}" for k, v in node.cells.items() if k in ("score", "weight", "copies")
        )
        tooltip += "\n" + (node.text[:TOOLTIP] + ("…" if len(node.text) > TOOLTIP else "") if node.text else "")
        circle = h("circle", h("title", tooltip), cx=x(node.column), cy=f"{y(node.row):.1f}", r=f"{node.radius:.1f}")
        classes = f"node {node.status}" + (" answer" if node.answer else "")
        group = h("g", circle, class_=classes, data_key=node.key, data_lineage=_lineage(node, by_key))
        parts.append(h("a", group, href="#" + node.key + "-row"))
    svg = h(
        "svg",
        parts,
        xmlns="http://www.w3.org/2000/svg",
        width=width,
        height=height,
        viewBox=f"0 0 {width} {height}",
        class_="tree-svg",
        role="img",
        id=key,
    )
    return h("div", svg, class_="tree")


def node_table(nodes: Sequence[Node]) -> Html:
    """One row per node, in step order: its cells and the step's text."""
    if not nodes:
        return Html("")
    header = [*nodes[0].cells.keys(), "step text"]
    rows = []
    for node in sorted(nodes, key=lambda n: (n.step, n.row)):
        short = node.text if len(node.text) <= PREVIEW else node.text[:PREVIEW] + "…"
        text = h("details", h("summary", short), h("pre", node.text)) if len(node.text) > PREVIEW else h("pre", short)
        cells = [h("td", v, class_="num" if isinstance(v, int) else None) for v in node.cells.values()]
        badge = h("span", node.status, class_=f"badge {node.status}")
        cells[header.index("status")] = h("td", badge, " ", str(node.cells["status"]).partition(" ")[2])
        rows.append(h("tr", cells, h("td", text if node.text else "—"), id=node.key + "-row", class_="tree-row"))
    return h("table", h("thead", h("tr", [h("th", c) for c in header])), h("tbody", rows), class_="nodes")


def legend(nodes: Sequence[Node]) -> Html:
    """The statuses the picture uses, as coloured badges, and the answer's ring."""
    statuses = dict.fromkeys(n.status for n in nodes)
    badges = [h("span", status, class_=f"badge {status}") for status in statuses]
    ring = " A ringed node holds the chosen answer; click one to light up its lineage." if nodes else ""
    return join([join(badges, " "), ring])


def tree_section(run: RunView, trace: Sequence[Entry], key: str) -> Html:
    """The trace's search tree(s), or nothing when the trace records none."""
    records = _records(trace)
    particle_steps = [e for e in trace if is_particle_step(e)]
    parts: list[Html] = []
    if particle_steps:
        sweeps = sorted({int(e.get("sweep") or 0) for e in particle_steps})
        for sweep in sweeps:
            steps = [e for e in particle_steps if int(e.get("sweep") or 0) == sweep]
            nodes = particle_nodes(run, steps, anchor(key, "s", sweep), records)
            headers = {
                t: f"step {t} · ESS {num(e.get('ess'))}" + (" ↻" if "ancestors" in e else "")
                for t, e in enumerate(steps, start=1)
            }
            title = f"Particles, sweep {sweep + 1}" if len(sweeps) > 1 else "Particles"
            note = (
                "Columns are steps, rows particle slots; a node's size is its normalised weight; an edge joins a "
                "particle to the slot it was copied from at the resampling (↻) before. Pruned: resampled away."
            )
            parts += [h("h3", title), h("p", note, " ", legend(nodes), class_="note")]
            parts.append(draw(nodes, headers, anchor(key, "s", sweep)))
            parts.append(node_table(nodes))
    node_steps = [e for e in trace if is_node_step(e) or e.get("action") == "found"]
    if any(is_node_step(e) for e in node_steps):
        nodes = grown_nodes(run, node_steps, anchor(key, "tree"), records)
        headers = {d: f"depth {d}" for d in sorted({n.column for n in nodes})}
        note = (
            "Columns are depths (steps of a solution); each node a partial solution, its size its PRM score, "
            "joined to the partial it extends."
        )
        parts += [h("h3", f"Search tree ({len(nodes)} nodes)"), h("p", note, " ", legend(nodes), class_="note")]
        parts += [draw(nodes, headers, anchor(key, "tree")), node_table(nodes)]
    return join(parts)
