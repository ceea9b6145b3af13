"""Feeding a sandboxed program its stdin and reading its stdout, stderr and report, within limits.

``output_bytes`` caps stdout and stderr *together*, exactly: the bytes kept never exceed it. The
chunk that would pass it is cut at the cap (back to the start of a UTF-8 character it would
split) and reading stops with ``stopped="output"``; output of exactly the cap is not a fault.
The report pipe (the sandbox's own records) does not count.
"""

from __future__ import annotations

import os
import selectors
import subprocess
import time
from dataclasses import dataclass
from typing import Literal

READ_CHUNK = 65536


@dataclass
class Collected:
    """Bytes read from the child, and why reading stopped early (``None``: all streams ended)."""

    stdout: bytearray
    stderr: bytearray
    report: bytearray
    stopped: Literal["timeout", "output"] | None = None


def utf8_prefix(data: bytes, size: int) -> bytes:
    """The first ``size`` bytes of ``data`` or fewer, not ending inside a UTF-8 character."""
    if size >= len(data):
        return data
    end = size
    while end > 0 and size - end < 3 and data[end] & 0xC0 == 0x80:  # a continuation byte at the cut
        end -= 1
    return data[:end] if end > 0 and data[end] & 0xC0 == 0xC0 else data[:size]


def pump(proc: subprocess.Popen[bytes], data: bytes, report_fd: int, deadline: float, cap: int) -> Collected:
    """Feed stdin and read stdout, stderr and the report until they end, the deadline, or the cap."""
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    collected = Collected(bytearray(), bytearray(), bytearray())
    output = {proc.stdout.fileno(): collected.stdout, proc.stderr.fileno(): collected.stderr}
    stdin_fd, offset = proc.stdin.fileno(), 0
    with selectors.DefaultSelector() as selector:
        for fd in (*output, report_fd):
            selector.register(fd, selectors.EVENT_READ)
        if data:
            os.set_blocking(stdin_fd, False)
            selector.register(stdin_fd, selectors.EVENT_WRITE)
        else:
            proc.stdin.close()
        while selector.get_map():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                collected.stopped = "timeout"
                break
            for key, _ in selector.select(remaining):
                if key.fd == stdin_fd:
                    try:
                        offset += os.write(stdin_fd, data[offset : offset + READ_CHUNK])
                    except BlockingIOError:
                        continue
                    except OSError:  # the program closed its stdin: the rest is not wanted
                        offset = len(data)
                    if offset >= len(data):
                        selector.unregister(stdin_fd)
                        proc.stdin.close()
                    continue
                chunk = os.read(key.fd, READ_CHUNK)
                if not chunk:
                    selector.unregister(key.fd)
                    continue
                if key.fd == report_fd:
                    collected.report += chunk
                    continue
                room = cap - len(collected.stdout) - len(collected.stderr)
                if len(chunk) > room:
                    output[key.fd] += utf8_prefix(chunk, room)
                    collected.stopped = "output"
                    return collected
                output[key.fd] += chunk
    return collected


def drain(fd: int, buffer: bytearray, timeout: float = 1.0) -> None:
    """Read what is left in a pipe whose writers have exited (the report, after an early stop)."""
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while selector.select(timeout):
            chunk = os.read(fd, READ_CHUNK)
            if not chunk:
                return
            buffer += chunk
