"""Kernel calls the inside of the sandbox makes through libc: mounts, device nodes, capabilities.

Part of the sandbox's child (see :mod:`ponder.sandbox._sandbox_child`): standard library only,
since it runs under ``python -I -S`` with no site-packages.
"""

from __future__ import annotations

import ctypes
import os
from typing import Any

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
MS_NOATIME, MS_NODIRATIME, MS_RELATIME = 1024, 2048, 1 << 21
MNT_DETACH = 2

PR_SET_PDEATHSIG, PR_SET_SECCOMP, PR_CAPBSET_DROP = 1, 22, 24
PR_SET_NO_NEW_PRIVS, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 38, 47, 4
LINUX_CAPABILITY_VERSION_3 = 0x20080522

DEVICES = (("null", 3), ("zero", 5), ("full", 7), ("random", 8), ("urandom", 9))


class SetupError(Exception):
    """A confinement step failed."""


def open_libc() -> Any:
    """The C library, with ``errno`` kept and ``prctl``'s arguments typed."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    return libc


def libc_call(libc: Any, name: str, *args: Any) -> None:
    """Call a libc function; raise :class:`SetupError` with errno's message when it fails."""
    if getattr(libc, name)(*args) != 0:
        raise SetupError(f"{name}: {os.strerror(ctypes.get_errno())}")


def mount(libc: Any, source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    """``mount(2)``; raise :class:`SetupError` on failure."""

    def encode(text: str | None) -> bytes | None:
        return None if text is None else os.fsencode(text)

    libc_call(libc, "mount", encode(source), encode(target), encode(fstype), ctypes.c_ulong(flags), encode(data))


def minimal_dev(libc: Any, dev: str) -> None:
    """A read-only tmpfs at ``dev`` holding only null, zero, full, random, urandom and the std links."""
    mount(libc, "tmpfs", dev, "tmpfs", MS_NOSUID | MS_NOEXEC, "size=64k,nr_inodes=64,mode=0755")
    for name, minor in DEVICES:
        path = f"{dev}/{name}"
        device = ctypes.c_ulong(os.makedev(1, minor))
        libc_call(libc, "mknod", os.fsencode(path), ctypes.c_uint(0o020666), device)
        os.chmod(path, 0o666)
    for name, target in (
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ):
        os.symlink(target, f"{dev}/{name}")
    mount(libc, None, dev, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NOEXEC)


class CapHeader(ctypes.Structure):
    """``struct __user_cap_header_struct``."""

    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class CapData(ctypes.Structure):
    """``struct __user_cap_data_struct``."""

    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def drop_capabilities(libc: Any) -> None:
    """Drop every capability, from the bounding set too, so that none can come back."""
    with open("/proc/sys/kernel/cap_last_cap", encoding="ascii") as last:
        last_cap = int(last.read())
    for cap in range(last_cap + 1):
        libc_call(libc, "prctl", PR_CAPBSET_DROP, cap, 0, 0, 0)
    libc_call(libc, "prctl", PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    libc_call(libc, "capset", ctypes.byref(CapHeader(LINUX_CAPABILITY_VERSION_3, 0)), (CapData * 2)())
