"""``ponder view DB``: a benchmark database's runs as one self-contained HTML page.

ponder view DB [--config ID_OR_LABEL] [--problem PROBLEM_ID] [--out FILE]
"""

from __future__ import annotations

import click

from ponder.cli.failure import fail
from ponder.core.errors import PonderError
from ponder.view import write_bench_page


@click.command()
@click.argument("db", type=click.Path(dir_okay=False))
@click.option("--config", "-c", default=None, help="only this configuration: its id or label (as the index shows)")
@click.option("--problem", "-p", default=None, help="only this problem id")
@click.option("--out", "-o", default="ponder-view.html", show_default=True, help="the HTML file to write")
def view(db: str, config: str | None, problem: str | None, out: str) -> None:
    """Draw the runs stored in DB (a `ponder bench` database) as one HTML page: samples, votes,
    search trees, pipeline layers and usage per step; an index of configurations and problems
    unless --config and --problem pick one run."""
    try:
        write_bench_page(db, out, config=config, problem=problem)
    except PonderError as exc:
        fail(str(exc))
    click.echo(f"wrote {out}")
