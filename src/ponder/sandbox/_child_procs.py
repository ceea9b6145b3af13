"""The processes of a namespaced sandbox: relay (outside), init (PID 1), program (PID 2).

After ``unshare`` the child script forks twice:

1. the **relay** stays outside the new PID namespace: it waits for the init and ends the way the
   *program* ended (same exit code, or killed by the same signal), so that the caller's
   ``wait4`` sees the program's status and, since each process waited for its child, the CPU
   time of all three;
2. the **init** is PID 1 of the namespace (``PDEATHSIG=SIGKILL``: it dies with the relay, and the
   kernel then kills everything left in the namespace); it does the mounts, forks the program,
   waits for it and passes its raw wait status to the relay through a pipe;
3. the **program** is PID 2. It is not the namespace's init, whom the kernel shields from
   signals it has no handler for (``os.kill(os.getpid(), SIGKILL)``, ``SIGTERM``,
   ``signal.alarm`` would be ignored): they end it as in any process.

Part of the sandbox's child: standard library only (``python -I -S``).
"""

from __future__ import annotations

import os
import resource
import signal
import struct
import sys
from typing import Any, NoReturn

from ponder.sandbox._child_sys import PR_SET_PDEATHSIG, libc_call

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
STATUS = struct.Struct("i")


def enter_namespaces(libc: Any) -> None:
    """New mount, network, PID, IPC and UTS namespaces for this process (PID: for its children)."""
    libc_call(libc, "unshare", CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS)


def become_init(libc: Any, report_fd: int) -> int:
    """Fork into the new PID namespace; the parent relays (never returns); the child, PID 1,
    returns the pipe on which to pass the program's wait status."""
    read_end, write_end = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        os.close(report_fd)
        os.close(write_end)
        relay(pid, read_end)
    os.close(read_end)
    libc_call(libc, "prctl", PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    return write_end


def start_program(status_fd: int, report_fd: int) -> None:
    """Fork the program off the init: returns in the program (PID 2); the init waits for it,
    writes its wait status to ``status_fd`` and exits."""
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        os.close(status_fd)
        return
    for fd in (report_fd, 0, 1, 2):  # only the program speaks to the caller
        os.close(fd)
    while True:  # the program cannot fork, but reap whatever might be left: PID 1's duty
        done, status = os.waitpid(-1, 0)
        if done == pid:
            break
    os.write(status_fd, STATUS.pack(status))
    os._exit(0)


def relay(pid: int, status_fd: int) -> NoReturn:
    """Wait for the init and end as the program did (as the init did if it passed no status)."""
    _, status = os.waitpid(pid, 0)
    data = b""
    while chunk := os.read(status_fd, STATUS.size):
        data += chunk
    if len(data) == STATUS.size:
        (status,) = STATUS.unpack(data)
    end_like(status)


def end_like(status: int) -> NoReturn:
    """End this process the way ``status`` says: same exit code, or same signal."""
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # the program's SIGSEGV, not a core of this one
        if number not in (signal.SIGKILL, signal.SIGSTOP):
            signal.signal(number, signal.SIG_DFL)
        os.kill(os.getpid(), number)
        os._exit(128 + number)  # only if that signal does not end a process
    os._exit(os.waitstatus_to_exitcode(status))
