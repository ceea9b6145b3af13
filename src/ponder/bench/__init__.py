"""The benchmark harness: data sets x strategies x budgets x seeds, stored in SQLite.

- :mod:`~ponder.bench.types`: the records the modules share (``Problem``, ``Config``,
  ``StoredConfig``, ``BenchRow``, ``ConfigTotals``, ``ConfigSummary``, ``PairedDifference``);
- :mod:`~ponder.bench.graders` and :mod:`~ponder.bench.datasets`: judging answers, reading problems;
- :mod:`~ponder.bench.rows` and :mod:`~ponder.bench.catalog`: reading a row's fields; the built-in
  data sets, shipped as package data in ``data/`` (``ponder datasets``);
- :mod:`~ponder.bench.store`, :mod:`~ponder.bench.runner`, :mod:`~ponder.bench.api`: running
  configurations resumably into SQLite (``ponder bench``); :mod:`~ponder.bench.memory_run`: a
  configuration with a concept memory, in problem order (``ponder bench --memory``);
  :mod:`~ponder.bench.distributed`: the problems solved on a Ray cluster, this process writing
  the store (``ponder bench --ray``);
- :mod:`~ponder.bench.report` with ``report_table``, ``report_plot``, ``report_html``,
  ``report_curves`` and ``report_saturation``: what the runs bought (``ponder report``);
- :mod:`~ponder.bench.route_search`: the DOTS trajectory search over a dev set (``ponder route``,
  ``ponder.route``).

Nothing is imported here: ``import ponder`` loads ``route_search``, and ``api`` reads
``ponder.__version__``.
"""
