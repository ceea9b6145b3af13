"""The inside of the sandbox: confines the process it runs in, then runs one untrusted program.

:mod:`ponder.sandbox.sandbox` starts it with ``python -I -S -B -X utf8 -c BOOT CONFIG_JSON``,
with the working directory already made and the program's source in a file beside it. ``BOOT``
registers ``ponder`` and ``ponder.sandbox`` as bare packages (their ``__init__`` is not run) so
that this module and its ``_child_*`` helpers import each other by their usual names, then calls
:func:`main`. Standard library only (``-S``: no site-packages, ``-I``: no environment variables,
no user site, no script directory on ``sys.path``).

The steps, in order (each one that succeeds is named in the ``ready`` report, see below):

1. ``namespaces`` (:mod:`._child_procs`): ``unshare`` new mount, network, PID, IPC and UTS
   namespaces (needs root or ``CAP_SYS_ADMIN``; in ``auto`` mode with the host view a refusal is
   not an error, the layer is simply absent). The process forks: the relay outside the PID
   namespace, the init (PID 1) inside; after the mounts the init forks the program (PID 2). The
   network namespace has only a loopback device, down.
2. the filesystem view (:mod:`._child_fs`): ``host`` gives ``readonly-fs`` (every mount
   read-only), ``private-tmp`` (the working directory a fresh size-capped tmpfs, the only
   writable place), ``minimal-dev`` and the namespace's own ``/proc``; ``python-only`` adds
   ``python-only-fs``: a fresh root with only the interpreter's files (it requires the
   namespaces, and fails rather than fall back).
3. ``no-capabilities``: when running as root, every capability is dropped (bounding, ambient,
   effective, permitted, inheritable). ``no_new_privs`` is always set.
4. ``rlimits``: CPU seconds (hard: the kernel kills), address space, file size, open files,
   no core dumps.
5. ``landlock`` (:mod:`._child_landlock`): the kernel refuses writes outside the working
   directory (and, with ABI 6, signals to processes outside the sandbox).
6. ``seccomp`` (:mod:`._child_seccomp`, x86-64 and aarch64): a kernel filter refusing new
   processes, sockets, acting on other processes, mounts, namespaces and the like.
7. ``guard`` (:mod:`._child_guard`): a Python audit hook with readable refusals.

The report: newline-delimited JSON records written to the file descriptor named in the config,
``{"ready": [layers...]}`` just before the program starts (the descriptor is closed then), or
``{"error": "..."}`` when a required layer could not be set up. No record means the sandbox
itself broke.

The program runs as module ``__main__`` from the file name ``main.py`` (``sys.argv`` is
``["main.py"]``); an uncaught exception prints a traceback of the program's own frames, capped
in size (:mod:`._child_traceback`), and exits with status 1.
"""

from __future__ import annotations

import builtins
import io
import json
import linecache
import os
import resource
import sys
import types
from typing import Any, NoReturn

from ponder.sandbox._child_fs import confine_host_view, enter_python_view
from ponder.sandbox._child_guard import deny_unaudited, make_guard
from ponder.sandbox._child_landlock import restrict_writes
from ponder.sandbox._child_procs import become_init, enter_namespaces, start_program
from ponder.sandbox._child_seccomp import install_seccomp
from ponder.sandbox._child_sys import PR_SET_NO_NEW_PRIVS, SetupError, drop_capabilities, libc_call, open_libc
from ponder.sandbox._child_traceback import print_failure

RESERVE_BYTES = 4 << 20  # freed on MemoryError so that the traceback can still be printed


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


def run_program(source: str) -> NoReturn:
    """Run ``source`` as ``__main__`` (file name ``main.py``) and exit as Python would."""
    reserve = bytearray(RESERVE_BYTES)
    main = types.ModuleType("__main__")
    main.__dict__["__builtins__"] = builtins
    main.__dict__["__file__"] = "main.py"
    sys.modules["__main__"] = main
    sys.argv[:] = ["main.py"]
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
            print_failure(exc, tb)
        except BaseException:
            os.write(2, f"{type(exc).__name__}\n".encode())
        os._exit(1)
    raise SystemExit(0)


def main(argv: list[str]) -> NoReturn:
    """Confine this process as the config says, report the layers, run the program."""
    config = json.loads(argv[1])
    report_fd: int = config["report_fd"]
    workdir: str = config["workdir"]
    isolation: str = config["isolation"]
    python_only = config["filesystem"] == "python-only"
    required = isolation == "namespaces" or python_only
    layers: list[str] = []

    def fail(message: str) -> NoReturn:
        os.write(report_fd, (json.dumps({"error": message}) + "\n").encode())
        os._exit(126)

    with open(config["program"], encoding="utf-8") as program:
        source = program.read()
    libc = open_libc()
    status_fd = None
    if isolation == "process" and python_only:
        fail("the python-only filesystem needs namespaces, and isolation is 'process'")
    if isolation != "process":
        try:
            enter_namespaces(libc)
        except SetupError as exc:
            if required:
                need = "the python-only filesystem needs namespaces" if python_only else "namespaces are required"
                fail(f"namespaces are not available ({need}): {exc}")
        else:
            status_fd = become_init(libc, report_fd)
            layers.append("namespaces")
            try:
                if python_only:
                    enter_python_view(libc, config["view_root"], workdir, int(config["disk_bytes"]), layers)
                else:
                    confine_host_view(libc, workdir, int(config["disk_bytes"]), layers)
            except (SetupError, OSError) as exc:
                if required:
                    fail(f"cannot confine the filesystem: {exc}")
    try:
        libc_call(libc, "prctl", PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
        if os.geteuid() == 0:
            drop_capabilities(libc)
            layers.append("no-capabilities")
    except (SetupError, OSError) as exc:
        if required:
            fail(f"cannot drop privileges: {exc}")
    if status_fd is not None:
        start_program(status_fd, report_fd)  # from here on: the program, PID 2
    os.chdir(workdir)
    set_limits(config)
    layers.append("rlimits")
    try:
        if restrict_writes(libc, workdir):
            layers.append("landlock")
        if install_seccomp(libc):
            layers.append("seccomp")
    except (SetupError, OSError) as exc:
        if required:
            fail(f"cannot install the kernel filters: {exc}")
    deny_unaudited()
    sys.addaudithook(make_guard(workdir))
    layers.append("guard")
    for name in [name for name in sys.modules if name == "ponder" or name.startswith("ponder.")]:
        del sys.modules[name]  # the bare packages BOOT made: not the program's to import
    os.write(report_fd, (json.dumps({"ready": layers}) + "\n").encode())
    os.close(report_fd)
    builtins.exit = builtins.quit = sys.exit  # type: ignore[assignment]  # what site would add
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(line_buffering=True)
    del libc, config
    run_program(source)
