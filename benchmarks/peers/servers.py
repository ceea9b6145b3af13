"""Subprocess servers for the peer benchmark: the two llama.cpp servers and optillm's proxy.

- ``llama-cpp-python``: ``python -m llama_cpp.server``, which serves one request at a time;
- ``llama-server``: llama.cpp's own server through ``scripts/llama-server.sh`` (``--parallel N``
  slots, continuous batching), which prints its URL as its first line; the benchmark never builds
  it (:func:`llama_server_binary` says whether ``scripts/llama-server.sh --build-only`` has);
- optillm's proxy.

Each binds a free 127.0.0.1 port, is waited on until its health URL answers, and is stopped with
SIGTERM (then SIGKILL) by ``stop()`` or on leaving a ``with`` block. Their output goes to a log
file so a failed start can say why. Nothing is installed here: optillm must already be installed
(in its own virtual environment; see README.md) and is found by :func:`find_optillm`.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from ponder.engines.http.profiles import EndpointProfile, detect_profile

REPO = Path(__file__).resolve().parents[2]
LLAMA_SERVER_SCRIPT = REPO / "scripts" / "llama-server.sh"
SERVER_KINDS = ("llama-cpp-python", "llama-server")
OPTILLM_ENV = "PONDER_OPTILLM_BIN"
OPTILLM_PLACES = (REPO / ".venv-optillm" / "bin" / "optillm",)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_profile(root: str, timeout: float = 10.0) -> tuple[EndpointProfile, list[str]]:
    """The server's ponder endpoint profile and the model names its ``/v1/models`` lists."""
    response = httpx.get(root.rstrip("/").removesuffix("/v1") + "/v1/models", timeout=timeout)
    response.raise_for_status()
    models = response.json()
    served = [str(m.get("id")) for m in models.get("data") or [] if isinstance(m, dict)]
    return detect_profile(models, dict(response.headers)), served


class ManagedProcess:
    """A server subprocess with a log file; ``url`` is its root, ``wait_ready`` polls its health URL."""

    def __init__(
        self, name: str, command: list[str], url: str, health_path: str, env: dict[str, str] | None = None
    ) -> None:
        self.name = name
        self.command = command
        self.url = url
        self.health_url = url + health_path
        self.log = Path(tempfile.mkstemp(prefix=f"peers-{name}-", suffix=".log")[1])
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                command, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}, start_new_session=True
            )

    def __enter__(self) -> ManagedProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def log_tail(self, lines: int = 15) -> str:
        """The last lines the process wrote (for error messages)."""
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def wait_ready(self, timeout: float) -> None:
        """Return once the health URL answers 200; RuntimeError (with the log's tail) otherwise."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                if httpx.get(self.health_url, timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"{self.name} did not answer {self.health_url} within {timeout:.0f} s:\n{self.log_tail()}")

    def stop(self) -> None:
        """End the process (SIGTERM, then SIGKILL after 20 s) if it still runs."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_llama_server(
    model_path: str, *, n_ctx: int = 4096, alias: str = "smollm2", timeout: float = 180.0
) -> ManagedProcess:
    """``python -m llama_cpp.server`` serving ``model_path`` on a free port (``.url`` is its root)."""
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        model_path,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        str(n_ctx),
        "--model_alias",
        alias,
    ]
    server = ManagedProcess(
        "llama-cpp-python", command, f"http://127.0.0.1:{port}", "/v1/models", env={"OMP_WAIT_POLICY": "PASSIVE"}
    )
    server.wait_ready(timeout)
    return server


def llama_server_binary(script: Path = LLAMA_SERVER_SCRIPT) -> Path | None:
    """The llama-server binary ``script`` would run, if it is built (its cache directory and
    pinned version read from the script, as it reads them, environment first); else None."""
    try:
        text = script.read_text()
    except OSError:
        return None
    pinned = re.search(r"LLAMA_CPP_VERSION=\$\{LLAMA_CPP_VERSION:-([^}]+)\}", text)
    version = os.environ.get("LLAMA_CPP_VERSION") or (pinned.group(1) if pinned else None)
    if version is None:
        return None
    root = Path(os.environ.get("PONDER_LLAMA_SERVER_DIR") or Path.home() / ".cache" / "ponder" / "llama-server")
    binary = root / version / "bin" / "llama-server"
    return binary if binary.is_file() and os.access(binary, os.X_OK) else None


def start_batching_server(
    model_path: str,
    *,
    parallel: int = 8,
    n_ctx: int = 8192,
    alias: str = "smollm2",
    timeout: float = 180.0,
    script: Path = LLAMA_SERVER_SCRIPT,
) -> ManagedProcess:
    """llama.cpp's ``llama-server`` with ``parallel`` slots sharing an ``n_ctx`` context, serving
    ``model_path`` as ``alias`` on a free port (``.url`` is its root); it must be built already."""
    if llama_server_binary(script) is None:
        raise RuntimeError(f"llama-server is not built: run {script} --build-only (about 5-8 minutes)")
    port = free_port()
    command = [str(script), "--parallel", str(parallel), "--port", str(port), "--ctx", str(n_ctx)]
    command += ["--model", model_path, "--", "--alias", alias]
    server = ManagedProcess("llama-server", command, f"http://127.0.0.1:{port}", "/health")
    server.wait_ready(timeout)
    return server


def find_optillm(explicit: str | None = None) -> str | None:
    """The optillm executable: ``explicit``, else ``$PONDER_OPTILLM_BIN``, else the repository's
    ``.venv-optillm``, else ``optillm`` on PATH; None when there is none."""
    for candidate in (explicit, os.environ.get(OPTILLM_ENV), *map(str, OPTILLM_PLACES)):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    if explicit:
        return None
    return shutil.which("optillm")


def optillm_version(executable: str) -> str | None:
    """The optillm version installed next to ``executable`` (read from its venv's metadata)."""
    python = Path(executable).with_name("python")
    if not python.exists():
        return None
    try:
        out = subprocess.run(
            [str(python), "-c", "import importlib.metadata as m; print(m.version('optillm'))"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None


def start_optillm(
    executable: str, upstream: str, *, best_of_n: int, timeout: float = 300.0, extra: dict[str, Any] | None = None
) -> ManagedProcess:
    """optillm's proxy on a free port, forwarding to ``upstream`` (a server root); ``.url`` is its root.

    optillm reads ``best_of_n`` once, at start (``--best-of-n``), so a run at another budget needs
    another proxy. ``OPENAI_API_KEY`` is set to a dummy value: optillm only uses its OpenAI client
    (pointed at ``--base-url``) when that variable is set.
    """
    port = free_port()
    command = [
        executable,
        "--base-url",
        upstream.rstrip("/").removesuffix("/v1") + "/v1",
        "--port",
        str(port),
        "--host",
        "127.0.0.1",
        "--best-of-n",
        str(best_of_n),
        "--log",
        "warning",
    ]
    env = {
        "OPENAI_API_KEY": "sk-no-key-needed",
        "OMP_WAIT_POLICY": "PASSIVE",
        "TOKENIZERS_PARALLELISM": "false",
        **{k: str(v) for k, v in (extra or {}).items()},
    }
    for variable in ("OPTILLM_API_KEY", "CEREBRAS_API_KEY", "AZURE_OPENAI_API_KEY"):  # would win over OPENAI_API_KEY
        env[variable] = ""
    proxy = ManagedProcess("optillm", command, f"http://127.0.0.1:{port}", "/health", env=env)
    proxy.wait_ready(timeout)
    return proxy
