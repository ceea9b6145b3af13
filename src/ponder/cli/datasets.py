"""``ponder datasets``: the built-in data sets, one line each (name, rows, task, grader, licence, source)."""

from __future__ import annotations

import json

import click

from ponder.bench.catalog import DATA_DIR_ENV, LICENSES, DatasetInfo, describe_datasets, override_dir, package_data_dir
from ponder.cli.failure import fail
from ponder.core.errors import PonderError

COLUMNS = ("name", "rows", "task", "grader", "licence", "source")


@click.command()
@click.option("--json", "as_json", is_flag=True, help="print one JSON array, one object per data set")
def datasets(as_json: bool) -> None:
    """List the built-in data sets (names for `ponder bench` and `ponder route`) with their rows, answer
    task, grader, licence and source. They ship with ponder; a folder named by $PONDER_DATA_DIR replaces them."""
    try:
        infos = describe_datasets()
        licences = package_data_dir() / LICENSES
    except PonderError as exc:
        fail(str(exc))
    if as_json:
        click.echo(json.dumps([info.to_dict() for info in infos], ensure_ascii=False, indent=2))
        return
    click.echo("\n".join(table(infos)))
    given = override_dir()
    where = f"{given[0]} (from ${DATA_DIR_ENV})" if given else f"ponder's package data (override with ${DATA_DIR_ENV})"
    click.echo(f"\nread from: {where}\nlicences and attribution: {licences}")
    for info in infos:
        if info.problem:
            click.echo(f"{info.name}: {info.problem}", err=True)


def table(infos: list[DatasetInfo]) -> list[str]:
    """The lines of the listing: a header, then one aligned row per data set (a missing file's rows: -)."""
    cells = [
        [info.name, "-" if info.rows is None else str(info.rows), info.task, info.grader, info.licence, info.source]
        for info in infos
    ]
    rows = [list(COLUMNS), *cells]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS) - 1)]
    lines = []
    for row in rows:
        *fixed, source = row
        padded = [
            cell.rjust(width) if i == 1 else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(fixed, widths, strict=True))
        ]
        lines.append("  ".join([*padded, source]))
    return lines
