"""The sandbox: hostile programs end as reported failures within their limits, the machine unharmed.

Each hostile test runs in ``auto`` isolation (every layer this machine allows: on Linux as root,
namespaces + read-only mounts + seccomp + guard) and in ``process`` isolation (no namespaces:
rlimits, seccomp and the in-process guard only), so that both set-ups are covered.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from ponder.core.errors import InvalidInputError
from ponder.sandbox import Isolation, SandboxError, SandboxLimits, isolation_layers, run_python

LIMITS = SandboxLimits(wall_seconds=5.0, cpu_seconds=2, memory_bytes=256 * 2**20)
MODES: list[Isolation] = ["auto", "process"]
ESCAPE = Path("/tmp/ponder_sandbox_escape_test")


@pytest.fixture(scope="module")
def layers() -> tuple[str, ...]:
    return isolation_layers()


def processes_mentioning(marker: str) -> list[int]:
    """Pids of live processes whose command line contains ``marker``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if marker.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


# --- ordinary programs ---------------------------------------------------------------------


def test_a_normal_program_prints_its_answer() -> None:
    result = run_python("print(6 * 7)", limits=LIMITS)
    assert (result.status, result.stdout, result.returncode, result.reason) == ("ok", "42\n", 0, None)
    assert result.ok and result.seconds < LIMITS.wall_seconds


def test_the_program_reads_stdin() -> None:
    result = run_python("import sys\nprint(sum(map(int, sys.stdin.read().split())))", stdin="1 2 3\n39\n")
    assert result.status == "ok" and result.stdout == "45\n"


def test_a_megabyte_of_stdin_is_fed_without_deadlock() -> None:
    code = "import sys\nprint(len(sys.stdin.read()))"
    result = run_python(code, stdin="x" * 1_000_000, limits=LIMITS)
    assert result.status == "ok" and result.stdout == "1000000\n"


def test_a_syntax_error_is_an_error_with_its_reason() -> None:
    result = run_python("def f(:\n    pass\n", limits=LIMITS)
    assert result.status == "error"
    assert result.reason is not None and result.reason.startswith("SyntaxError")
    assert 'File "main.py", line 1' in result.stderr


def test_an_exception_reports_the_last_traceback_line() -> None:
    result = run_python("def f():\n    raise ValueError('bad input')\nf()\n", limits=LIMITS)
    assert (result.status, result.returncode, result.reason) == ("error", 1, "ValueError: bad input")
    assert "_sandbox_child" not in result.stderr  # only the program's own frames


def test_exit_status_and_the_exit_builtin() -> None:
    assert run_python("import sys\nsys.exit(3)").returncode == 3
    assert run_python("exit(0)").status == "ok"


def test_writing_inside_the_working_directory_works() -> None:
    code = (
        "import os, pathlib\npathlib.Path('a/b').mkdir(parents=True)\n"
        "pathlib.Path('a/b/f.txt').write_text('kept')\nos.rename('a/b/f.txt', 'g.txt')\n"
        "print(open('g.txt').read(), os.path.abspath('.') == os.environ['HOME'])"
    )
    result = run_python(code, limits=LIMITS)
    assert result.status == "ok" and result.stdout == "kept True\n"


def test_threads_work() -> None:
    code = (
        "import threading\nout = []\n"
        "ts = [threading.Thread(target=out.append, args=(i,)) for i in range(4)]\n"
        "[t.start() for t in ts]; [t.join() for t in ts]\nprint(sorted(out))"
    )
    assert run_python(code, limits=LIMITS).stdout == "[0, 1, 2, 3]\n"


def test_the_environment_is_minimal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PONDER_SECRET_TOKEN", "hunter2")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
    result = run_python("import os\nprint(sorted(os.environ))", limits=LIMITS)
    assert result.stdout == "['HOME', 'LANG', 'LC_ALL', 'PATH', 'TMPDIR']\n"


def test_concurrent_runs_from_threads_do_not_interfere() -> None:
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda i: run_python(f"print({i} * 2)", limits=LIMITS), range(8)))
    assert [r.stdout for r in results] == [f"{i * 2}\n" for i in range(8)]


# --- hostile programs ------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_an_infinite_loop_hits_the_cpu_limit(mode: Isolation) -> None:
    limits = SandboxLimits(wall_seconds=10.0, cpu_seconds=1)
    result = run_python("while True:\n    pass\n", limits=limits, isolation=mode)
    assert result.status == "timeout" and "CPU" in (result.reason or "")
    assert result.seconds < 5


