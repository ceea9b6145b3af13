"""The lines of a server-sent event stream in OpenAI's chunk format."""

from __future__ import annotations

import json
from typing import Any

from ponder.serve.completion import Job

DONE = "data: [DONE]\n\n"
KEEP_ALIVE = ": keep-alive\n\n"


def data_line(payload: dict[str, Any]) -> str:
    """One ``data:`` event (ASCII-only JSON: any text can be sent)."""
    return f"data: {json.dumps(payload)}\n\n"


def chunk_line(job: Job, choices: list[dict[str, Any]], **extra: Any) -> str:
    """One ``chat.completion.chunk`` event of ``job``."""
    return data_line(
        {
            "id": job.id,
            "object": "chat.completion.chunk",
            "created": job.created,
            "model": job.model,
            "choices": choices,
            **extra,
        }
    )


def delta_line(job: Job, choice: int, **delta: str) -> str:
    """A chunk carrying ``delta`` (``content=...`` or ``reasoning_content=...``) for one choice."""
    return chunk_line(job, [{"index": choice, "delta": delta, "finish_reason": None}])
