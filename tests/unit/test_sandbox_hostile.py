"""The sandbox against the probes of issues #17 (items 7 and 10) and #18 (item 11).

- the ``python-only`` filesystem view: no host file (``/etc/passwd``, the home directory, the
  repository) is readable, the standard library still works, and without namespaces it refuses
  to run rather than expose the host;
- deep recursion is an error, promptly, with a bounded traceback;
- a program can end itself with a signal, and a wall-clock timeout reports the CPU it used;
- writes outside the working directory that no audit hook sees (SQLite, readline) are refused
  in ``process`` isolation too;
- the output cap is exact;
- the seccomp filter refuses signals and ``prlimit64`` aimed at other processes.

Every test is model-free; each ``run_python`` takes a fraction of a second but the recursions.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import struct
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from ponder.core.errors import InvalidInputError
from ponder.sandbox import (
    FILESYSTEM,
    Isolation,
    SandboxLimits,
    filesystem_view,
    isolation_layers,
    run_python,
)
from ponder.sandbox._child_landlock import landlock_abi
from ponder.sandbox._child_seccomp import ARCHES, CLONE_THREAD, seccomp_program
from ponder.sandbox._child_sys import open_libc

LIMITS = SandboxLimits(wall_seconds=10.0, cpu_seconds=10, memory_bytes=512 * 2**20)
MODES: list[Isolation] = ["auto", "process"]
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def layers() -> tuple[str, ...]:
    return isolation_layers()


@pytest.fixture(scope="module")
def process_layers() -> tuple[str, ...]:
    return isolation_layers("process")


@pytest.fixture
def needs_namespaces(layers: tuple[str, ...]) -> None:
    if "namespaces" not in layers:
        pytest.skip("this machine does not allow namespaces: python-only cannot run (tested below)")


@pytest.fixture
def home_file() -> Iterator[Path]:
    """A file in the user's home directory, readable on the host."""
    with tempfile.NamedTemporaryFile("w", dir=Path.home(), prefix="ponder-sandbox-home-", suffix=".txt") as file:
        file.write("a secret in the home directory")
        file.flush()
        yield Path(file.name)


def reading(path: Path | str) -> str:
    return f"print(open({str(path)!r}).read()[:40])"


# --- #17 item 7: the python-only view -------------------------------------------------------


@pytest.mark.usefixtures("needs_namespaces")
def test_python_only_hides_the_hosts_files(home_file: Path) -> None:
    for path in ("/etc/passwd", home_file, REPO / "pyproject.toml", Path(__file__).resolve()):
        assert run_python(reading(path), limits=LIMITS).status == "ok", path  # the host view reads it
        result = run_python(reading(path), limits=LIMITS, filesystem="python-only")
        assert result.status == "error" and "FileNotFoundError" in (result.reason or ""), (path, result)
        assert result.stdout == ""
    listing = run_python(
        f"import json, os\nprint(json.dumps([os.listdir({str(Path.home())!r}), os.listdir('/etc')]))",
        limits=LIMITS,
        filesystem="python-only",
    )
    home_entries, etc_entries = json.loads(listing.stdout)
    assert home_file.name not in home_entries and set(etc_entries) <= {"ld.so.cache"}, listing.stdout


@pytest.mark.usefixtures("needs_namespaces")
def test_python_only_runs_standard_library_programs() -> None:
    code = (
        "import math, fractions, itertools, json, decimal, statistics, sqlite3, re, datetime\n"
        "print(math.comb(10, 3), fractions.Fraction(1, 3) + fractions.Fraction(1, 6))\n"
        "print(len(list(itertools.permutations(range(4)))), json.dumps({'a': [1, 2]}))\n"
        "print(decimal.Decimal('0.1') + decimal.Decimal('0.2'), statistics.median([3, 1, 2]))\n"
        "print(sqlite3.connect(':memory:').execute('select 6 * 7').fetchone()[0])\n"
        "open('scratch.txt', 'w').write('kept')\nprint(open('scratch.txt').read())\n"
    )
    result = run_python(code, limits=LIMITS, filesystem="python-only")
    assert result.status == "ok", result.stderr
    assert result.stdout.splitlines() == ["120 1/2", '24 {"a": [1, 2]}', "0.3 2", "42", "kept"]
    assert "python-only-fs" in result.isolation and "readonly-fs" in result.isolation


