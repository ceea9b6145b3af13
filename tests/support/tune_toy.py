"""A toy dataset and scripted engines for the ``ponder tune`` tests: which configuration is best is known.

Questions are ``What is N plus N?`` (gold ``2N``). :func:`right_at` answers right only at one
sampling temperature (or one number of samples per call), so the one good configuration of a
space is known in advance.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from pathlib import Path

from ponder.core.errors import BackendUnavailableError
from ponder.engines import FakeEngine
from ponder.engines.base import Completion, GenerationRequest
from ponder.engines.fake import prompt_text

QUESTION = re.compile(r"What is (\d+) plus")


def write_toy(path: Path, n: int = 30) -> Path:
    """A JSONL dataset of ``n`` addition problems (ids ``p00`` ...)."""
    rows = [{"id": f"p{i:02d}", "question": f"What is {i} plus {i}?", "answer": str(2 * i)} for i in range(n)]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def number_in(request: GenerationRequest) -> int:
    match = QUESTION.search(prompt_text(request))
    return int(match.group(1)) if match else 0


def right_at(
    *, temperature: float | None = None, n: int | None = None, parity: bool = False
) -> Callable[[GenerationRequest, int], str]:
    """A script that answers right only at ``temperature`` and/or ``n`` samples per request (and,
    with ``parity``, only on even numbers, so that splits differ in accuracy)."""

    def script(request: GenerationRequest, index: int) -> str:
        number = number_in(request)
        ok = temperature is None or (request.temperature is not None and abs(request.temperature - temperature) < 1e-9)
        ok = ok and (n is None or request.n == n) and (not parity or number % 2 == 0)
        return f"Adding them up. The answer is {2 * number if ok else 2 * number + 1}."

    return script


class Failing(FakeEngine):
    """A scripted engine that serves ``limit`` calls, then cannot serve."""

    def __init__(self, script: Callable[[GenerationRequest, int], str], limit: int) -> None:
        super().__init__(script)
        self.limit = limit

    async def generate(self, requests: Sequence[GenerationRequest]) -> list[list[Completion]]:
        if self.calls >= self.limit:
            raise BackendUnavailableError("the engine went away")
        return await super().generate(requests)
