"""The collaboration protocol on any engine: the shared history re-sent as the prompt of each step.

For engines without a shared-cache primitive (OpenAI-compatible servers, the fake engine; or the
embedded engine when asked, to compare). Each worker is a task that writes its steps one request
at a time: the prompt is the common prompt, the history of finished steps as it stands when the
request is sent (in the order the steps finished), then the worker's header and its step so far,
as a partial assistant answer; the request stops at the step delimiter. A finished step joins the
history at once, so the worker's next request and every request sent after it see it.

This is not concurrent attention: a worker sees another's step only from its next request on, and
each request's prompt is computed again by the backend except what its prefix cache serves (a
server with automatic prefix caching, such as vLLM or SGLang, serves the history up to the first
step that is new to that worker; the embedded engine's slot cache does the same). Step ends
follow :func:`~ponder.engines.collaboration.step_ends`: a delimiter that does not end a sentence
(``end_chars``) is kept and the step goes on in another request. The total token budget is checked
as requests come back, so the requests in flight may pass it by up to one step each.

Requests are seeded by (worker's identity, step, part), so a run on a seeded engine is
reproducible up to the order in which the backend answers concurrent requests.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from ponder.context.metered import MeteredEngine
from ponder.core.seeding import derive_seed
from ponder.engines.base import Completion
from ponder.engines.collaboration import (
    CollabEnd,
    CollabEvent,
    CollabRequest,
    EndReason,
    FinishedStep,
    step_ends,
)


class ResendSession:
    """A :class:`~ponder.engines.collaboration.CollabSession` made of ordinary requests (see the
    module docstring); ``check`` is called before each request (the run's interrupts refuse new
    work after a hard interrupt). Start it inside a running event loop."""

    def __init__(self, engine: MeteredEngine, request: CollabRequest, check: Callable[[], None]) -> None:
        self.request = request
        self._engine = engine
        self._check = check
        self._queue: asyncio.Queue[CollabEvent | BaseException] = asyncio.Queue()
        workers = request.workers
        self._history = ""  # the finished steps' text, in the order they finished
        self._steps = 0
        self._drawn = 0
        self._partial = [""] * workers
        self._partial_tokens = [0] * workers
        self._done = [False] * workers
        self._counters = {"requests": 0, "prompt_tokens": 0, "prompt_tokens_computed": 0}
        self._ended = False
        self._clock = time.perf_counter()
        self._tasks = [asyncio.ensure_future(self._worker(i)) for i in range(workers)]

    async def next(self) -> CollabEvent:
        item = await self._queue.get()
        if isinstance(item, BaseException):
            raise item
        return item

    def cancel(self) -> None:
        self._end("cancelled")

    # -- the workers -----------------------------------------------------------------------------

    async def _worker(self, i: int) -> None:
        try:
            number, generated = 1, 0
            while not self._ended:
                header = self.request.header(i, number)
                text, drawn, last, part, started = "", 0, False, 0, time.perf_counter()
                while True:
                    cap = self._cap(generated, drawn)
                    if cap <= 0:
                        last = generated >= self.request.prompt.max_tokens
                        break
                    completion = await self._ask(i, number, part, header + text, cap)
                    part += 1
                    tokens = completion.completion_tokens
                    text, drawn, generated = text + completion.text, drawn + tokens, generated + tokens
                    self._drawn += tokens
                    self._partial[i], self._partial_tokens[i] = text, drawn
                    if completion.finish_reason in ("error", "cancelled") or tokens == 0:
                        last = True
                        break
                    if self._delimited(completion):
                        text += self.request.delimiter
                        if step_ends(text, self.request.delimiter, self.request.end_chars):
                            break
                        continue  # not the end of a sentence: the step goes on
                    last = completion.finish_reason == "stop" or generated >= self.request.prompt.max_tokens
                    break
                self._partial[i], self._partial_tokens[i] = "", 0
                if text.strip():
                    if self._finished(i, number, header, text, drawn, started):
                        self._end("answer")
                        return
                    number += 1
                self._done[i] = last
                reason = self._over()
                if reason is not None:
                    self._end(reason)
                if last:
                    return
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a failed request fails the collaboration (a hard interrupt ends it)
            if not self._ended:
                self._ended = True
                self._cancel_others()
                self._queue.put_nowait(exc)

    def _cap(self, generated: int, drawn: int) -> int:
        request = self.request
        caps = [request.prompt.max_tokens - generated]
        if request.step_tokens:
            caps.append(request.step_tokens - drawn)
        if request.total_tokens is not None:
            caps.append(request.total_tokens - self._drawn)
        return min(caps)

    async def _ask(self, worker: int, number: int, part: int, own: str, cap: int) -> Completion:
        """One request: the common prompt, the history as it stands, the worker's step so far."""
        prompt = self.request.prompt
        identity = prompt.first_index + worker
        prefix = self._history + own
        continued: dict[str, Any] = (
            {"text": (prompt.text or "") + prefix}
            if prompt.messages is None
            else {"assistant_prefix": prompt.assistant_prefix + prefix}
        )
        request = replace(
            prompt,
            n=1,
            first_index=identity,
            seed=derive_seed(prompt.seed, identity, number, part),
            stop=tuple(dict.fromkeys((*prompt.stop, self.request.delimiter))),
            max_tokens=cap,
            **continued,
        )
        self._check()
        [row] = await self._engine.generate([request])
        completion = row[0]
        self._counters["requests"] += 1
        self._counters["prompt_tokens"] += completion.usage.prompt_tokens
        self._counters["prompt_tokens_computed"] += completion.usage.prompt_tokens_computed
        await asyncio.sleep(0)  # the others take their turn (a local engine may answer at once)
        return completion

    def _delimited(self, completion: Completion) -> bool:
        """Whether the step delimiter ended the completion (a backend that does not say which stop
        string ended it: any stop is taken as the delimiter)."""
        if completion.stop_sequence is not None:
            return completion.stop_sequence == self.request.delimiter
        return completion.finish_reason == "stop" and not self._engine.capabilities.reports_stop

    # -- the history -----------------------------------------------------------------------------

    def _finished(self, worker: int, number: int, header: str, text: str, tokens: int, started: float) -> bool:
        """Append a finished step to the history and report it; whether it states the final answer."""
        delimiter = self.request.delimiter
        self._history += header + text + ("" if text.endswith(delimiter) else delimiter)
        self._steps += 1
        final = self.request.is_final(text)
        now = time.perf_counter()
        self._queue.put_nowait(
            FinishedStep(
                worker=worker,
                number=number,
                order=self._steps,
                header=header,
                text=text,
                tokens=tokens,
                started=round(started - self._clock, 4),
                ended=round(now - self._clock, 4),
                final=final,
            )
        )
        return final

    def _over(self) -> EndReason | None:
        request = self.request
        if request.total_tokens is not None and self._drawn >= request.total_tokens:
            return "tokens"
        if request.max_steps and self._steps >= request.max_steps:
            return "steps"
        if all(self._done):
            return "exhausted"
        return None

    def _end(self, reason: EndReason) -> None:
        if self._ended:
            return
        self._ended = True
        self._cancel_others()
        partial = tuple(self._partial)
        self._queue.put_nowait(CollabEnd(reason, partial, tuple(self._partial_tokens), counters=dict(self._counters)))

    def _cancel_others(self) -> None:
        current = asyncio.current_task()
        for task in self._tasks:
            if task is not current:
                task.cancel()
