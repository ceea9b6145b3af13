"""Chunk tasks that misbehave on a Ray worker, for the tests of ``ponder bench --ray``."""

from __future__ import annotations

import os
import re
from pathlib import Path

from ponder.bench.distributed import ChunkJob, ChunkResult, solve_chunk


def marker_for(marker_dir: str, job: ChunkJob) -> Path:
    return Path(marker_dir) / re.sub(r"[^A-Za-z0-9]+", "_", job.name)


def dying_once(job: ChunkJob, *, marker_dir: str, victim: str) -> ChunkResult:
    """:func:`solve_chunk`, except that the first attempt at the chunk holding problem ``victim``
    solves its problems (the server sees their requests) and then kills its worker process before
    the rows reach the driver; the marker file makes the retry behave."""
    if any(problem.id == victim for problem in job.problems):
        marker = marker_for(marker_dir, job)
        if not marker.exists():
            marker.write_text(f"worker {os.getpid()} died here\n")
            solve_chunk(job)
            os._exit(1)
    return solve_chunk(job)
