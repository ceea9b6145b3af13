"""The sandbox's seccomp filter: the kernel refuses what a confined program must not do.

A classic-BPF program, installed with ``prctl(PR_SET_SECCOMP)`` after ``no_new_privs``; it cannot
be removed. Refused with ``EPERM``:

- new processes and programs: ``fork``, ``vfork``, ``clone`` without ``CLONE_THREAD`` (threads
  are allowed), ``execve``, ``execveat`` (``clone3``, whose flags a filter cannot read, answers
  ``ENOSYS`` so that libc falls back to ``clone``);
- the network: ``socket``, ``socketpair``;
- other processes: ``ptrace``, ``process_vm_readv``/``writev``, ``kcmp``, ``process_madvise``,
  ``process_mrelease``, ``migrate_pages``, ``move_pages``, ``pidfd_open``/``send_signal``,
  ``tkill``, ``setpriority``, ``ioprio_set`` (they act on a whole user or group too), and, when
  the target is not this process, ``kill``, ``tgkill``, ``rt_sigqueueinfo``,
  ``rt_tgsigqueueinfo`` (target = this pid), ``prlimit64``, ``sched_setaffinity``,
  ``sched_setscheduler``, ``sched_setparam``, ``sched_setattr`` (target = 0 or this pid);
- the system: mounts, ``pivot_root``, ``chroot``, ``unshare``, ``setns``, ``bpf``,
  ``userfaultfd``, ``perf_event_open``, keyrings, ``io_uring``;
- special files: hard and symbolic links, ``mknod``.

A foreign architecture's calls (i386 or x32 on x86-64) kill the process. Tables for x86-64 and
aarch64 (the generic table); elsewhere there is no filter and the layer is not reported.

Part of the sandbox's child: standard library only (``python -I -S``).
"""

from __future__ import annotations

import ctypes
import os
import platform
import struct
from typing import Any

from ponder.sandbox._child_sys import PR_SET_SECCOMP, libc_call

SECCOMP_MODE_FILTER = 2
CLONE_THREAD = 0x00010000

# Syscall numbers from the kernel's unistd tables: x86-64, and the generic table of aarch64.
ARCHES: dict[str, tuple[int, dict[str, int]]] = {
    "x86_64": (
        0xC000003E,
        {
            "fork": 57,
            "vfork": 58,
            "execve": 59,
            "execveat": 322,
            "socket": 41,
            "socketpair": 53,
            "ptrace": 101,
            "process_vm_readv": 310,
            "process_vm_writev": 311,
            "kcmp": 312,
            "process_madvise": 440,
            "process_mrelease": 448,
            "migrate_pages": 256,
            "move_pages": 279,
            "setpriority": 141,
            "ioprio_set": 251,
            "io_uring_setup": 425,
            "tkill": 200,
            "bpf": 321,
            "userfaultfd": 323,
            "perf_event_open": 298,
            "keyctl": 250,
            "add_key": 248,
            "request_key": 249,
            "mount": 165,
            "umount2": 166,
            "unshare": 272,
            "setns": 308,
            "pivot_root": 155,
            "chroot": 161,
            "pidfd_send_signal": 424,
            "pidfd_open": 434,
            "mknod": 133,
            "mknodat": 259,
            "link": 86,
            "linkat": 265,
            "symlink": 88,
            "symlinkat": 266,
            "clone": 56,
            "clone3": 435,
            "kill": 62,
            "tgkill": 234,
            "rt_sigqueueinfo": 129,
            "rt_tgsigqueueinfo": 297,
            "prlimit64": 302,
            "sched_setparam": 142,
            "sched_setscheduler": 144,
            "sched_setaffinity": 203,
            "sched_setattr": 314,
        },
    ),
    "aarch64": (
        0xC00000B7,
        {
            "execve": 221,
            "execveat": 281,
            "socket": 198,
            "socketpair": 199,
            "ptrace": 117,
            "process_vm_readv": 270,
            "process_vm_writev": 271,
            "kcmp": 272,
            "process_madvise": 440,
            "process_mrelease": 448,
            "migrate_pages": 238,
            "move_pages": 239,
            "setpriority": 140,
            "ioprio_set": 30,
            "io_uring_setup": 425,
            "tkill": 130,
            "bpf": 280,
            "userfaultfd": 282,
            "perf_event_open": 241,
            "keyctl": 219,
            "add_key": 217,
            "request_key": 218,
            "mount": 40,
            "umount2": 39,
            "unshare": 97,
            "setns": 268,
            "pivot_root": 41,
            "chroot": 51,
            "pidfd_send_signal": 424,
            "pidfd_open": 434,
            "mknodat": 33,
            "linkat": 37,
            "symlinkat": 36,
            "clone": 220,
            "clone3": 435,
            "kill": 129,
            "tgkill": 131,
            "rt_sigqueueinfo": 138,
            "rt_tgsigqueueinfo": 240,
            "prlimit64": 261,
            "sched_setparam": 118,
            "sched_setscheduler": 119,
            "sched_setaffinity": 122,
            "sched_setattr": 274,
        },
    ),
}
OWN_TARGET = ("kill", "tgkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo")  # first argument must be this pid
SELF_OR_OWN = ("prlimit64", "sched_setparam", "sched_setscheduler", "sched_setaffinity", "sched_setattr")
SPECIAL_SYSCALLS = ("clone", "clone3", *OWN_TARGET, *SELF_OR_OWN)

