"""A scripted engine for unit tests of strategy logic.

It returns the texts you give it, honours ``n``, ``stop`` and ``max_tokens`` (a token here is a
whitespace-separated word), reports usage like a real engine, and records every request::

    engine = FakeEngine(["The answer is 4.", "The answer is 5."])
    engine = FakeEngine(lambda request, index: f"sample {index} of seed {request.seed}")

A list is consumed in order and cycles when it runs out. ``fork=True`` makes the fake report
the prompt as computed once per request, as a forking engine would.
"""

from __future__ import annotations

import re
from typing import Callable, Sequence

from ponder.engines.base import (
    Completion,
    EngineCapabilities,
    EngineInfo,
    FinishReason,
    GenerationRequest,
    TokenLogprob,
)
from ponder.errors import InvalidInputError
from ponder.usage import Usage

Script = Sequence[str] | Callable[[GenerationRequest, int], str]


def prompt_text(request: GenerationRequest) -> str:
    """The text a fake model 'sees' for a request."""
    if request.text is not None:
        return request.text
    assert request.messages is not None
    chat = "\n".join(f"{m.role}: {m.content}" for m in request.messages)
    return f"{chat}\nassistant: {request.assistant_prefix}"


def _cut(text: str, request: GenerationRequest) -> tuple[str, int, FinishReason]:
    """Apply stop strings and the token cap to a scripted text."""
    finish: FinishReason = "stop"
    for stop in request.stop:
        at = text.find(stop)
        if at >= 0:
            text = text[:at]
    words = list(re.finditer(r"\S+", text))
    if len(words) > request.max_tokens:
        text, finish = text[: words[request.max_tokens - 1].end()], "length"
    return text, len(text.split()), finish


class FakeEngine:
    """Scripted completions and recorded requests; see the module docstring."""

    def __init__(self, script: Script, *, fork: bool = False, max_context: int = 4096) -> None:
        if not callable(script) and not script:
            raise InvalidInputError("FakeEngine needs at least one scripted text")
        self.script = script
        self.requests: list[GenerationRequest] = []
        self.calls = 0
        self._cursor = 0
        self.capabilities = EngineCapabilities(
            fork=fork, prefix_cache=False, logprobs=True, raw_continuation=True,
            max_context=max_context, seeded=True,
        )
        self.info = EngineInfo(name="fake", model="scripted")

    def _next_text(self, request: GenerationRequest, index: int) -> str:
        if callable(self.script):
            return self.script(request, index)
        text = self.script[self._cursor % len(self.script)]
        self._cursor += 1
        return text

    async def generate(self, requests: Sequence[GenerationRequest]) -> list[list[Completion]]:
        self.calls += 1
        results: list[list[Completion]] = []
        for request in requests:
            self.requests.append(request)
            prompt_tokens = len(prompt_text(request).split())
            samples = []
            for index in range(request.n):
                text, n_tokens, finish = _cut(self._next_text(request, index), request)
                computed = prompt_tokens if (index == 0 or not self.capabilities.fork) else 0
                logprobs = tuple(TokenLogprob(w, -0.5) for w in text.split()) if request.logprobs else None
                samples.append(Completion(
                    text=text, completion_tokens=n_tokens, finish_reason=finish, index=index,
                    usage=Usage(prompt_tokens=prompt_tokens, prompt_tokens_computed=computed,
                                completion_tokens=n_tokens),
                    logprobs=logprobs,
                ))
            results.append(samples)
        return results

    async def aclose(self) -> None:
        return None