@pytest.mark.usefixtures("needs_namespaces")
def test_the_view_follows_the_context_into_threads() -> None:
    async def in_thread() -> str:
        return (await asyncio.to_thread(run_python, reading("/etc/passwd"), limits=LIMITS)).status

    assert FILESYSTEM.get() == "host"
    with filesystem_view("python-only"):
        assert run_python(reading("/etc/passwd"), limits=LIMITS).status == "error"
        assert asyncio.run(in_thread()) == "error"
        assert run_python(reading("/etc/passwd"), limits=LIMITS, filesystem="host").status == "ok"
    assert FILESYSTEM.get() == "host"
    assert run_python(reading("/etc/passwd"), limits=LIMITS).status == "ok"


def test_python_only_refuses_process_isolation_and_unknown_views() -> None:
    with pytest.raises(InvalidInputError, match="namespaces"):
        run_python("print(1)", isolation="process", filesystem="python-only")
    with pytest.raises(InvalidInputError, match="unknown sandbox filesystem"):
        run_python("print(1)", filesystem="none")  # type: ignore[arg-type]


@pytest.mark.skipif(os.geteuid() != 0, reason="drops CAP_SYS_ADMIN, which only root holds here")
def test_python_only_without_namespaces_refuses_to_run() -> None:
    # A process without CAP_SYS_ADMIN in its bounding set starts sandboxes that cannot unshare.
    script = (
        "import ctypes\n"
        "assert ctypes.CDLL(None).prctl(24, 21, 0, 0, 0) == 0  # PR_CAPBSET_DROP, CAP_SYS_ADMIN\n"
        "from ponder.sandbox import SandboxError, run_python\n"
        "try:\n"
        "    result = run_python(\"print(open('/etc/passwd').read())\", filesystem='python-only')\n"
        "    print('RAN', result.status, result.stdout[:20])\n"
        "except SandboxError as exc:\n"
        "    print('REFUSED', exc)\n"
        "result = run_python('print(6 * 7)')\n"
        "print('HOST', result.status, result.stdout.strip(), 'namespaces' in result.isolation)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    refused, host = done.stdout.splitlines()
    assert refused.startswith("REFUSED") and "namespaces are not available" in refused, done.stdout + done.stderr
    assert host == "HOST ok 42 False"  # the host view falls back to process isolation as before


# --- #17 item 10a: deep recursion, huge tracebacks ---------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_deep_recursion_is_an_error_with_a_short_traceback(mode: Isolation) -> None:
    code = "import sys\nsys.setrecursionlimit(10**6)\ndef f(n):\n    return f(n + 1)\nf(0)\n"
    result = run_python(code, limits=LIMITS, isolation=mode)
    assert result.status == "error" and (result.reason or "").startswith("RecursionError"), result
    assert len(result.stderr) < 20_000 and "more not shown" in result.stderr
    assert 'File "main.py", line 4, in f' in result.stderr


@pytest.mark.parametrize("mode", MODES)
def test_a_huge_exception_message_is_cut_but_still_the_reason(mode: Isolation) -> None:
    result = run_python("raise ValueError('x' * 10**6)\n", limits=LIMITS, isolation=mode)
    assert result.status == "error" and (result.reason or "").startswith("ValueError: xxx"), result.reason
    assert len(result.stderr) < 20_000


# --- #17 item 10b: signals to itself, CPU time on a wall-clock timeout -------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("code", "name", "number"),
    [
        ("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n", "SIGKILL", 9),
        ("import os, signal\nos.kill(os.getpid(), signal.SIGTERM)\n", "SIGTERM", 15),
        ("import signal, time\nsignal.alarm(1)\ntime.sleep(5)\n", "SIGALRM", 14),
    ],
)
def test_a_program_can_end_itself_with_a_signal(code: str, name: str, number: int, mode: Isolation) -> None:
    result = run_python(code + "print('still alive')\n", limits=LIMITS, isolation=mode)
    assert (result.status, result.reason, result.returncode, result.stdout) == (
        "error",
        f"killed by {name}",
        -number,
        "",
    )


@pytest.mark.parametrize("mode", MODES)
def test_a_wall_clock_timeout_reports_the_cpu_the_program_used(mode: Isolation) -> None:
    result = run_python(
        "while True:\n    pass\n", limits=SandboxLimits(wall_seconds=1.5, cpu_seconds=10), isolation=mode
    )
    assert result.status == "timeout" and "wall-clock" in (result.reason or "")
    assert result.cpu_seconds > 0.3, result.cpu_seconds  # a busy loop, even on a loaded machine (was 0.03)