ALLOW, KILL_PROCESS = 0x7FFF0000, 0x80000000
DENY, ENOSYS = 0x00050000 | 1, 0x00050000 | 38  # SECCOMP_RET_ERRNO | EPERM, | ENOSYS


def seccomp_program(arch: int, numbers: dict[str, int], own_pid: int) -> bytes:
    """The filter for one architecture as ``struct sock_filter`` records (see the module docstring)."""
    ld_abs, jeq, jset, jge, ret = 0x20, 0x15, 0x45, 0x35, 0x06
    code: list[tuple[int, Any, Any, int]] = []  # (op, true label, false label, k)
    labels: dict[str, int] = {}

    def emit(op: int, k: int, true: Any = 0, false: Any = 0) -> None:
        code.append((op, true, false, k))

    def label(name: str) -> None:
        labels[name] = len(code)

    emit(ld_abs, 4)  # arch
    emit(jeq, arch, 1, 0)
    emit(ret, KILL_PROCESS)
    emit(ld_abs, 0)  # syscall number
    if arch == ARCHES["x86_64"][0]:
        emit(jge, 0x40000000, "deny", 0)  # x32 ABI
    for name, number in numbers.items():
        if name not in SPECIAL_SYSCALLS:
            emit(jeq, number, "deny", 0)
    emit(jeq, numbers["clone"], "clone", 0)
    emit(jeq, numbers["clone3"], "enosys", 0)
    for name in OWN_TARGET:
        emit(jeq, numbers[name], "own", 0)
    for name in SELF_OR_OWN:
        emit(jeq, numbers[name], "self", 0)
    emit(ret, ALLOW)
    label("clone")
    emit(ld_abs, 16)  # args[0], low word: clone flags
    emit(jset, CLONE_THREAD, "allow", "deny")
    label("self")
    emit(ld_abs, 16)  # args[0], low word: the target pid, 0 meaning the caller
    emit(jeq, 0, "allow", "check")
    label("own")
    emit(ld_abs, 16)
    label("check")
    emit(jeq, own_pid, "allow", "deny")
    label("enosys")
    emit(ret, ENOSYS)
    label("allow")
    emit(ret, ALLOW)
    label("deny")
    emit(ret, DENY)
    out = b""
    for index, (op, true, false, k) in enumerate(code):
        jt = labels[true] - index - 1 if isinstance(true, str) else true
        jf = labels[false] - index - 1 if isinstance(false, str) else false
        out += struct.pack("HBBI", op, jt, jf, k)
    return out


def install_seccomp(libc: Any) -> bool:
    """Install the filter for this machine's architecture; False where none is known."""
    known = ARCHES.get(platform.machine())
    if known is None:
        return False
    program = seccomp_program(known[0], known[1], os.getpid())
    filters = ctypes.create_string_buffer(program, len(program))

    class Program(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    fprog = Program(len(program) // 8, ctypes.cast(filters, ctypes.c_void_p))
    libc_call(libc, "prctl", PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(fprog), 0, 0)
    return True
