"""Starting a llama.cpp OpenAI-compatible server on 127.0.0.1 for integration tests:
llama-cpp-python's (:class:`LlamaServer`, one request at a time) or llama.cpp's own
``llama-server`` (:class:`BatchingLlamaServer`, through ``scripts/llama-server.sh``; tests that
need it skip with :func:`llama_server_missing`'s reason when it is not built)."""

from __future__ import annotations

import os
import re
import selectors
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import IO

import httpx

from ponder.engines.llama.models import resolve_model


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LlamaServer:
    """``python -m llama_cpp.server`` serving the embedded default model; ``stop()`` ends it."""

    def __init__(self, n_ctx: int = 2048) -> None:
        self.model_path = str(resolve_model(None))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "llama_cpp.server",
                "--model",
                self.model_path,
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--n_ctx",
                str(n_ctx),
                "--model_alias",
                "smollm2",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"llama_cpp.server exited with {self.process.returncode}")
            try:
                if httpx.get(f"{self.url}/v1/models", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        self.stop()
        raise RuntimeError("llama_cpp.server did not start within 120 s")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


REPO = Path(__file__).resolve().parents[2]
LLAMA_SERVER_SCRIPT = REPO / "scripts" / "llama-server.sh"


def llama_server_binary(script: Path = LLAMA_SERVER_SCRIPT) -> Path | None:
    """The llama-server binary ``script`` runs, if built (``script --build-only`` builds it): its
    cache directory and pinned llama.cpp version are read as the script reads them, environment first."""
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


def llama_server_missing() -> str | None:
    """Why llama-server tests cannot run here (a skip reason), or None when they can."""
    if llama_server_binary() is None:
        return f"llama-server is not built: run {LLAMA_SERVER_SCRIPT.relative_to(REPO)} --build-only (5-8 minutes)"
    return None


class BatchingLlamaServer:
    """llama.cpp's own ``llama-server`` through ``scripts/llama-server.sh`` (``--parallel`` slots,
    continuous batching), serving the embedded default model as ``alias``; ``url`` is its root
    (the script prints ``ROOT/v1`` as its first stdout line), ready once ``GET /health`` answers 200.
    Its logs go to a temporary file (``log_tail()``); ``stop()`` ends it (SIGTERM, then SIGKILL)."""

    def __init__(
        self, parallel: int = 4, n_ctx: int = 4096, alias: str = "smollm2", extra: tuple[str, ...] = ()
    ) -> None:
        missing = llama_server_missing()
        if missing is not None:
            raise RuntimeError(missing)
        self.model_path = str(resolve_model(None))
        self.parallel = parallel
        self.log = Path(tempfile.mkstemp(prefix="llama-server-", suffix=".log")[1])
        command = [str(LLAMA_SERVER_SCRIPT), "--parallel", str(parallel), "--ctx", str(n_ctx)]
        command += ["--model", self.model_path, "--", "--alias", alias, *extra]
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                command, stdout=subprocess.PIPE, stderr=log, env={**os.environ, "PYTHON": sys.executable}
            )
        try:
            self.url = self._first_line(timeout=60).removesuffix("/v1")
            self._wait_healthy(timeout=120)
        except BaseException:
            self.stop()
            raise

    def _first_line(self, timeout: float) -> str:
        """The script's first stdout line (its URL); the rest of stdout is drained to the log."""
        assert self.process.stdout is not None
        stdout = self.process.stdout
        with selectors.DefaultSelector() as selector:
            selector.register(stdout, selectors.EVENT_READ)
            if not selector.select(timeout):
                raise RuntimeError(f"llama-server.sh printed no URL within {timeout:.0f} s:\n{self.log_tail()}")
        line = stdout.readline().decode().strip()
        if not line.startswith("http://"):
            raise RuntimeError(f"llama-server.sh printed {line!r}, not its URL:\n{self.log_tail()}")
        threading.Thread(target=self._drain, args=(stdout,), daemon=True).start()
        return line

    def _drain(self, stdout: IO[bytes]) -> None:
        with self.log.open("ab") as log:
            for chunk in iter(lambda: stdout.read1(4096), b""):
                log.write(chunk)

    def _wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"llama-server exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"llama-server did not answer /health within {timeout:.0f} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 20) -> str:
        """The last lines of the server's log."""
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        """End the server if it still runs."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