# --- #17 item 10c: writes outside the working directory that no audit event shows -------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "template",
    [
        "import sqlite3\nsqlite3.connect({path!r}).execute('create table t(x)')\n",
        "import sqlite3\nsqlite3.connect({uri!r}, uri=True).execute('create table t(x)')\n",
        "import os, sqlite3\nos.chdir('/tmp')\nsqlite3.connect({name!r}).execute('create table t(x)')\n",
    ],
)
def test_a_database_outside_the_working_directory_is_refused(template: str, mode: Isolation) -> None:
    target = Path(tempfile.gettempdir()) / f"ponder_sandbox_pwned_{uuid.uuid4().hex}.db"
    uri = "file:" + str(target).replace("/", "%2F") + "?mode=rwc"
    result = run_python(template.format(path=str(target), uri=uri, name=target.name), limits=LIMITS, isolation=mode)
    assert result.status == "error" and "PermissionError" in (result.reason or ""), result
    assert not target.exists()


@pytest.mark.parametrize("mode", MODES)
def test_a_write_no_audit_hook_sees_is_refused_by_the_kernel(mode: Isolation, process_layers: tuple[str, ...]) -> None:
    if mode == "process" and "landlock" not in process_layers:
        pytest.skip("no Landlock on this kernel: process isolation has only the guard")
    target = Path(tempfile.gettempdir()) / f"ponder_sandbox_pwned_{uuid.uuid4().hex}"
    code = f"import readline\nreadline.add_history('pwned')\nreadline.write_history_file({str(target)!r})\n"
    result = run_python(code, limits=LIMITS, isolation=mode)
    assert result.status == "error" and "Error" in (result.reason or ""), result
    assert not target.exists()
    inside = run_python(
        code.replace(repr(str(target)), "'history'") + "print(open('history').read())", limits=LIMITS, isolation=mode
    )
    assert inside.status == "ok" and "pwned" in inside.stdout, inside.stderr


def test_process_isolation_reports_landlock_where_the_kernel_has_it(process_layers: tuple[str, ...]) -> None:
    has_landlock = landlock_abi(open_libc()) >= 1
    assert ("landlock" in process_layers) == has_landlock, process_layers
    assert {"rlimits", "seccomp", "guard"} <= set(process_layers) or platform.machine() not in ARCHES


# --- #17 item 10d: the output cap is exact ------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_the_output_cap_counts_both_streams_exactly(mode: Isolation) -> None:
    limits = SandboxLimits(wall_seconds=5.0, output_bytes=65536)
    code = "import sys\nwhile True:\n    sys.stdout.write('x' * 70000)\n    sys.stderr.write('y' * 70000)\n"
    result = run_python(code, limits=limits, isolation=mode)
    assert result.status == "limit" and len(result.stdout) + len(result.stderr) == 65536


@pytest.mark.parametrize(("size", "status"), [(1000, "ok"), (1001, "limit")])
def test_output_of_exactly_the_cap_is_allowed(size: int, status: str) -> None:
    limits = SandboxLimits(wall_seconds=5.0, output_bytes=1000)
    result = run_python(f"import sys\nsys.stdout.write('z' * {size})\n", limits=limits)
    assert result.status == status and result.stdout == "z" * min(size, 1000)


def test_the_cap_does_not_split_a_character() -> None:
    limits = SandboxLimits(wall_seconds=5.0, output_bytes=1001)
    result = run_python("print('é' * 2000)\n", limits=limits)  # two bytes each: the cap falls inside one
    assert result.status == "limit" and result.stdout == "é" * 500


# --- #18 item 11: seccomp refuses signals and limits aimed at other processes -------------------

