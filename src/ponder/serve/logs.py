"""Structured logs: one JSON object per line on the ``ponder.serve`` logger (no prompts, no keys)."""

from __future__ import annotations

import json
import logging
import os
import sys
import traceback
from typing import Any

logger = logging.getLogger("ponder.serve")


def log_event(event: str, **fields: Any) -> None:
    logger.info(json.dumps({"event": event, **fields}, default=str))


def log_failure(exc: BaseException, **fields: Any) -> None:
    """An unexpected exception, as an ``error`` event: its type and where it was raised (the
    innermost frames as ``file:line function``), not its message, which may quote a prompt."""
    frames = traceback.extract_tb(exc.__traceback__)[-6:]
    where = [f"{os.path.basename(frame.filename)}:{frame.lineno} {frame.name}" for frame in frames]
    logger.error(json.dumps({"event": "error", "error": type(exc).__name__, "where": where, **fields}, default=str))


def configure(level: int = logging.INFO) -> None:
    """Send the server's events to stderr as bare JSON lines."""
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
