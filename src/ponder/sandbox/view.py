"""Which view of the host's files sandboxed programs get: the whole tree (read-only) or Python's only.

- ``host`` (the default): the program may *read* whatever its user can read; with namespaces
  every mount is read-only and only the working directory is writable.
- ``python-only``: the program sees a fresh root holding only what the interpreter needs (its
  standard library, the shared libraries, a minimal ``/dev``, its own ``/proc``, the working
  directory); ``/etc/passwd``, home directories, the repository, the rest of ``/tmp`` do not
  exist for it. It needs the namespace layers: where they cannot be had (no ``CAP_SYS_ADMIN``,
  a container forbidding ``unshare``) every run fails with :class:`~ponder.sandbox.SandboxError`
  rather than fall back to a view of the host, and ``isolation="process"`` is refused.

``run_python(..., filesystem=...)`` chooses per call; without it a run uses :data:`FILESYSTEM`,
a context variable: set it for a whole program (``FILESYSTEM.set("python-only")`` before the
event loop starts: what a server running client-triggered code should do) or for a block
(``with filesystem_view("python-only"): ...``). asyncio tasks and ``asyncio.to_thread`` (how
ponder runs sandboxes) inherit it; a bare ``threading.Thread`` or thread pool does not (run the
function through ``contextvars.copy_context().run``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Literal, cast, get_args

from ponder.core.errors import InvalidInputError

Filesystem = Literal["host", "python-only"]
FILESYSTEMS: tuple[str, ...] = get_args(Filesystem)
FILESYSTEM: ContextVar[Filesystem] = ContextVar("ponder_sandbox_filesystem", default="host")


def check_filesystem(view: str) -> Filesystem:
    """``view`` if it names a filesystem view; InvalidInputError otherwise."""
    if view not in FILESYSTEMS:
        raise InvalidInputError(f"unknown sandbox filesystem {view!r}: {' or '.join(FILESYSTEMS)}")
    return cast(Filesystem, view)


@contextmanager
def filesystem_view(view: Filesystem) -> Iterator[None]:
    """Runs in this block (and in tasks and ``to_thread`` calls it starts) default to ``view``."""
    token = FILESYSTEM.set(check_filesystem(view))
    try:
        yield
    finally:
        FILESYSTEM.reset(token)
