"""The inside of the sandbox: confines the process it runs in, then runs one untrusted program.

:mod:`ponder.sandbox.sandbox` starts this file as a script, never imports it:
``python -I -S -B -X utf8 _sandbox_child.py CONFIG_JSON``, with the working directory already
made and the program's source in a file beside it. It uses the standard library only (``-S``:
no site-packages, ``-I``: no environment variables, no user site, no script directory on
``sys.path``).

The steps, in order (each one that succeeds is named in the ``ready`` report, see below):

1. ``namespaces``: ``unshare`` new mount, network, PID, IPC and UTS namespaces (needs root or
   ``CAP_SYS_ADMIN``; in ``auto`` mode a refusal is not an error, the layer is simply absent).
   The process then forks: the parent stays outside the new PID namespace only to wait and
   relay the exit status; the child is PID 1 of the namespace, with ``PDEATHSIG=SIGKILL``, so
   when the parent is killed the child dies, and when the child dies the kernel kills every
   process left in the namespace. The network namespace has only a loopback device, down.
2. ``readonly-fs``: every mount is made private, then remounted read-only; ``private-tmp``: the
   working directory becomes a fresh, size-capped tmpfs (the only writable place); ``minimal-dev``:
   ``/dev`` becomes a tmpfs holding only null, zero, full, random and urandom; ``/proc`` is a
   fresh procfs of the new PID namespace.
3. ``no-capabilities``: when running as root, every capability is dropped (bounding, ambient,
   effective, permitted, inheritable), so root cannot remount, write through read-only mounts,
   load modules or act on other users' processes. ``no_new_privs`` is always set.
4. ``rlimits``: CPU seconds (hard: the kernel kills), address space, file size, open files,
   no core dumps.
5. ``seccomp`` (x86-64 and aarch64): a kernel filter that fails ``fork``, ``vfork``, ``clone``
   of a new process (threads are allowed), ``execve``, ``socket``, ``socketpair``, ``ptrace``,
   ``kill`` of any process but itself, links, ``mknod``, mounts, namespaces, ``bpf``,
   ``io_uring`` and the like with ``EPERM``. It cannot be removed once installed.
6. ``guard``: a Python audit hook (cannot be removed from Python) that raises
   ``PermissionError`` for subprocesses, sockets, ``ctypes``, sub-interpreters, ``chdir``, and
   any write, create, delete, rename or permission change outside the working directory; it
   gives readable errors where the kernel layers would give bare ``EPERM``/``EROFS`` and is the
   only filesystem protection when namespaces are absent. It is in-process, so a determined
   program can get around it; the layers above do not depend on it.

The report: newline-delimited JSON records written to the file descriptor named in the config,
``{"ready": [layers...]}`` just before the program starts (the descriptor is closed then), or
``{"error": "..."}`` when a required layer could not be set up. No record means the sandbox
itself broke.

The program runs as module ``__main__`` from the file name ``main.py``; an uncaught exception
prints a traceback of the program's own frames and exits with status 1.
"""

from __future__ import annotations

import builtins
import ctypes
import io
import json
import linecache
import os
import platform
import re
import resource
import signal
import struct
import sys
import traceback
import types
from collections.abc import Callable
from typing import Any, NoReturn

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
CLONE_THREAD = 0x00010000

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
MOUNT_OPTION_FLAGS = {
    "nosuid": MS_NOSUID,
    "nodev": MS_NODEV,
    "noexec": MS_NOEXEC,
    "noatime": 1024,
    "nodiratime": 2048,
    "relatime": 1 << 21,
}

PR_SET_PDEATHSIG, PR_SET_SECCOMP, PR_CAPBSET_DROP = 1, 22, 24
PR_SET_NO_NEW_PRIVS, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 38, 47, 4
SECCOMP_MODE_FILTER = 2
LINUX_CAPABILITY_VERSION_3 = 0x20080522

# Syscall numbers (from the kernel's unistd tables): x86-64, and the generic table of aarch64.
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
        },
    ),
}
SPECIAL_SYSCALLS = ("clone", "clone3", "kill", "tgkill")

RESERVE_BYTES = 4 << 20  # freed on MemoryError so that the traceback can still be printed


class SetupError(Exception):
    """A confinement step failed."""


def libc_call(libc: Any, name: str, *args: Any) -> None:
    """Call a libc function; raise :class:`SetupError` with errno's message when it fails."""
    if getattr(libc, name)(*args) != 0:
        raise SetupError(f"{name}: {os.strerror(ctypes.get_errno())}")