@pytest.mark.parametrize("mode", MODES)
def test_a_sleeping_program_hits_the_wall_clock_limit(mode: Isolation) -> None:
    limits = SandboxLimits(wall_seconds=1.0, cpu_seconds=5)
    code = "import time\nwhile True:\n    time.sleep(10)\n"
    result = run_python(code, limits=limits, isolation=mode)
    assert result.status == "timeout" and "wall-clock" in (result.reason or "")
    assert result.seconds < 3


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "code",
    [
        "x = []\nwhile True:\n    x.append(bytearray(10**7))\n",
        "b = bytearray(10**12)\n",
    ],
)
def test_unbounded_allocation_hits_the_memory_limit(code: str, mode: Isolation) -> None:
    result = run_python(code, limits=LIMITS, isolation=mode)
    assert result.status == "limit" and "MemoryError" in (result.reason or "")
    assert result.seconds < LIMITS.wall_seconds


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("template", "refusal"),
    [
        ("import os\nos.fork()\n", "PermissionError"),
        ("import os\nwhile True:\n    os.fork()\n", "PermissionError"),  # a fork bomb
        ("import subprocess\nsubprocess.Popen(['/bin/sh', '-c', 'sleep 300 # {marker}'])\n", "PermissionError"),
        ("import os\nos.system('sleep 300 # {marker}')\n", "PermissionError"),
        ("import os\nos.execv('/bin/sh', ['/bin/sh', '-c', 'sleep 300 # {marker}'])\n", "PermissionError"),
        (
            "import multiprocessing, time\n"
            "multiprocessing.Process(target=time.sleep, args=(300,), name='{marker}').start()\n",
            "PermissionError",
        ),
        # pty.fork swallows the refused forkpty and tries openpty + fork: no pty (namespaces) or no fork
        ("import pty\npty.spawn(['/bin/sh', '-c', 'sleep 300 # {marker}'])\n", "Error"),
    ],
)
def test_child_processes_are_refused_and_none_survives(template: str, refusal: str, mode: Isolation) -> None:
    marker = f"ponder-sandbox-{uuid.uuid4().hex}"
    result = run_python(template.format(marker=marker), limits=LIMITS, isolation=mode)
    assert result.status == "error" and refusal in (result.reason or ""), result
    assert processes_mentioning(marker) == []


@pytest.mark.parametrize("mode", MODES)
def test_a_program_past_the_guard_still_cannot_start_a_process(mode: Isolation, layers: tuple[str, ...]) -> None:
    if "seccomp" not in layers:
        pytest.skip("no seccomp filter on this machine")
    marker = f"ponder-sandbox-{uuid.uuid4().hex}"
    # A fresh copy of _posixsubprocess has the real fork_exec: the in-process guard is bypassed.
    code = (
        "import importlib.util, _posixsubprocess, os\n"
        "spec = importlib.util.spec_from_file_location('_posixsubprocess', _posixsubprocess.__file__)\n"
        "real = importlib.util.module_from_spec(spec)\n"
        "r, w = os.pipe()\n"
        f"real.fork_exec([b'/bin/sleep', b'300', b'{marker}'], [b'/bin/sleep'], True, (), None, None,"
        " -1, -1, -1, -1, -1, -1, r, w, True, False, -1, None, None, None, -1, None, False)\n"
    )
    result = run_python(code, limits=LIMITS, isolation=mode)
    assert result.status == "error"
    assert "PermissionError: [Errno 1] Operation not permitted" in (result.reason or ""), result.stderr
    assert processes_mentioning(marker) == []


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "code",
    [
        f"open({str(ESCAPE)!r}, 'w').write('escaped')",
        f"import pathlib\npathlib.Path({str(ESCAPE)!r}).write_text('escaped')",
        f"import os\nos.close(os.open({str(ESCAPE)!r}, os.O_CREAT | os.O_WRONLY))",
        f"import os\nopen('f', 'w').write('escaped')\nos.rename('f', {str(ESCAPE)!r})",
        f"import shutil\nopen('f', 'w').write('escaped')\nshutil.copy('f', {str(ESCAPE)!r})",
        f"import os\nos.mkdir({str(ESCAPE)!r})",
        "import os\nrel = os.path.relpath({escape!r}, os.getcwd())\nopen(rel, 'w').write('escaped')",
        f"import os\nos.symlink({str(ESCAPE)!r}, 'link')\nopen('link', 'w').write('escaped')",
        f"import os\nos.chdir('/tmp')\nopen({ESCAPE.name!r}, 'w').write('escaped')",
        "import os\nfd = os.open('/tmp', os.O_RDONLY)\n"
        f"os.close(os.open({ESCAPE.name!r}, os.O_CREAT | os.O_WRONLY, dir_fd=fd))",
        "import tempfile\ntempfile.mkstemp(dir='/tmp', prefix='ponder_sandbox_escape_test')",
    ],
)
def test_writing_outside_the_working_directory_is_refused(code: str, mode: Isolation) -> None:
    for stale in Path("/tmp").glob(ESCAPE.name + "*"):
        os.remove(stale) if not stale.is_dir() else os.rmdir(stale)
    code = code.replace("{escape!r}", repr(str(ESCAPE)))
    result = run_python(code, limits=LIMITS, isolation=mode)
    assert result.status == "error", result
    assert "PermissionError" in (result.reason or "") or "Read-only" in (result.reason or ""), result.reason
    assert not list(Path("/tmp").glob(ESCAPE.name + "*"))


