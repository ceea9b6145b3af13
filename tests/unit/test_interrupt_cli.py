"""Ctrl-C on ``ponder solve``: the first press answers from the partial reasoning, the second aborts.

Each test runs the real CLI in a subprocess on a slowly streaming scripted engine
(:mod:`tests.support.interrupt_engine`) and sends SIGINT once it streams.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = """
import sys
from ponder.engines import registry
from tests.support.interrupt_engine import PLUGIN
registry.BUILTIN["slow"] = PLUGIN
from ponder.cli.main import cli
cli(sys.argv[1:], prog_name="ponder")
"""

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a subprocess")


def start_solve(*extra: str) -> subprocess.Popen[str]:
    args = [sys.executable, "-c", SCRIPT, "solve", "What is 6 x 7?", "--engine", "slow", "--budget", "2"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [*args, "--max-tokens", "300", *extra],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_streaming(process: subprocess.Popen[str], timeout: float = 60.0) -> None:
    assert process.stderr is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if "STREAMING" in line:
            return
        if not line and process.poll() is not None:
            raise AssertionError(f"the solve ended before streaming: {process.stderr.read()}")
    raise AssertionError("the engine never streamed")


def test_first_ctrl_c_prints_the_answer_from_partial_reasoning() -> None:
    process = start_solve("--json")
    try:
        wait_streaming(process)
        time.sleep(0.3)  # some words in
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 0, err
    assert "answering from the partial reasoning" in err
    result = json.loads(out)
    assert result["answer"] == "42"
    assert result["stop_reason"] == "interrupted"
    assert all("The final answer is 42." in c["text"] for c in result["candidates"])
    assert all(c["completion_tokens"] < 300 for c in result["candidates"])  # cut short, then answered
    [entry] = [e for e in result["trace"] if e["action"] == "interrupt"]
    assert entry["signals"] == [{"signal": 1, "mode": "hard"}]
    assert [s["sample"] for s in entry["samples"]] == [0, 1]
    assert all(s["concluded"] and 0 < s["tokens"] < 300 and s["extra_tokens"] == 1 for s in entry["samples"])
    assert result["usage"]["interrupt_tokens"] == 2


def test_second_ctrl_c_aborts() -> None:
    process = start_solve("-E", "delay=0.5")  # the answer after the cue takes a while: time to press again
    try:
        wait_streaming(process)
        process.send_signal(signal.SIGINT)
        time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 1, (out, err)
    assert err.strip().splitlines()[-1] == "error: interrupted"
    assert out == ""
