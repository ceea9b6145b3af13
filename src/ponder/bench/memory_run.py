"""``ponder bench --memory FILE``: one configuration solved in problem order with a concept memory.

Each problem reads the memory before it is solved (the concepts that fit it go into the system
prompt: :meth:`ponder.api.RunPlan.recalling`) and, once graded, writes to it when the gold
grader accepted its answer (``verified=True``; the concepts' source is ``DATASET#PROBLEM_ID``).
A problem graded wrong writes nothing. Results therefore depend on the order of the problems:
they are solved one at a time, in the data set's order (``workers`` must be 1), and a run with a
memory holds exactly one configuration (each would otherwise learn from those before it). The
run's metadata records the memory file, its SHA-256, size, concept count and additions log length
before the run, its settings, the order (problem ids) and the seed.

Identity: the memory file (its resolved path) and its settings are part of the configuration's
key (:attr:`~ponder.bench.types.Config.memory`), so rows with a memory never mix with rows
without one, nor with rows of another memory file. The file's content is not part of the key.

Each row keeps what memory did for it: ``memory.read`` (the concepts it was given, their ids and
tokens) first in its trace, ``memory.write`` last (the decision, the concepts added or matched,
the abstraction's tokens) with ``memory_additions``, the length of the memory's additions log
once the row's write was committed. The row's usage includes those tokens.

Resume: the memory's write for a problem is committed before the problem's row, and the row is
graded and committed with no await after the write (:func:`~ponder.bench.runner.solve_one`),
so a run stops (Ctrl-C, an engine failure) either before that write or after the row. A rerun
skips the stored problems, and the memory already holds their writes, so it gives the same rows as an
uninterrupted run (with the engine reproducing its samples, as for any resumed run). Before
resuming, the memory's additions log is checked against the last stored row's
``memory_additions``: additions no stored row made (a run killed in the instant between a write
and its row, or another run writing to the file meanwhile) would change the later rows, so the
resume is refused, naming them. Concept use counts (``uses``, ``successes``) are not checked:
selection does not read them.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from ponder.bench.graders import grade
from ponder.bench.store import BenchStore
from ponder.bench.types import BenchRow, Config, Problem
from ponder.core.errors import InvalidInputError
from ponder.core.result import SolveResult
from ponder.memory import Memory
from ponder.memory.memory import Selection

MARK = "memory_additions"
"""The key of a row's ``memory.write`` trace entry that holds the additions log's length after it."""


def open_bench_memory(memory: Memory | str | Path, selection: str = "lexical") -> tuple[Memory, bool]:
    """The run's :class:`~ponder.memory.Memory` and whether this run opened it (and closes it): a
    path is opened with ``selection`` and the ``verified`` write policy (gold-graded rows write)."""
    if isinstance(memory, Memory):
        return memory, False
    if not isinstance(memory, (str, Path)) or not str(memory):
        raise InvalidInputError(f"memory must be a memory file's path or a ponder.memory.Memory, got {memory!r}")
    if selection not in ("lexical", "model"):
        raise InvalidInputError(f"memory selection must be lexical or model, got {selection!r}")
    chosen: Selection = "model" if selection == "model" else "lexical"
    return Memory(memory, selection=chosen, write="verified"), True


def check_memory_run(*, configs: int, workers: int, interrupts: Sequence[str], ray: str | None) -> None:
    """Refuse what a run with a memory cannot do, before anything runs (see the module docstring)."""
    if workers != 1:
        raise InvalidInputError(
            f"--memory solves the problems one at a time, in order (each reads what the earlier ones wrote); "
            f"drop --workers {workers}"
        )
    if ray is not None:
        raise InvalidInputError("--memory solves the problems in order in this process; it cannot run on --ray")
    if any(spec for spec in interrupts):
        raise InvalidInputError("--memory runs uninterrupted configurations (use --interrupt none)")
    if configs != 1:
        raise InvalidInputError(
            f"--memory runs one configuration (one strategy or pipeline, budget, seed and temperature), got "
            f"{configs}: each would learn from those before it; run them one by one, each with its own memory file"
        )


def memory_key(memory: Memory) -> str:
    """The memory's part of a configuration's identity: its settings with its file's resolved
    path, as canonical JSON (:attr:`~ponder.bench.types.Config.memory`)."""
    settings = {**memory.describe(), "path": str(Path(memory.store.path).resolve())}
    return json.dumps(settings, sort_keys=True, separators=(",", ":"))


def additions_mark(memory: Memory) -> int:
    """The length of the memory's additions log (the ``seq`` of its last addition; 0 when empty)."""
    additions = memory.store.additions()
    return additions[-1].seq if additions else 0