def test_with_namespaces_the_kernel_confines_the_program(layers: tuple[str, ...]) -> None:
    if "namespaces" not in layers:
        pytest.skip("this machine does not allow namespaces (isolation falls back to the process)")
    code = (
        "import os\n"
        "readonly = lambda path: bool(os.statvfs(path).f_flag & os.ST_RDONLY)\n"
        "print(readonly('/tmp'), readonly('/'))\n"
        "print(readonly('.'))\n"
        "print(os.getpid(), sorted(os.listdir('/dev')))\n"
        "print([line.split(':')[0].strip() for line in open('/proc/net/dev').readlines()[2:]])\n"
        "print(open('/proc/self/status').read().split('CapEff:')[1].split()[0])\n"
    )
    result = run_python(code, limits=LIMITS)
    assert result.stdout.splitlines() == [
        "True True",  # every mount read-only ...
        "False",  # ... but the working directory
        "2 ['fd', 'full', 'null', 'random', 'stderr', 'stdin', 'stdout', 'urandom', 'zero']",  # under an init
        "['lo']",  # no network interface but loopback (down)
        "0000000000000000",  # no capabilities
    ], result.stderr
    assert {"readonly-fs", "private-tmp", "no-capabilities", "seccomp", "guard"} <= set(layers)


@pytest.mark.parametrize("mode", MODES)
def test_a_socket_to_localhost_is_refused(mode: Isolation) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        server.setblocking(False)
        port = server.getsockname()[1]
        code = f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2).sendall(b'hi')\n"
        result = run_python(code, limits=LIMITS, isolation=mode)
        assert result.status == "error" and "PermissionError" in (result.reason or "")
        with pytest.raises(BlockingIOError):
            server.accept()  # nobody connected


@pytest.mark.parametrize("mode", MODES)
def test_killing_other_processes_is_refused(mode: Isolation) -> None:
    result = run_python(
        "import os, signal\nos.kill(os.getppid() or 0, signal.SIGKILL)\n", limits=LIMITS, isolation=mode
    )
    assert result.status == "error" and "PermissionError" in (result.reason or "")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "code",
    [
        "import sys\nwhile True:\n    sys.stdout.write('x' * 65536)\n",
        "print('y' * 10**7)\n",
        "import sys\nwhile True:\n    sys.stderr.write('z' * 1000)\n",
    ],
)
def test_printing_megabytes_hits_the_output_limit_quickly(code: str, mode: Isolation) -> None:
    started = time.monotonic()
    result = run_python(code, limits=LIMITS, isolation=mode)
    assert result.status == "limit" and "output" in (result.reason or "")
    assert len(result.stdout) + len(result.stderr) == LIMITS.output_bytes  # exactly the cap (ASCII output)
    assert time.monotonic() - started < 2


def test_a_large_file_hits_the_file_size_limit() -> None:
    limits = SandboxLimits(wall_seconds=5.0, file_bytes=2**20)
    result = run_python("open('big', 'wb').write(b'x' * 2**21)\n", limits=limits)
    assert result.status == "limit" and "file size" in (result.reason or "")


def test_limits_must_be_positive() -> None:
    with pytest.raises(InvalidInputError):
        SandboxLimits(wall_seconds=0)


def test_required_namespaces_either_work_or_raise(layers: tuple[str, ...]) -> None:
    if "namespaces" in layers:
        assert run_python("print(1)", isolation="namespaces").stdout == "1\n"
    else:
        with pytest.raises(SandboxError):
            run_python("print(1)", isolation="namespaces")