SYSCALL_PROBE = r"""
import ctypes, json, os, platform, sys, threading
from ponder.sandbox._child_seccomp import ARCHES, install_seccomp
from ponder.sandbox._child_sys import PR_SET_NO_NEW_PRIVS, libc_call, open_libc

target, filtered = int(sys.argv[1]), sys.argv[2] == "filtered"
libc = open_libc()
if filtered:
    libc_call(libc, "prctl", PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    assert install_seccomp(libc)
numbers = ARCHES[platform.machine()][1]
info = (ctypes.c_int * 32)()  # siginfo_t: si_signo 0, si_errno 0, si_code SI_QUEUE
info[2] = -1
limits = (ctypes.c_uint64 * 2)()

def call(name, *args):
    return "ok" if libc.syscall(numbers[name], *args) == 0 else os.strerror(ctypes.get_errno())

me, tid = os.getpid(), threading.get_native_id()
print(json.dumps({
    "prlimit64 other": call("prlimit64", target, 7, None, ctypes.byref(limits)),
    "prlimit64 self": call("prlimit64", 0, 7, None, ctypes.byref(limits)),
    "prlimit64 own pid": call("prlimit64", me, 7, None, ctypes.byref(limits)),
    "rt_sigqueueinfo other": call("rt_sigqueueinfo", target, 0, ctypes.byref(info)),
    "rt_sigqueueinfo own": call("rt_sigqueueinfo", me, 0, ctypes.byref(info)),
    "rt_tgsigqueueinfo other": call("rt_tgsigqueueinfo", target, target, 0, ctypes.byref(info)),
    "rt_tgsigqueueinfo own": call("rt_tgsigqueueinfo", me, tid, 0, ctypes.byref(info)),
    "kill other": call("kill", target, 0),
}))
"""


@pytest.mark.skipif(platform.machine() not in ARCHES, reason="no seccomp filter for this architecture")
def test_seccomp_refuses_signals_and_prlimit_on_other_processes() -> None:
    with subprocess.Popen(["sleep", "60"]) as target:
        try:
            runs = {
                mode: json.loads(
                    subprocess.run(
                        [sys.executable, "-c", SYSCALL_PROBE, str(target.pid), mode],
                        capture_output=True,
                        text=True,
                        timeout=60,
                        check=True,
                    ).stdout
                )
                for mode in ("unfiltered", "filtered")
            }
        finally:
            target.kill()
    assert set(runs["unfiltered"].values()) == {"ok"}  # the kernel alone allows all of them (same user)
    refused = "Operation not permitted"
    assert runs["filtered"] == {
        "prlimit64 other": refused,
        "prlimit64 self": "ok",
        "prlimit64 own pid": "ok",
        "rt_sigqueueinfo other": refused,
        "rt_sigqueueinfo own": "ok",
        "rt_tgsigqueueinfo other": refused,
        "rt_tgsigqueueinfo own": "ok",
        "kill other": refused,
    }


def run_filter(program: bytes, arch: int, number: int, *args: int) -> int:
    """What the classic-BPF ``program`` returns for one system call (a minimal interpreter)."""
    data = struct.pack("<iIQ6Q", number, arch, 0, *(list(args) + [0] * (6 - len(args))))
    accumulator, pc = 0, 0
    while True:
        op, jt, jf, k = struct.unpack_from("HBBI", program, pc * 8)
        pc += 1
        if op == 0x20:  # ld [k]
            accumulator = struct.unpack_from("<I", data, k)[0]
        elif op in (0x15, 0x45, 0x35):  # jeq, jset, jge
            taken = {0x15: accumulator == k, 0x45: bool(accumulator & k), 0x35: accumulator >= k}[op]
            pc += jt if taken else jf
        elif op == 0x06:  # ret
            return k
        else:
            raise AssertionError(f"unexpected BPF op {op:#x}")


@pytest.mark.parametrize("machine", sorted(ARCHES))
def test_the_filter_decides_by_target_on_every_architecture(machine: str) -> None:
    arch, numbers = ARCHES[machine]
    own, other = 2, 4242
    program = seccomp_program(arch, numbers, own)
    allow, deny, enosys = 0x7FFF0000, 0x00050001, 0x00050026

    def verdict(name: str, *args: int) -> int:
        return run_filter(program, arch, numbers[name], *args)

    for name in ("kill", "tgkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo"):
        assert (verdict(name, own, 0), verdict(name, other, 0), verdict(name, 0, 0)) == (allow, deny, deny), name
    for name in ("prlimit64", "sched_setaffinity", "sched_setscheduler", "sched_setparam", "sched_setattr"):
        assert (verdict(name, 0), verdict(name, own), verdict(name, other)) == (allow, allow, deny), name
    for name in ("execve", "socket", "ptrace", "tkill", "setpriority", "kcmp", "process_madvise", "pivot_root"):
        assert verdict(name) == deny, name
    assert (verdict("clone", CLONE_THREAD | 0x100), verdict("clone", 0x11)) == (allow, deny)
    assert verdict("clone3") == enosys
    assert run_filter(program, arch, 63 if machine == "aarch64" else 0) == allow  # read
    assert run_filter(program, 0x40000003, numbers["kill"], other) == 0x80000000  # a foreign ABI: killed
