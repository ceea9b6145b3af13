"""``ponder bench --ray ADDRESS``: a benchmark's problems solved on a Ray cluster.

The driver (:mod:`~ponder.bench.distributed.driver`) owns the SQLite store and is its only
writer; each (configuration, chunk of problems) goes out as one Ray task
(:mod:`~ponder.bench.distributed.jobs`) that creates its engine on the worker (an HTTP endpoint,
or an embedded model the worker can read), solves the chunk with the in-process runner's code and
sends the rows back; the driver commits them as tasks finish, and a rerun resumes from what is
stored. Ray itself is an optional extra (``pip install 'ponder[ray]'``), imported only when a
cluster is joined.
"""

from ponder.bench.distributed.driver import DEFAULT_CHUNK, RAY_EXTRA, RayCluster, import_ray
from ponder.bench.distributed.jobs import ChunkJob, ChunkResult, check_single_endpoint, solve_chunk

__all__ = [
    "DEFAULT_CHUNK",
    "RAY_EXTRA",
    "ChunkJob",
    "ChunkResult",
    "RayCluster",
    "check_single_endpoint",
    "import_ray",
    "solve_chunk",
]
