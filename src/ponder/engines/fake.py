"""A scripted engine for unit tests of strategy logic.

It returns the texts you give it, honours ``n``, ``stop`` and ``max_tokens`` (a token here is a
whitespace-separated word), reports usage like a real engine, and records every request::

    engine = FakeEngine(["The answer is 4.", "The answer is 5."])
    engine = FakeEngine(lambda request, index: f"sample {index} of seed {request.seed}")

A list is consumed in order and cycles when it runs out; a callable gets the request and the
sample's index within it (the sample's identity is ``request.first_index + index``). An item
may be a :class:`Scripted` text that also fixes the logprobs a judge reads. ``fork=True`` makes
the fake report the prompt as computed once per request, as a forking engine would.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Sequence

from ponder.engines.base import (
    Arrivals,
    Completion,
    EngineCapabilities,
    EngineInfo,
    FinishReason,
    GenerationRequest,
    TokenLogprob,
)
from ponder.core.errors import InvalidInputError
from ponder.core.usage import Usage



@dataclass(frozen=True)
class Scripted:
    """A scripted text with its per-token logprob and the first token's alternatives."""

    text: str
    logprob: float = -0.5
    top: tuple[tuple[str, float], ...] = ()


Item = str | Scripted
Script = Sequence[Item] | Callable[[GenerationRequest, int], Item]


def prompt_text(request: GenerationRequest) -> str:
    """The text a fake model 'sees' for a request."""
    if request.text is not None:
        return request.text
    assert request.messages is not None
    chat = "\n".join(f"{m.role}: {m.content}" for m in request.messages)
    return f"{chat}\nassistant: {request.assistant_prefix}"


def _cut(text: str, request: GenerationRequest) -> tuple[str, int, FinishReason, str | None]:
    """Apply stop strings (the earliest wins) and the token cap to a scripted text."""
    finish: FinishReason = "stop"
    hits = sorted((at, stop) for stop in request.stop if (at := text.find(stop)) >= 0)
    matched = None
    if hits:
        text, matched = text[: hits[0][0]], hits[0][1]
    words = list(re.finditer(r"\S+", text))
    if len(words) > request.max_tokens:
        text, finish, matched = text[: words[request.max_tokens - 1].end()], "length", None
    return text, len(text.split()), finish, matched


class FakeEngine:
    """Scripted completions and recorded requests; see the module docstring."""

    def __init__(self, script: Script, *, fork: bool = False, remote: bool = False, max_context: int = 4096) -> None:
        if not callable(script) and not script:
            raise InvalidInputError("FakeEngine needs at least one scripted text")
        self.script = script
        self.requests: list[GenerationRequest] = []
        self.calls = 0
        self._cursor = 0
        self.capabilities = EngineCapabilities(
            fork=fork, prefix_cache=False, logprobs=True, raw_continuation=True,
            max_context=max_context, seeded=True, reports_stop=True, remote=remote,
        )
        self.info = EngineInfo(name="fake", model="scripted")

    def _next_item(self, request: GenerationRequest, index: int) -> Scripted:
        if callable(self.script):
            item = self.script(request, index)
        else:
            item = self.script[self._cursor % len(self.script)]
            self._cursor += 1
        return item if isinstance(item, Scripted) else Scripted(item)

    async def generate(self, requests: Sequence[GenerationRequest]) -> list[list[Completion]]:
        self.calls += 1
        results: list[list[Completion]] = []
        for request in requests:
            self.requests.append(request)
            prompt_tokens = len(prompt_text(request).split())
            samples = []
            for index in range(request.n):
                item = self._next_item(request, index)
                text, n_tokens, finish, matched = _cut(item.text, request)
                computed = prompt_tokens if (index == 0 or not self.capabilities.fork) else 0
                logprobs = None
                if request.wants_logprobs:
                    logprobs = tuple(TokenLogprob(w, item.logprob, item.top if i == 0 else ())
                                     for i, w in enumerate(text.split()))
                samples.append(Completion(
                    text=text, completion_tokens=n_tokens, finish_reason=finish, index=index,
                    usage=Usage(prompt_tokens=prompt_tokens, prompt_tokens_computed=computed,
                                completion_tokens=n_tokens),
                    logprobs=logprobs, stop_sequence=matched,
                ))
            results.append(samples)
        return results

    async def generate_each(self, requests: Sequence[GenerationRequest]) -> Arrivals:
        """Like a server's engine when ``remote`` (each request its own call, rows yielded one by
        one), else one batch, as a local engine serves them."""
        if not self.capabilities.remote:
            yield list(enumerate(await self.generate(requests)))
            return
        for position, request in enumerate(requests):
            [row] = await self.generate([request])
            yield [(position, row)]

    async def aclose(self) -> None:
        return None
