"""Structured logs: one JSON object per line on the ``ponder.serve`` logger (no prompts, no keys)."""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

logger = logging.getLogger("ponder.serve")


def log_event(event: str, **fields: Any) -> None:
    logger.info(json.dumps({"event": event, **fields}, default=str))


def configure(level: int = logging.INFO) -> None:
    """Send the server's events to stderr as bare JSON lines."""
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
