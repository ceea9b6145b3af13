"""The filesystem a sandboxed program sees, set up inside its private mount namespace.

Two views (``filesystem`` in the config, see :mod:`ponder.sandbox.view`):

- ``host``: the host's whole tree, every mount remounted read-only, a fresh size-capped tmpfs at
  the working directory (the only writable place), a minimal ``/dev`` and the namespace's own
  ``/proc``. The program can read whatever its user can read.
- ``python-only``: a fresh read-only root (a tmpfs) holding only what the running interpreter
  needs: its standard library and extension modules (the ``sys.path`` entries; any
  ``site-packages`` below them is hidden under an empty mount), the directories of the shared
  libraries it has mapped (where libc lives, so that ``dlopen`` of ``libssl``, ``libsqlite3``,
  ... works), ``/etc/ld.so.cache`` and the host's top-level symbolic links (``/lib -> usr/lib``);
  plus the same working-directory tmpfs, minimal ``/dev`` and own ``/proc``. The old root is
  detached with ``pivot_root``, so ``/etc``, home directories, the repository and ``/tmp`` (but
  the working directory) do not exist for the program. Each host path is rebuilt under the new
  root with the same directories and symbolic links, so the interpreter's paths (and the working
  directory's) still resolve; the bind mounts are read-only, ``nosuid``, ``nodev``.

Part of the sandbox's child: standard library only (``python -I -S``).
"""

from __future__ import annotations

import ctypes
import os
import platform
import re
import sys
from typing import Any

from ponder.sandbox._child_sys import (
    MNT_DETACH,
    MS_BIND,
    MS_NOATIME,
    MS_NODEV,
    MS_NODIRATIME,
    MS_NOEXEC,
    MS_NOSUID,
    MS_PRIVATE,
    MS_RDONLY,
    MS_REC,
    MS_RELATIME,
    MS_REMOUNT,
    SetupError,
    libc_call,
    minimal_dev,
    mount,
)

MOUNT_OPTION_FLAGS = {
    "nosuid": MS_NOSUID,
    "nodev": MS_NODEV,
    "noexec": MS_NOEXEC,
    "noatime": MS_NOATIME,
    "nodiratime": MS_NODIRATIME,
    "relatime": MS_RELATIME,
}
PIVOT_ROOT = {"x86_64": 155, "aarch64": 41}
ST_RELATIME = 4096  # statvfs's bit for relatime (MS_RELATIME differs)


def mount_points() -> list[tuple[str, int]]:
    """Every mount point of this mount namespace with the flags its options imply."""
    points = []
    with open("/proc/self/mountinfo", "rb") as info:
        for line in info:
            fields = line.split()
            path = os.fsdecode(re.sub(rb"\\([0-7]{3})", lambda m: bytes([int(m[1], 8)]), fields[4]))
            flags = 0
            for option in fields[5].decode("ascii", "replace").split(","):
                flags |= MOUNT_OPTION_FLAGS.get(option, 0)
            points.append((path, flags))
    return points