def enter_namespaces(libc: Any) -> None:
    """New mount, network, PID, IPC and UTS namespaces for this process (PID: for its children)."""
    libc_call(libc, "unshare", CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS)


def become_pid_one(libc: Any, report_fd: int) -> None:
    """Fork into the new PID namespace; the parent waits and exits as the child did."""
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        os.close(report_fd)
        relay_exit(pid)
    libc_call(libc, "prctl", PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def relay_exit(pid: int) -> NoReturn:
    """Wait for ``pid`` and end this process the same way: same exit code, or same signal."""
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        if number not in (signal.SIGKILL, signal.SIGSTOP):
            signal.signal(number, signal.SIG_DFL)
        os.kill(os.getpid(), number)
        os._exit(128 + number)  # only if that signal does not end a process
    os._exit(os.waitstatus_to_exitcode(status))


def mount(libc: Any, source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    """``mount(2)``; raise :class:`SetupError` on failure."""

    def encode(text: str | None) -> bytes | None:
        return None if text is None else os.fsencode(text)

    libc_call(libc, "mount", encode(source), encode(target), encode(fstype), ctypes.c_ulong(flags), encode(data))


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


def confine_filesystem(libc: Any, workdir: str, disk_bytes: int, layers: list[str]) -> None:
    """Everything read-only but a fresh tmpfs at ``workdir``; a minimal ``/dev``; own ``/proc``."""
    mount(libc, None, "/", None, MS_REC | MS_PRIVATE)  # nothing below propagates to the host
    mount(libc, "tmpfs", workdir, "tmpfs", MS_NOSUID | MS_NODEV, f"size={disk_bytes},nr_inodes=4096,mode=0700")
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
    mount(libc, "tmpfs", "/dev", "tmpfs", MS_NOSUID | MS_NOEXEC, "size=64k,nr_inodes=64,mode=0755")
    for name, minor in (("null", 3), ("zero", 5), ("full", 7), ("random", 8), ("urandom", 9)):
        path = f"/dev/{name}"
        device = ctypes.c_ulong(os.makedev(1, minor))
        libc_call(libc, "mknod", os.fsencode(path), ctypes.c_uint(0o020666), device)
        os.chmod(path, 0o666)
    for name, target in (
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ):
        os.symlink(target, f"/dev/{name}")
    mount(libc, None, "/dev", None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NOEXEC)
    layers.append("minimal-dev")
    mount(libc, "proc", "/proc", "proc", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)


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


def set_limits(config: dict[str, Any]) -> None:
    """The resource limits; CPU soft = hard, so the kernel kills (SIGKILL) at the limit."""
    cpu = int(config["cpu_seconds"])
    for limit, value in (
        (resource.RLIMIT_CPU, cpu),
        (resource.RLIMIT_AS, config["memory_bytes"]),
        (resource.RLIMIT_FSIZE, config["file_bytes"]),
        (resource.RLIMIT_NOFILE, config["open_files"]),
        (resource.RLIMIT_CORE, 0),
    ):
        resource.setrlimit(limit, (value, value))


def seccomp_program(arch: int, numbers: dict[str, int], own_pid: int) -> bytes:
    """A classic-BPF seccomp filter: deny the listed syscalls with EPERM, allow the rest.

    ``clone`` is allowed only with ``CLONE_THREAD`` (threads, not processes); ``clone3``, whose
    flags the filter cannot read, answers ENOSYS so that libc falls back to ``clone``; ``kill``
    and ``tgkill`` only for this process. A foreign architecture (i386 or x32 calls) is killed.
    """
    ld_abs, jeq, jset, jge, ret = 0x20, 0x15, 0x45, 0x35, 0x06
    allow, kill = 0x7FFF0000, 0x80000000
    deny, enosys = 0x00050000 | 1, 0x00050000 | 38
    code: list[tuple[int, Any, Any, int]] = []  # (op, true label, false label, k)
    labels: dict[str, int] = {}

    def emit(op: int, k: int, true: Any = 0, false: Any = 0) -> None:
        code.append((op, true, false, k))

    def label(name: str) -> None:
        labels[name] = len(code)

    emit(ld_abs, 4)  # arch
    emit(jeq, arch, 1, 0)
    emit(ret, kill)
    emit(ld_abs, 0)  # syscall number
    if arch == ARCHES["x86_64"][0]:
        emit(jge, 0x40000000, "deny", 0)  # x32 ABI
    for name, number in numbers.items():
        if name not in SPECIAL_SYSCALLS:
            emit(jeq, number, "deny", 0)
    emit(jeq, numbers["clone"], "clone", 0)
    emit(jeq, numbers["clone3"], "enosys", 0)
    emit(jeq, numbers["kill"], "own", 0)
    emit(jeq, numbers["tgkill"], "own", 0)
    emit(ret, allow)
    label("clone")
    emit(ld_abs, 16)  # args[0], low word: clone flags
    emit(jset, CLONE_THREAD, "allow", "deny")
    label("own")
    emit(ld_abs, 16)  # args[0], low word: the target pid
    emit(jeq, own_pid, "allow", "deny")
    label("enosys")
    emit(ret, enosys)
    label("allow")
    emit(ret, allow)
    label("deny")
    emit(ret, deny)
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


def make_guard(workdir: str) -> Callable[[str, tuple[Any, ...]], None]:
    """The audit hook: no processes, sockets, ctypes or writes outside ``workdir``.

    Everything it calls is bound here, and paths are resolved with C-level functions only
    (``os.lstat``, ``os.readlink``, string methods), so that a program cannot disarm it by
    patching ``os``, ``posixpath`` or builtins.
    """
    root = os.path.realpath(workdir)
    prefix = root + "/"
    lstat, stat, readlink, fspath, getpid = os.lstat, os.stat, os.readlink, os.fspath, os.getpid
    type_, any_, str_, bool_, len_ = type, any, str, bool, len
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


def run_program(source: str) -> NoReturn:
    """Run ``source`` as ``__main__`` (file name ``main.py``) and exit as Python would."""
    reserve = bytearray(RESERVE_BYTES)
    main = types.ModuleType("__main__")
    main.__dict__["__builtins__"] = builtins
    main.__dict__["__file__"] = "main.py"
    sys.modules["__main__"] = main
    linecache.cache["main.py"] = (len(source), None, source.splitlines(True), "main.py")
    try:
        code = compile(source, "main.py", "exec")
        exec(code, main.__dict__)
    except SystemExit:
        raise
    except BaseException as exc:  # the program's failure, reported as Python would
        del reserve
        tb = exc.__traceback__.tb_next if exc.__traceback__ is not None else None
        if isinstance(exc, SyntaxError):
            tb = None
        try:
            traceback.print_exception(type(exc), exc, tb)
        except BaseException:
            os.write(2, f"{type(exc).__name__}\n".encode())
        sys.stderr.flush()
        os._exit(1)
    raise SystemExit(0)


def main(argv: list[str]) -> NoReturn:
    """Confine this process as the config says, report the layers, run the program."""
    config = json.loads(argv[1])
    report_fd: int = config["report_fd"]
    workdir: str = config["workdir"]
    isolation: str = config["isolation"]
    layers: list[str] = []

    def fail(message: str) -> NoReturn:
        os.write(report_fd, (json.dumps({"error": message}) + "\n").encode())
        os._exit(126)

    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    if isolation != "process":
        try:
            enter_namespaces(libc)
        except SetupError as exc:
            if isolation == "namespaces":
                fail(f"namespaces are not available: {exc}")
        else:
            become_pid_one(libc, report_fd)
            layers.append("namespaces")
            try:
                confine_filesystem(libc, workdir, int(config["disk_bytes"]), layers)
            except (SetupError, OSError) as exc:
                if isolation == "namespaces":
                    fail(f"cannot confine the filesystem: {exc}")
    try:
        libc_call(libc, "prctl", PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
        if os.geteuid() == 0:
            drop_capabilities(libc)
            layers.append("no-capabilities")
    except (SetupError, OSError) as exc:
        if isolation == "namespaces":
            fail(f"cannot drop privileges: {exc}")
    with open(config["program"], encoding="utf-8") as program:
        source = program.read()
    os.chdir(workdir)
    set_limits(config)
    layers.append("rlimits")
    try:
        if install_seccomp(libc):
            layers.append("seccomp")
    except SetupError as exc:
        if isolation == "namespaces":
            fail(f"cannot install the seccomp filter: {exc}")
    deny_unaudited()
    sys.addaudithook(make_guard(workdir))
    layers.append("guard")
    os.write(report_fd, (json.dumps({"ready": layers}) + "\n").encode())
    os.close(report_fd)
    builtins.exit = builtins.quit = sys.exit  # type: ignore[assignment]  # what site would add
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(line_buffering=True)
    del libc, config
    run_program(source)


if __name__ == "__main__":
    main(sys.argv)
