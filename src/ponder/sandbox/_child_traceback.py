"""A sandboxed program's uncaught exception, printed in bounded time and size.

Python's own traceback formats every frame: after ``sys.setrecursionlimit(10**6)`` a
``RecursionError`` carries a million frames, and formatting them (source lines, caret positions)
takes longer than any sensible wall-clock limit, so the run would end as a ``timeout`` instead of
the error it is. Here each exception of the chain keeps only its :data:`MAX_FRAMES` innermost
frames (where the error happened; a first line says how many were left out), the chain stops
after :data:`MAX_CHAIN` exceptions, the text stops after :data:`MAX_BYTES`, and the final
``Type: message`` line, which the caller reads as the reason, is always printed last, cut to
:data:`MAX_LINE` characters.

Part of the sandbox's child: standard library only (``python -I -S``).
"""

from __future__ import annotations

import sys
import traceback
from types import TracebackType

MAX_FRAMES = 50
MAX_CHAIN = 8
MAX_BYTES = 16 * 1024
MAX_LINE = 2000


def innermost(tb: TracebackType | None, keep: int) -> tuple[TracebackType | None, int]:
    """The last ``keep`` entries of a traceback, and how many were dropped."""
    entries: list[TracebackType] = []
    while tb is not None:
        entries.append(tb)
        tb = tb.tb_next
    dropped = max(0, len(entries) - keep)
    return (entries[dropped] if entries else None), dropped


def trim_chain(exc: BaseException, tb: TracebackType | None) -> tuple[TracebackType | None, int]:
    """Cut every traceback of ``exc``'s chain to its innermost frames and the chain to
    :data:`MAX_CHAIN` links (in place: the process is about to exit); ``exc``'s own trimmed
    traceback (from ``tb``) and the most frames dropped from one traceback."""
    tb, most = innermost(tb, MAX_FRAMES)
    seen, todo = {id(exc)}, [exc.__cause__, exc.__context__]
    while todo:
        link = todo.pop()
        if link is None or id(link) in seen:
            continue
        seen.add(id(link))
        link.__traceback__, dropped = innermost(link.__traceback__, MAX_FRAMES)
        most = max(most, dropped)
        if len(seen) >= MAX_CHAIN:
            link.__cause__ = link.__context__ = None
        todo += [link.__cause__, link.__context__]
    return tb, most


def clip(line: str) -> str:
    """One line of the exception's own text, cut to :data:`MAX_LINE` characters."""
    body = line.rstrip("\n")
    return (body[:MAX_LINE] + " [...]" if len(body) > MAX_LINE else body) + "\n"


def capped_traceback(exc: BaseException, tb: TracebackType | None) -> str:
    """The traceback of ``exc`` (from ``tb``) as Python would print it, within the caps above."""
    tb, dropped = trim_chain(exc, tb)
    report = traceback.TracebackException(type(exc), exc, tb, compact=True)
    final = [clip(line) for chunk in report.format_exception_only() for line in chunk.splitlines()]
    head = f"[traceback cut to the innermost {MAX_FRAMES} frames; {dropped} more not shown]\n" if dropped else ""
    out, size = [head], len(head)
    for chunk in report.format():
        if size + len(chunk) > MAX_BYTES:
            out.append(chunk[: max(0, MAX_BYTES - size)].rstrip("\n") + "\n[traceback cut]\n")
            out.extend(final)
            break
        out.append(chunk)
        size += len(chunk)
    return "".join(out)


def print_failure(exc: BaseException, tb: TracebackType | None) -> None:
    """Print the capped traceback on stderr."""
    sys.stderr.write(capped_traceback(exc, tb))
    sys.stderr.flush()