def work_tmpfs(libc: Any, target: str, disk_bytes: int) -> None:
    """The program's working directory: a fresh tmpfs of ``disk_bytes``."""
    mount(libc, "tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV, f"size={disk_bytes},nr_inodes=4096,mode=0700")


def confine_host_view(libc: Any, workdir: str, disk_bytes: int, layers: list[str]) -> None:
    """Everything read-only but a fresh tmpfs at ``workdir``; a minimal ``/dev``; own ``/proc``."""
    mount(libc, None, "/", None, MS_REC | MS_PRIVATE)  # nothing below propagates to the host
    work_tmpfs(libc, workdir, disk_bytes)
    layers.append("private-tmp")
    for path, flags in mount_points():
        if path == workdir:
            continue
        try:
            mount(libc, None, path, None, MS_REMOUNT | MS_BIND | MS_RDONLY | flags)
        except SetupError:
            if os.path.exists(path) and not os.statvfs(path).f_flag & os.ST_RDONLY:
                raise  # a visible mount stayed writable
            # otherwise: hidden under another mount, or already read-only
    layers.append("readonly-fs")
    minimal_dev(libc, "/dev")
    layers.append("minimal-dev")
    mount(libc, "proc", "/proc", "proc", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)


def python_paths() -> list[str]:
    """The host paths the running interpreter needs: stdlib, shared-library directories, ld cache."""
    paths = {entry for entry in sys.path if entry.startswith("/") and os.path.exists(entry)}  # dirs, zips
    with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
        for line in maps:
            parts = line.rstrip("\n").split(maxsplit=5)
            library = parts[5] if len(parts) == 6 else ""
            if library.startswith("/") and ".so" in os.path.basename(library) and os.path.isfile(library):
                paths.add(os.path.dirname(library))
    if os.path.isfile("/etc/ld.so.cache"):
        paths.add("/etc/ld.so.cache")
    return sorted(paths)


def plant(root: str, path: str, is_file: bool = False) -> str:
    """Rebuild ``path`` under ``root`` as on the host (its directories and symbolic links, an empty
    file or directory at its end as a mount point); return its real host path.

    Never follows a link it planted (a link's target is rebuilt from its real path), so nothing
    is created outside ``root``.
    """
    here = ""
    parts = [part for part in path.split("/") if part not in ("", ".")]
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        if part == "..":
            here = os.path.dirname(here) if here else ""
            continue
        host = f"{here}/{part}"
        inside = root + host
        if os.path.islink(host):
            if not os.path.lexists(inside):
                os.symlink(os.readlink(host), inside)
            here = plant(root, os.path.realpath(host), is_file and last)
            continue
        if not os.path.lexists(inside):
            if last and is_file:
                os.close(os.open(inside, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW, 0o644))
            else:
                os.mkdir(inside, 0o755)
        elif os.path.islink(inside) or not (os.path.isfile(inside) if last and is_file else os.path.isdir(inside)):
            raise SetupError(f"cannot rebuild {path} in the new root")
        here = host
    return here or "/"


def bind_readonly(libc: Any, source: str, target: str) -> None:
    """Bind ``source`` at ``target``, then make that mount read-only, nosuid, nodev."""
    mount(libc, source, target, None, MS_BIND)
    kept = os.statvfs(source).f_flag
    flags = MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV
    flags |= kept & (MS_NOEXEC | MS_NOATIME | MS_NODIRATIME) | (MS_RELATIME if kept & ST_RELATIME else 0)
    mount(libc, None, target, None, flags)


def enter_python_view(libc: Any, new_root: str, workdir: str, disk_bytes: int, layers: list[str]) -> None:
    """Make a fresh root at ``new_root`` with only what Python needs, then ``pivot_root`` into it."""
    number = PIVOT_ROOT.get(platform.machine())
    if number is None:
        raise SetupError(f"no pivot_root number known for {platform.machine()}")
    mount(libc, None, "/", None, MS_REC | MS_PRIVATE)  # nothing below propagates to the host
    mount(libc, "tmpfs", new_root, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,nr_inodes=4096,mode=0755")
    for path in python_paths():
        is_file = os.path.isfile(path)
        real = plant(new_root, path, is_file)
        bind_readonly(libc, real, new_root + real)
        hidden = os.path.join(real, "site-packages")
        if not is_file and os.path.isdir(hidden) and not os.path.islink(hidden):
            mount(libc, "tmpfs", new_root + hidden, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=4k")
    work = plant(new_root, workdir)
    work_tmpfs(libc, new_root + work, disk_bytes)
    layers.append("private-tmp")
    for name in ("dev", "proc"):
        os.mkdir(f"{new_root}/{name}", 0o755)
    minimal_dev(libc, f"{new_root}/dev")
    layers.append("minimal-dev")
    mount(libc, "proc", f"{new_root}/proc", "proc", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)
    for entry in os.scandir("/"):  # /lib -> usr/lib and the like, for paths that go through them
        if entry.is_symlink() and not os.path.lexists(f"{new_root}/{entry.name}"):
            os.symlink(os.readlink(entry.path), f"{new_root}/{entry.name}")
    os.chdir(new_root)
    if libc.syscall(number, b".", b".") != 0:
        raise SetupError(f"pivot_root: {os.strerror(ctypes.get_errno())}")
    libc_call(libc, "umount2", b".", MNT_DETACH)  # the old root, stacked on the new one
    os.chdir("/")
    mount(libc, None, "/", None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
    if os.path.lexists("/etc/passwd"):  # never one of the paths above: the old root would still show
        raise SetupError("the host's files are still visible after pivot_root")
    layers += ["python-only-fs", "readonly-fs"]