def memory_metadata(
    memory: Memory, problems: Sequence[Problem], seeds: Sequence[int], sha256: str | None
) -> dict[str, Any]:
    """What the run's metadata records of its memory (see the module docstring)."""
    path = Path(memory.store.path)
    return {
        **memory.describe(),
        "path": str(path.resolve()),
        "sha256": sha256,
        "size": path.stat().st_size if path.is_file() else 0,
        "concepts": memory.store.count(),
        "additions": additions_mark(memory),
        "order": [problem.id for problem in problems],
        "seed": list(seeds),
    }


def graded(problem: Problem, result: SolveResult) -> bool:
    """Whether the benchmark's grader accepts ``result``'s answer (graded as
    :func:`~ponder.bench.runner.record_for` grades it)."""
    best_text = next((c.text for c in result.candidates if c.answer == result.answer), None)
    return grade(problem, result.answer, best_text)


def memory_arguments(memory: Memory | None, problem: Problem, config: Config) -> dict[str, Any]:
    """The keyword arguments of ``ponder.asolve`` that make a problem's run read and write ``memory``
    (none without one): verified by the gold grader, the source ``DATASET#PROBLEM_ID``."""
    if memory is None:
        return {}

    async def verify(result: SolveResult) -> bool:
        return await asyncio.to_thread(graded, problem, result)  # grading may run code: keep the loop free

    return {"memory": memory, "verify": verify, "memory_source": f"{config.dataset}#{problem.id}"}


def marked(row: BenchRow, memory: Memory) -> BenchRow:
    """``row`` with the memory's additions mark in its ``memory.write`` entry (one is added, as a
    skip, to a row whose run failed before writing)."""
    mark = additions_mark(memory)
    trace = list(row.trace)
    writes = [i for i, entry in enumerate(trace) if entry.get("action") == "memory.write"]
    if writes:
        trace[writes[-1]] = {**trace[writes[-1]], MARK: mark}
    else:
        last = max((int(entry.get("step", 0)) for entry in trace), default=0)
        trace.append(
            {
                "step": last + 1,
                "action": "memory.write",
                "event": "memory.write",
                "decision": "skip",
                "reason": "the run failed",
                MARK: mark,
            }
        )
    return replace(row, trace=tuple(trace))


def check_resume(store: BenchStore, config_id: int, memory: Memory) -> None:
    """Refuse to resume a configuration whose memory holds additions that no stored row made (see
    the module docstring); nothing to check before its first row."""
    marks = [
        int(entry[MARK])
        for row in store.results(config_id)
        for entry in row.trace
        if isinstance(entry, dict) and MARK in entry
    ]
    if not marks:
        return
    extra = [addition for addition in memory.store.additions() if addition.seq > max(marks)]
    if extra:
        sources = ", ".join(sorted({addition.source for addition in extra}))
        raise InvalidInputError(
            f"the memory file {memory.store.path} changed since this configuration's last stored row: it holds "
            f"{len(extra)} concept addition(s) no stored row made (from {sources}), so resuming would not give the "
            "rows an uninterrupted run gives (a run was killed between a write and its row, or another run wrote "
            "to the file); restore the memory file, or start the configuration afresh with a new memory file and --db"
        )


async def solve_in_order(
    problems: Sequence[Problem],
    solve: Callable[[Problem], Awaitable[BenchRow]],
    memory: Memory,
    on_row: Callable[[BenchRow], None],
) -> None:
    """Solve ``problems`` one at a time, in order, passing each row (marked: :func:`marked`) to
    ``on_row`` before the next problem starts."""
    for problem in problems:
        row = await solve(problem)
        on_row(marked(row, memory))
