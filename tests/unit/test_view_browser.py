"""The trace viewer in a real browser (issue #19 item 3): Playwright drives Chromium over a page
written for a particle-filtering run, opened from a file with no network.

Skipped, with the reason, when Playwright or a Chromium is missing. The browser is found at
``$PONDER_CHROMIUM``, else ``chromium`` / ``chromium-browser`` / ``google-chrome`` on the PATH
(Debian: ``apt-get install chromium``), else Playwright's own download (``playwright install
chromium``). The same page is checked without a browser in ``test_view.py``.
"""

from __future__ import annotations

import math
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.support.view_runs import HOSTILE, solve

from ponder.view import write_result_page

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")


def chromium_path() -> str | None:
    """The Chromium to drive (None: Playwright's own, if it downloaded one)."""
    named = os.environ.get("PONDER_CHROMIUM")
    if named:
        return named
    return next(
        (found for name in ("chromium", "chromium-browser", "google-chrome") if (found := shutil.which(name))), None
    )


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Any, Path]]:
    """The runs and their pages, made before the browser starts (Playwright's synchronous API
    holds an event loop that ``ponder.solve`` cannot share)."""
    folder = tmp_path_factory.mktemp("pages")
    made = {}
    for strategy in ("particle-filtering", "self-consistency"):
        result = solve(strategy)
        write_result_page(result, folder / f"{strategy}.html")
        made[strategy] = (result, folder / f"{strategy}.html")
    return made


@pytest.fixture(scope="module")
def browser(runs: dict[str, tuple[Any, Path]]) -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        try:
            launched = playwright.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
        except Exception as exc:  # no browser here: Playwright names what is missing
            pytest.skip(f"no Chromium to drive: {str(exc).splitlines()[0]}")
        yield launched
        launched.close()


@pytest.fixture()
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    opened = context.new_page()
    opened.problems = []
    opened.on("console", lambda m: opened.problems.append(m.text) if m.type in ("error", "warning") else None)
    opened.on("pageerror", lambda e: opened.problems.append(str(e)))
    opened.on("dialog", lambda d: (opened.problems.append(f"dialog: {d.message}"), d.dismiss()))
    opened.on("request", lambda r: None if r.url.startswith("file://") else opened.problems.append(f"fetch {r.url}"))
    yield opened
    context.close()


def centre(box: dict[str, float]) -> tuple[float, float]:
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def test_particle_filtering_tree_in_chromium(page: Any, runs: dict[str, tuple[Any, Path]]) -> None:
    """Every slot of every step is drawn, columns left to right in step order; each edge runs
    from the centre of the slot the particle was resampled from to the particle; a node's size
    follows its weight; pruned particles are drawn dashed; clicking the answer's particle lights
    its whole lineage (the page's script runs under its CSP) and jumps to its row."""
    result, path = runs["particle-filtering"]
    page.goto(path.as_uri())
    steps = result.trace
    n = len(steps[0]["ids"])
    assert page.locator("svg.tree-svg g.node").count() == n * len(steps)
    xs = []
    for t, entry in enumerate(steps, start=1):
        boxes = [page.locator(f"g[data-key='run-s-0-t-{t}-i-{i}'] circle").bounding_box() for i in range(n)]
        assert all(b is not None and b["width"] > 0 for b in boxes)
        xs.append(centre(boxes[0])[0])
        assert len({round(centre(b)[0]) for b in boxes}) == 1  # one column per step
        weights = [math.exp(w) for w in entry["log_weights"]]
        heaviest, lightest = weights.index(max(weights)), weights.index(min(weights))
        if max(weights) > 1.5 * min(weights):
            assert boxes[heaviest]["width"] > boxes[lightest]["width"]
        for i in range(n):
            ends = page.evaluate(
                """key => { const p = document.querySelector(`path[data-key='${key}-e']`);
                    const m = p.getScreenCTM(), a = p.getPointAtLength(0), b = p.getPointAtLength(p.getTotalLength());
                    return [a.x * m.a + m.e, a.y * m.d + m.f, b.x * m.a + m.e, b.y * m.d + m.f]; }""",
                f"run-s-0-t-{t}-i-{i}",
            )
            assert (ends[2], ends[3]) == pytest.approx(centre(boxes[i]), abs=1.0)
            if t > 1:
                source = steps[t - 2]["ancestors"][i]
                parent = page.locator(f"g[data-key='run-s-0-t-{t - 1}-i-{source}'] circle").bounding_box()
                assert (ends[0], ends[1]) == pytest.approx(centre(parent), abs=1.0)
    assert xs == sorted(xs) and len(set(xs)) == len(xs)
    pruned = page.locator("g.node.pruned circle")
    assert pruned.count() > 0
    assert pruned.first.evaluate("c => getComputedStyle(c).strokeDasharray") not in ("none", "")
    answer = page.locator("g.node.answer").last
    key = answer.get_attribute("data-key")
    answer.click()
    lineage = answer.get_attribute("data-lineage").split()
    lit = page.eval_on_selector_all(".lit", "els => els.map(e => e.getAttribute('data-key'))")
    assert sorted(lit) == sorted(lineage) and len(lit) >= 2 * len(steps) - 1
    assert page.evaluate("location.hash") == f"#{key}-row"
    assert page.locator(f"#{key}-row").is_visible()
    assert page.problems == []


def test_hostile_sample_shown_as_text_in_chromium(page: Any, runs: dict[str, tuple[Any, Path]]) -> None:
    """A sample holding a ``<script>`` shows it as text, runs nothing and fetches nothing."""
    _, path = runs["self-consistency"]
    page.goto(path.as_uri())
    assert HOSTILE in page.locator("table.candidates").inner_text()
    assert page.locator("script").count() == 1
    assert page.problems == []
