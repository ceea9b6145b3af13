"""Where the samples of one HTTP stream go: :class:`Outcome` holds a failed sample's end back
until another sample proves the stream worth keeping (see its docstring)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from ponder.core.errors import EngineError
from ponder.core.usage import Usage
from ponder.engines.base import Completion
from ponder.engines.streaming import QueueStream, SampleDelta, SampleDone


@dataclass
class Outcome:
    """Where a stream's samples go: deltas and completions are pushed as they come, except that a
    failed sample's end is held back until another sample ends without failing (finished or
    stopped); if none does, the stream raises the first error instead, as
    :meth:`OpenAIEngine.generate` does when every sample fails."""

    stream: QueueStream
    workers: dict[int, asyncio.Task[None]]
    proven: bool = False  # some sample finished or was stopped
    held: list[SampleDone] = field(default_factory=list)
    errors: list[EngineError] = field(default_factory=list)
    fatal: BaseException | None = None

    def _prove(self) -> None:
        if not self.proven:
            self.proven = True
            for event in self.held:
                self.stream.push(event)
            self.held.clear()

    def delta(self, event: SampleDelta) -> None:
        if self.fatal is None:
            self.stream.push(event)

    def done(self, completion: Completion) -> None:
        if self.fatal is None:
            self.stream.push(SampleDone(completion.index, completion))
            self._prove()

    def failed(self, index: int, error: EngineError) -> None:
        """Sample ``index`` failed (after any retries)."""
        if self.fatal is not None:
            return
        self.errors.append(error)
        event = SampleDone(
            index,
            Completion(
                text="", completion_tokens=0, finish_reason="error", usage=Usage(), index=index, error=str(error)
            ),
        )
        if self.proven:
            self.stream.push(event)
        else:
            self.held.append(event)

    def fail(self, error: BaseException) -> None:
        """The whole stream fails with ``error``; the other samples' requests are closed."""
        if self.fatal is not None:
            return
        self.fatal = error
        self.stream.fail(error)
        current = asyncio.current_task()
        for task in self.workers.values():
            if task is not current:
                task.cancel()

    def close(self) -> None:
        """Every sample has ended."""
        if self.fatal is not None:
            return
        if self.held:  # every sample failed
            self.stream.fail(self.errors[0])
        else:
            self.stream.finish()
