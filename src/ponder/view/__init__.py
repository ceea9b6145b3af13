"""The trace viewer: a run as one self-contained HTML page (``ponder solve --html``, ``ponder view``).

- :func:`write_result_page` writes a :class:`~ponder.core.result.SolveResult` as a page;
- :func:`write_bench_page` writes the runs of a benchmark database (all, one configuration,
  one problem).
"""

from __future__ import annotations

from ponder.view.bench import write_bench_page
from ponder.view.page import write_result_page

__all__ = ["write_bench_page", "write_result_page"]
