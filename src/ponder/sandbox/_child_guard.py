"""The sandbox's in-process guard: an audit hook refusing, with readable errors, what the kernel
layers refuse with a bare ``EPERM``/``EROFS``/``EACCES``, and the only filesystem protection where
neither namespaces nor Landlock exist.

It raises ``PermissionError`` for subprocesses, sockets, ``ctypes``, sub-interpreters, ``chdir``,
signals to other processes, ``sqlite3`` databases outside the working directory (SQLite opens its
files in C, without an ``open`` event), and any write, create, delete, rename or permission
change outside the working directory. It is in-process: a determined program can get around it
(the kernel layers do not depend on it).

Part of the sandbox's child: standard library only (``python -I -S``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, NoReturn


def make_guard(workdir: str) -> Callable[[str, tuple[Any, ...]], None]:
    """The audit hook: no processes, sockets, ctypes or writes outside ``workdir``.

    Everything it calls is bound here, and paths are resolved with C-level functions only
    (``os.lstat``, ``os.readlink``, string methods), so that a program cannot disarm it by
    patching ``os``, ``posixpath`` or builtins.
    """
    root = os.path.realpath(workdir)
    prefix = root + "/"
    lstat, stat, readlink, fspath, getpid = os.lstat, os.stat, os.readlink, os.fspath, os.getpid
    type_, any_, str_, bool_, len_, chr_, int_ = type, any, str, bool, len, chr, int
    refuse, unresolvable = PermissionError, (OSError, TypeError, ValueError, UnicodeError)
    write_flags = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
    denied = frozenset(
        {
            "os.fork",
            "os.forkpty",
            "os.exec",
            "os.posix_spawn",
            "os.spawn",
            "os.system",
            "subprocess.Popen",
            "os.chdir",
            "os.link",
            "os.symlink",
            "resource.setrlimit",
            "resource.prlimit",
            "gc.get_objects",
            "gc.get_referrers",
            "gc.get_referents",
            "cpython.PyInterpreterState_New",
            "sys.remote_exec",
        }
    )
    denied_prefixes = ("socket.", "ctypes.")
    # event -> its (path argument, that path's dir_fd argument or None) positions
    mutations: dict[str, tuple[tuple[int, int | None], ...]] = {
        "os.chmod": ((0, 2),),
        "os.chown": ((0, 3),),
        "os.mkdir": ((0, 2),),
        "os.remove": ((0, 1),),
        "os.rename": ((0, 2), (1, 3)),
        "os.rmdir": ((0, 1),),
        "os.truncate": ((0, None),),
        "os.utime": ((0, 3),),
        "os.setxattr": ((0, None),),
        "os.removexattr": ((0, None),),
        "os.chflags": ((0, None),),
        "os.lchflags": ((0, None),),
    }

    def canonical(text: str) -> str:
        """Absolute ``text`` with every symlink followed (missing parts taken literally)."""
        todo, hops = text.split("/")[::-1], 0
        done: list[str] = []
        while todo:
            part = todo.pop()
            if part in ("", "."):
                continue
            if part == "..":
                if done:
                    done.pop()
                continue
            here = "/" + "/".join(done + [part])
            try:
                is_link = lstat(here).st_mode & 0o170000 == 0o120000
            except OSError:
                is_link = False
            if not is_link:
                done.append(part)
                continue
            hops += 1
            if hops > 40:
                raise OSError("too many symbolic links")
            target = readlink(here)
            if target.startswith("/"):
                done = []
            todo.extend(target.split("/")[::-1])
        return "/" + "/".join(done)

    def resolve(path: Any, dir_fd: Any) -> str:
        if type_(path) is int:
            return canonical(readlink(f"/proc/self/fd/{path}"))
        text = fspath(path)
        if type_(text) is bytes:
            text = text.decode("utf-8", "surrogateescape")
        if text.startswith("/"):
            return canonical(text)
        base = root
        if type_(dir_fd) is int and dir_fd >= 0:
            base = readlink(f"/proc/self/fd/{dir_fd}")
        return canonical(base + "/" + text)

    def inside(path: Any, dir_fd: Any = None) -> bool:
        try:
            where = resolve(path, dir_fd)
        except unresolvable:
            return False
        return where == root or where.startswith(prefix)

    def is_directory(path: Any) -> bool:
        try:
            return stat(path).st_mode & 0o170000 == 0o040000
        except unresolvable:
            return False

    def sqlite_file(database: Any) -> Any:
        """The file an ``sqlite3.connect`` names (``None``: in memory), URI forms decoded."""
        text = fspath(database)
        if type_(text) is bytes:
            text = text.decode("utf-8", "surrogateescape")
        if text in ("", ":memory:"):
            return None
        if not text.startswith("file:"):
            return text
        path, _, query = text[5:].partition("#")[0].partition("?")
        if "mode=memory" in query or path in ("", ":memory:"):
            return None
        if path.startswith("//"):  # file://host/path: the host part is ignored
            path = "/" + path[2:].partition("/")[2]
        pieces = path.split("%")
        decoded = pieces[0]
        for piece in pieces[1:]:  # %2F and the like, as SQLite decodes them
            try:
                decoded += chr_(int_(piece[:2], 16)) + piece[2:]
            except unresolvable:
                decoded += "%" + piece
        return decoded

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if event in denied or event.startswith(denied_prefixes):
            raise refuse(f"sandbox: {event} is not allowed")
        if event == "open":
            path, mode, flags = args
            if path is None:
                return
            if mode is None:
                writing = bool_(flags & write_flags) if type_(flags) is int else True
            else:
                writing = any_(c in str_(mode) for c in "wax+")
            if writing and not inside(path):
                raise refuse(f"sandbox: writing outside the working directory: {path!r}")
            if not writing and type_(path) is not int and not inside(path) and is_directory(path):
                raise refuse(f"sandbox: opening a directory outside the working directory: {path!r}")
            return
        if event == "sqlite3.connect":
            try:
                database = sqlite_file(args[0])
            except unresolvable:
                raise refuse(f"sandbox: an unreadable database name: {args[0]!r}") from None
            if database is not None and not inside(database):
                raise refuse(f"sandbox: a database outside the working directory: {args[0]!r}")
            return
        if event in ("os.kill", "os.killpg"):
            if event == "os.killpg" or args[0] != getpid():
                raise refuse(f"sandbox: {event} of another process is not allowed")
            return
        for at, fd_at in mutations.get(event, ()):
            dir_fd = args[fd_at] if fd_at is not None and fd_at < len_(args) else None
            if not inside(args[at], dir_fd):
                raise refuse(f"sandbox: {event} outside the working directory: {args[at]!r}")

    return hook


def deny_unaudited() -> None:
    """Replace the process-creating and node-creating functions that raise no audit event."""
    import _posixsubprocess
    import posix

    def refuse(*args: Any, **kwargs: Any) -> NoReturn:
        raise PermissionError("sandbox: creating processes or special files is not allowed")

    _posixsubprocess.fork_exec = refuse
    for module in (os, posix):
        for name in ("mkfifo", "mknod"):
            if hasattr(module, name):
                setattr(module, name, refuse)
