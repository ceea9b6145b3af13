"""A benchmark database's runs as one page (``ponder view DB``).

Without a configuration or a problem: an index of the stored configurations (accuracy, tokens)
and their problems, each linking to that problem's view further down the page. With
``config`` (its id or label, as ``ponder report`` names it) and/or ``problem`` (a problem id):
only those views (one, when both are given).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ponder.bench.store import BenchStore
from ponder.bench.types import BenchRow, StoredConfig
from ponder.core.errors import InvalidInputError
from ponder.view.html import Html, anchor, document, h, join, num
from ponder.view.model import from_bench
from ponder.view.page import render_run, write_page
from ponder.view.samples import mark

LISTED = 20  # names listed when a configuration or problem is not found


def _pick_configs(configs: Sequence[StoredConfig], wanted: str | int | None) -> list[StoredConfig]:
    if wanted is None:
        return list(configs)
    text = str(wanted).strip()
    chosen = [c for c in configs if str(c.id) == text or c.label == text]
    if not chosen:
        known = "; ".join(f"{c.id}: {c.label}" for c in configs[:LISTED]) or "none stored"
        raise InvalidInputError(f"no configuration {text!r} in the database (by id or label): {known}")
    return chosen


def _views(
    store: BenchStore, configs: Sequence[StoredConfig], problem: str | None
) -> list[tuple[StoredConfig, BenchRow]]:
    views = [(c, row) for c in configs for row in store.results(c.id) if problem is None or row.problem_id == problem]
    if problem is not None and not views:
        ids = sorted({row.problem_id for c in configs for row in store.results(c.id)})
        known = ", ".join(ids[:LISTED]) + (", ..." if len(ids) > LISTED else "") if ids else "none stored"
        raise InvalidInputError(f"no problem {problem!r} stored for the chosen configurations: {known}")
    return views


def _key(config: StoredConfig, row: BenchRow, position: int) -> str:
    return anchor("c", config.id, "p", position, row.problem_id[:40])


def index(views: Sequence[tuple[StoredConfig, BenchRow]], keys: Sequence[str]) -> Html:
    """The configurations with their accuracy and tokens, and links to every problem's view."""
    parts: list[Html] = []
    configs: dict[int, StoredConfig] = {c.id: c for c, _ in views}
    summary = []
    for config in configs.values():
        rows = [row for c, row in views if c.id == config.id]
        correct = sum(row.correct for row in rows)
        tokens = sum(row.tokens for row in rows) / len(rows)
        summary.append(
            h(
                "tr",
                h("td", config.id, class_="num"),
                h("td", h("a", config.label, href=f"#config-{config.id}")),
                h("td", config.strategy),
                h("td", len(rows), class_="num"),
                h("td", f"{correct / len(rows):.1%}", class_="num"),
                h("td", num(tokens), class_="num"),
            )
        )
    header = h(
        "tr", [h("th", t) for t in ("id", "configuration", "strategy", "problems", "accuracy", "tokens/problem")]
    )
    parts += [h("h2", "Configurations", id="index"), h("table", h("thead", header), h("tbody", summary))]
    for config in configs.values():
        links = [
            h("li", h("a", row.problem_id, href="#" + key), " ", mark(row.correct), " ", h("span", row.question[:100]))
            for (c, row), key in zip(views, keys, strict=True)
            if c.id == config.id
        ]
        parts += [h("h3", config.label, id=f"config-{config.id}"), h("ul", links, class_="problems")]
    return join(parts)


def render_bench_page(db: str | Path, *, config: str | int | None = None, problem: str | None = None) -> str:
    """The page's HTML (see the module docstring)."""
    store = BenchStore(db, writable=None)
    try:
        configs = _pick_configs(store.configs(), config)
        views = _views(store, configs, problem)
    finally:
        store.close()
    if not views:
        raise InvalidInputError(f"the benchmark database {db} holds no results to view")
    keys = [_key(c, row, i) for i, (c, row) in enumerate(views)]
    indexed = len(views) > 1
    back = "index" if indexed else None
    runs = [render_run(from_bench(c, row, key), back=back) for (c, row), key in zip(views, keys, strict=True)]
    title = f"ponder runs in {Path(db).name}"
    head = index(views, keys) if indexed else Html("")
    return document(title, join([h("h1", title), head, runs]))


def write_bench_page(
    db: str | Path, path: str | Path, *, config: str | int | None = None, problem: str | None = None
) -> None:
    """Write the runs stored in ``db`` as one self-contained HTML page at ``path``: every
    configuration and problem (an index linking to each problem's view), or only ``config``'s
    (id or label) and/or ``problem``'s (a problem id)."""
    write_page(render_bench_page(db, config=config, problem=problem), path)
