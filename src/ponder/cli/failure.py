"""How every command ends on an error: one ``error:`` line on stderr and exit status 1."""

from __future__ import annotations

import sys
from typing import NoReturn

import click


def fail(message: str) -> NoReturn:
    # a message may quote what the user typed, which may not be valid text: show such characters escaped
    printable = message.encode("utf-8", "backslashreplace").decode("utf-8")
    click.echo(f"error: {printable}", err=True)
    sys.exit(1)
