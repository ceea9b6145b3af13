"""Running untrusted Python (a model's program, a candidate and its unit tests) in a confined process.

``run_python(code, stdin=..., limits=..., isolation=..., filesystem=...)`` writes the code to a
fresh temporary directory, starts ``python -I -S -B -X utf8`` on
:mod:`ponder.sandbox._sandbox_child` there (isolated mode: no environment variables, no
site-packages, no user site, no script directory on the path; no bytecode files; UTF-8 I/O) in
a new session with a minimal environment (``PATH``, ``HOME`` and ``TMPDIR`` = the working
directory, a UTF-8 locale; no proxies, no credentials), feeds it ``stdin``, reads stdout and
stderr as they come, and ends with a :class:`SandboxResult`:

- ``ok``: exit status 0;
- ``error``: the program failed (uncaught exception, nonzero exit, killed by a signal, its own
  included: ``os.kill(os.getpid(), SIGKILL)`` reads ``killed by SIGKILL``); ``reason`` is the
  last line of its traceback (e.g. ``AssertionError``, ``RecursionError: maximum recursion depth
  exceeded``, ``PermissionError: sandbox: os.fork is not allowed``). The traceback is capped
  (50 innermost frames, 16 KiB) so that a million-frame recursion is reported at once;
- ``timeout``: the wall-clock limit passed (the whole process group is killed with SIGKILL) or
  the CPU limit did (the kernel kills it);
- ``limit``: stdout + stderr passed the output cap (the group is killed at once, and exactly
  ``output_bytes`` are kept), the address space limit ended in ``MemoryError``, or a file
  passed the file-size limit.

A program's failure is a result, never an exception; :class:`SandboxError` means the sandbox
itself could not run (no interpreter, or ``isolation="namespaces"`` or the ``python-only``
filesystem on a machine that cannot provide namespaces).

What is protected, and by what (``SandboxResult.isolation`` names the layers a run actually got;
on this project's Linux machines, running as root, all of them):

- **Runaway time and memory**: RLIMIT_CPU (kernel SIGKILL), wall-clock timeout (SIGKILL to the
  process group), RLIMIT_AS (allocation fails with MemoryError), RLIMIT_FSIZE, RLIMIT_NOFILE, no
  core dumps, and an output cap enforced while reading. Always.
- **Child processes** (fork, subprocess, os.system, exec, multiprocessing, fork bombs): refused
  by a seccomp filter in the kernel (``fork``/``vfork``/``clone`` of a process/``execve`` fail with
  EPERM; threads still work) and by the in-process guard (PermissionError). With ``namespaces``
  the program is PID 2 of its own PID namespace under a small init, so anything it might still
  start dies with it. RLIMIT_NPROC is not used: the kernel does not apply it to root, and for
  other users it counts all their processes, so it cannot mean "no children" here.
- **Network**: ``socket``/``socketpair`` fail in the seccomp filter and the guard; with
  ``namespaces`` the process also lives in an empty network namespace (loopback down), so not
  even a socket inherited or created another way reaches anything, 127.0.0.1 included.
- **Writes outside the working directory**: with ``namespaces`` every mount is read-only in the
  program's private mount namespace and the working directory is a fresh tmpfs capped at
  ``disk_bytes`` (nothing the program writes reaches the host's disk), ``/dev`` holds only
  null/zero/full/random/urandom, ``/proc`` shows only the program's namespace, and root has no
  capabilities left (it cannot remount, write through read-only mounts, load modules, ...).
  In every mode Landlock (where the kernel has it: Linux 5.13+) makes the kernel refuse any
  write, creation, deletion, rename, link or truncation outside the working directory,
  whatever code makes it (``sqlite3``, ``readline``, an extension module), ``/tmp`` included
  (``TMPDIR`` points into the working directory). Without namespaces and Landlock what remains
  is the guard (writes, creations, deletions, renames, permission changes and SQLite databases
  outside the working directory) and seccomp (links, ``mknod``): this holds against ordinary
  code, but a determined program inside the interpreter can get past an in-process guard.
- **Other processes**: seccomp refuses ``ptrace``, ``process_vm_*``, ``kcmp``, ``pidfd_*``,
  ``tkill``, ``setpriority``, ``ioprio_set``, signals (``kill``, ``tgkill``,
  ``rt_sigqueueinfo``, ``rt_tgsigqueueinfo``) to any process but itself, and ``prlimit64`` and
  ``sched_set*`` on any but itself; Landlock (ABI 6+) scopes signals to the sandbox too; the
  guard repeats ``kill``/``prlimit`` refusals; with namespaces nothing else is even visible.
- **Reading the host's files** (``filesystem="python-only"``, :mod:`ponder.sandbox.view`): the
  program sees a fresh root with only the interpreter's standard library and shared libraries,
  a minimal ``/dev``, its ``/proc`` and the working directory; no ``/etc``, home directories,
  repository or host ``/tmp``. It needs namespaces and refuses to run without them.

What is not protected:

- **Reading**, in the default ``host`` view: the program can read any file its user can read
  (as root without capabilities, files owned by root). With namespaces nothing can leave except
  through its capped stdout/stderr, which is exactly how it leaves when a server returns the
  program's output to a client: use ``python-only`` for programs clients can trigger.
- **The same user**: the program runs as the calling user (root here, without capabilities).
  Without namespaces (not root, or a container that forbids ``unshare``) process protection
  rests on seccomp and the guard, filesystem protection on Landlock and the guard.
- **CPU and memory of the machine**: limits are per process (one process, since it cannot fork;
  its threads share the limits); concurrency is the caller's to bound.
- **Architectures**: the seccomp filter is built for x86-64 and aarch64 only.

The brief suggested ``preexec_fn`` for the limits; the confinement happens instead at the start
of the child, before any untrusted code, because ``preexec_fn`` is unsafe in a process with
threads (the verifiers run sandboxes from a thread pool).

No module-level state: every call makes its own directory, pipes and process (the default
filesystem view is a context variable, :data:`ponder.sandbox.view.FILESYSTEM`).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Literal

from ponder.core.errors import InvalidInputError, PonderError
from ponder.sandbox.proctree import tree_cpu_seconds
from ponder.sandbox.streams import Collected, drain, pump
from ponder.sandbox.view import FILESYSTEM, Filesystem, check_filesystem

Status = Literal["ok", "error", "timeout", "limit"]
Isolation = Literal["auto", "namespaces", "process"]
"""``auto``: every layer this machine allows; ``namespaces``: fail (SandboxError) unless the
namespace layers work; ``process``: no namespaces (rlimits, Landlock, seccomp, guard only)."""

SANDBOX_DIR = Path(__file__).resolve().parent
# Runs the child (ponder.sandbox._sandbox_child) without importing ponder's __init__ (nor
# anything outside the standard library): ``ponder`` and ``ponder.sandbox`` become bare packages.
BOOT = (
    "import sys, types\n"
    "ponder, package = types.ModuleType('ponder'), types.ModuleType('ponder.sandbox')\n"
    f"ponder.__path__, package.__path__ = [], [{str(SANDBOX_DIR)!r}]\n"
    "ponder.sandbox = package\n"
    "sys.modules.update({'ponder': ponder, 'ponder.sandbox': package})\n"
    "from ponder.sandbox._sandbox_child import main\n"
    "main(sys.argv)\n"
)
_POLL_SECONDS = 0.002


class SandboxError(PonderError):
    """The sandbox could not run a program at all (as opposed to the program failing)."""


@dataclass(frozen=True)
class SandboxLimits:
    """How much one sandboxed run may use.

    ``wall_seconds``: real time before the process group is killed; ``cpu_seconds``: CPU time
    before the kernel kills it; ``memory_bytes``: address space (allocations past it raise
    MemoryError); ``output_bytes``: stdout + stderr together, exactly (the bytes returned never
    exceed it; see :mod:`ponder.sandbox.streams`); ``file_bytes``: the largest file
    it may write; ``disk_bytes``: the size of its private working tmpfs (namespaces only);
    ``open_files``: file descriptors.
    """

    wall_seconds: float = 10.0
    cpu_seconds: int = 10
    memory_bytes: int = 512 * 2**20
    output_bytes: int = 64 * 2**10
    file_bytes: int = 8 * 2**20
    disk_bytes: int = 32 * 2**20
    open_files: int = 64

    def __post_init__(self) -> None:
        for field in fields(self):
            if not getattr(self, field.name) > 0:
                raise InvalidInputError(f"sandbox limit {field.name} must be positive")


@dataclass(frozen=True)
class SandboxResult:
    """How a sandboxed run ended, what it printed, and which isolation layers it had.

    ``returncode`` is the exit status, negative for a signal (-9 after any kill for a limit);
    ``cpu_seconds`` the CPU time the program used (measured before a kill for a limit, so a
    wall-clock timeout reports what the program burnt).
    """

    status: Status
    stdout: str
    stderr: str
    returncode: int
    seconds: float
    reason: str | None = None
    isolation: tuple[str, ...] = ()
    cpu_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """True when the program exited with status 0 within every limit."""
        return self.status == "ok"


def run_python(
    code: str,
    *,
    stdin: str = "",
    limits: SandboxLimits = SandboxLimits(),
    isolation: Isolation = "auto",
    filesystem: Filesystem | None = None,
) -> SandboxResult:
    """Run ``code`` as a Python program in the sandbox; never raises for the program's faults.

    ``filesystem``: ``host`` or ``python-only`` (see :mod:`ponder.sandbox.view`); ``None`` takes
    the context's :data:`~ponder.sandbox.view.FILESYSTEM` (``host`` unless set).
    """
    if isolation not in ("auto", "namespaces", "process"):
        raise InvalidInputError(f"unknown sandbox isolation {isolation!r}: auto, namespaces or process")
    view = check_filesystem(FILESYSTEM.get() if filesystem is None else filesystem)
    if view == "python-only" and isolation == "process":
        raise InvalidInputError("the python-only sandbox filesystem needs namespaces: not isolation='process'")
    with tempfile.TemporaryDirectory(prefix="ponder-sandbox-", ignore_cleanup_errors=True) as tmp:
        root = Path(tmp)
        workdir = root / "work"
        workdir.mkdir()
        (root / "view").mkdir()
        program = root / "program.py"
        program.write_text(code, encoding="utf-8", errors="replace")
        report_read, report_write = os.pipe()
        config = {
            "workdir": str(workdir),
            "program": str(program),
            "report_fd": report_write,
            "isolation": isolation,
            "filesystem": view,
            "view_root": str(root / "view"),
            "cpu_seconds": math.ceil(limits.cpu_seconds),
            "memory_bytes": limits.memory_bytes,
            "file_bytes": limits.file_bytes,
            "disk_bytes": limits.disk_bytes,
            "open_files": limits.open_files,
        }
        started = time.monotonic()
        try:
            proc = _spawn(config, workdir, report_write)
        except BaseException:
            os.close(report_read)
            raise
        finally:
            os.close(report_write)
        try:
            collected = pump(
                proc, stdin.encode("utf-8", "replace"), report_read, started + limits.wall_seconds, limits.output_bytes
            )
            burnt = 0.0
            if collected.stopped is not None:
                burnt = _kill_group(proc.pid)
            returncode, cpu, expired = _reap(proc, started + limits.wall_seconds, burnt)
            drain(report_read, collected.report)
        finally:
            if proc.returncode is None:  # interrupted: leave nothing running
                _kill_group(proc.pid)
                proc.wait()
            os.close(report_read)
            for stream in (proc.stdin, proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()
        seconds = time.monotonic() - started
    if expired:
        collected.stopped = collected.stopped or "timeout"
    layers = _read_report(collected, limits)
    stdout = collected.stdout.decode("utf-8", "replace")
    stderr = collected.stderr.decode("utf-8", "replace")
    status, reason = _classify(collected.stopped, returncode, cpu, stderr, limits)
    return SandboxResult(status, stdout, stderr, returncode, seconds, reason, layers, cpu)


def isolation_layers(isolation: Isolation = "auto", filesystem: Filesystem | None = None) -> tuple[str, ...]:
    """The layers a sandboxed run gets on this machine (runs an empty program to find out)."""
    return run_python("", isolation=isolation, filesystem=filesystem).isolation


def _spawn(config: dict[str, object], workdir: Path, report_write: int) -> subprocess.Popen[bytes]:
    """Start the child in its own session with a minimal environment."""
    if not sys.executable:
        raise SandboxError("no Python interpreter to run the sandbox with")
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(workdir),
        "TMPDIR": str(workdir),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
    }
    argv = [sys.executable, "-I", "-S", "-B", "-X", "utf8", "-c", BOOT, json.dumps(config)]
    try:
        return subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=workdir,
            env=env,
            start_new_session=True,
            pass_fds=(report_write,),
        )
    except OSError as exc:
        raise SandboxError(f"cannot start the sandbox interpreter: {exc}") from exc


def _reap(proc: subprocess.Popen[bytes], deadline: float, burnt: float = 0.0) -> tuple[int, float, bool]:
    """Wait for the child until the deadline, killing it then: exit code, CPU seconds (at least
    ``burnt``, what the tree had used when it was killed), expired."""
    expired = False
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() >= deadline:
            burnt = max(burnt, _kill_group(proc.pid))  # a second kill (the first was before the reap) reads less
            expired = True
            pid, status, usage = os.wait4(proc.pid, 0)
            break
        time.sleep(_POLL_SECONDS)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, max(usage.ru_utime + usage.ru_stime, burnt), expired


def _kill_group(pgid: int) -> float:
    """SIGKILL the child's process group (its session leader's pid is the group id); only
    before the child is reaped, while its pid cannot belong to another process. Returns the
    CPU seconds the child and its descendants had used (read just before)."""
    burnt = tree_cpu_seconds(pgid)
    for kill, target in ((os.killpg, pgid), (os.kill, pgid)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            kill(target, signal.SIGKILL)
    return burnt


def _read_report(collected: Collected, limits: SandboxLimits) -> tuple[str, ...]:
    """The isolation layers the child reported; SandboxError if it never got ready."""
    for line in collected.report.decode("utf-8", "replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if "ready" in record:
            return tuple(record["ready"])
        if "error" in record:
            raise SandboxError(f"the sandbox could not be set up: {record['error']}")
    tail = collected.stderr.decode("utf-8", "replace").strip().splitlines()[-1:]
    raise SandboxError("the sandbox did not start" + (f": {tail[0]}" if tail else ""))


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def _classify(
    stopped: str | None, returncode: int, cpu: float, stderr: str, limits: SandboxLimits
) -> tuple[Status, str | None]:
    """Status and reason from how reading stopped, the exit code, CPU used and the traceback."""
    if stopped == "output":
        return "limit", f"output passed the {limits.output_bytes}-byte limit"
    if stopped == "timeout":
        return "timeout", f"wall-clock limit of {limits.wall_seconds:g} s"
    if returncode == 0:
        return "ok", None
    if returncode < 0:
        number = -returncode
        if number in (signal.SIGKILL, signal.SIGXCPU) and cpu >= limits.cpu_seconds - 0.05:
            return "timeout", f"CPU time limit of {limits.cpu_seconds} s"
        if number == signal.SIGXFSZ:
            return "limit", f"file size limit of {limits.file_bytes} bytes"
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = f"signal {number}"
        return "error", f"killed by {name}"
    last = _last_line(stderr)
    if last.startswith("MemoryError"):
        return "limit", f"memory limit of {limits.memory_bytes // 2**20} MiB (MemoryError)"
    if "[Errno 27]" in last:  # EFBIG: a file passed RLIMIT_FSIZE
        return "limit", f"file size limit of {limits.file_bytes} bytes ({last})"
    return "error", last or f"exit status {returncode}"
