"""A stand-in for vLLM's async engine: the same ``generate``/``abort``/``get_tokenizer`` calls and
output shapes (``RequestOutput``, ``CompletionOutput``, ``Logprob``, ``SamplingParams`` and
``RequestOutputKind`` with vLLM's field names), with scripted texts and no model, so that
:class:`~ponder.engines.vllm.VLLMEngine` is unit-tested without a GPU.

The tokenizer splits text into words with their leading whitespace (``" answer"``), id 0 being
BOS; its chat template writes ``<|role|>content`` turns. ``script(prompt_text, seed)`` gives a
sample's text (or a ``Scripted`` with logprobs and the first token's alternatives). The engine
cuts the text at the earliest stop string (``finish_reason="stop"``, ``stop_reason`` that string)
or at ``max_tokens`` (``length``), then streams one token per output (``DELTA``), yielding to the
event loop between tokens (``token_delay`` seconds). Its prefix cache holds the prompts that
have been prefilled (once a request's first output is made, as a real engine caches a block once
computed); a request reports the blocks of ``block`` tokens it found there
as ``num_cached_tokens``. Every request is recorded with its params; aborts are recorded too,
and a cancelled ``generate`` aborts its request as vLLM's does.

As vLLM's ``AsyncLLM.generate``, a failure raises a refused request (a ``ValueError``, or one of
vLLM's ``VLLMClientError`` family) and a dead engine (``EngineDeadError``) as they are, and wraps
anything else in an empty ``EngineGenerateError`` whose cause it is. ``finish_with`` replaces the
last output's ``finish_reason`` (vLLM's ``abort``, ``error`` or ``repetition``). The stand-in
serves in the event loop of its first ``generate`` only (vLLM's output handler is a task of that
loop: a call from another loop never gets its outputs; here it raises).
"""

from __future__ import annotations

import asyncio
import enum
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from ponder.engines.fake import Scripted


class EngineGenerateError(Exception):
    """vLLM's wrapper of an unexpected failure in ``generate`` (no message; the cause says it)."""


class VLLMClientError(Exception):
    """The base of vLLM's bad-request errors in recent versions (not a ``ValueError`` there)."""


class RequestOutputKind(enum.Enum):
    CUMULATIVE = 0
    DELTA = 1
    FINAL_ONLY = 2


@dataclass
class SamplingParams:
    n: int = 1
    seed: int | None = None
    temperature: float = 1.0
    top_p: float = 1.0
    max_tokens: int | None = 16
    stop: list[str] | None = None
    logprobs: int | None = None
    output_kind: RequestOutputKind = RequestOutputKind.CUMULATIVE


@dataclass
class Logprob:
    logprob: float
    rank: int | None = None
    decoded_token: str | None = None


@dataclass
class CompletionOutput:
    index: int
    text: str
    token_ids: list[int]
    cumulative_logprob: float | None
    logprobs: list[dict[int, Logprob]] | None
    finish_reason: str | None = None
    stop_reason: int | str | None = None


@dataclass
class RequestOutput:
    request_id: str
    prompt: str | None
    prompt_token_ids: list[int] | None
    outputs: list[CompletionOutput]
    finished: bool
    num_cached_tokens: int | None = None


class StandInTokenizer:
    """Words with their leading whitespace as tokens; id 0 is BOS."""

    bos = "<s>"

    def __init__(self, *, chat_template: str | None = "<|role|>content") -> None:
        self.chat_template = chat_template
        self.pieces: list[str] = [self.bos]
        self.ids: dict[str, int] = {self.bos: 0}
        self.encodings: list[tuple[str, bool]] = []  # (text, add_special_tokens) of every encode

    def id_of(self, piece: str) -> int:
        if piece not in self.ids:
            self.ids[piece] = len(self.pieces)
            self.pieces.append(piece)
        return self.ids[piece]

    def encode(self, text: str, add_special_tokens: bool = True) -> list[int]:
        self.encodings.append((text, add_special_tokens))
        return ([0] if add_special_tokens else []) + [self.id_of(p) for p in split(text)]

    def decode(self, ids: list[int]) -> str:
        return "".join(self.pieces[i] for i in ids)

    def apply_chat_template(
        self, messages: list[dict[str, str]], *, tokenize: bool, add_generation_prompt: bool
    ) -> str:
        assert tokenize is False and add_generation_prompt is True
        return "".join(f"<|{m['role']}|>{m['content']}\n" for m in messages) + "<|assistant|>"


def split(text: str) -> list[str]:
    """``text`` as tokens: each word with the whitespace before it (trailing whitespace on the last)."""
    pieces = re.findall(r"\s*\S+", text)
    rest = text[sum(len(p) for p in pieces) :]
    if rest:
        pieces = [*pieces[:-1], pieces[-1] + rest] if pieces else [rest]
    return pieces


Script = Callable[[str, int], "Scripted | str"]


@dataclass
class StandInLLM:
    """See the module docstring. ``async_tokenizer``: ``get_tokenizer`` is a coroutine and there is
    no ``tokenizer`` attribute (vLLM 0.8-0.10's shape as far as ponder reads it)."""

    script: Script
    tokenizer_impl: StandInTokenizer = field(default_factory=StandInTokenizer)
    max_model_len: int = 4096
    block: int = 4
    token_delay: float = 0.0
    async_tokenizer: bool = False
    fail_with: BaseException | None = None  # raised by every generate, after its first token
    finish_with: str | None = None  # the last output's finish_reason instead of stop/length
    loop: asyncio.AbstractEventLoop | None = None  # the event loop of the first generate
    requests: list[tuple[str, SamplingParams, list[int]]] = field(default_factory=list)
    aborted: list[str] = field(default_factory=list)
    started: list[str] = field(default_factory=list)  # request ids, in the order their prompts were computed
    cache: list[list[int]] = field(default_factory=list)
    shut_down: bool = False

    def __post_init__(self) -> None:
        self.model_config = SimpleNamespace(max_model_len=self.max_model_len)

    @property
    def tokenizer(self) -> StandInTokenizer | None:
        return None if self.async_tokenizer else self.tokenizer_impl

    def get_tokenizer(self) -> Any:
        if not self.async_tokenizer:
            return self.tokenizer_impl

        async def later() -> StandInTokenizer:
            return self.tokenizer_impl

        return later()

    def cached_tokens(self, ids: list[int]) -> int:
        best = 0
        for cached in self.cache:
            same = 0
            for a, b in zip(cached, ids, strict=False):
                if a != b:
                    break
                same += 1
            best = max(best, same)
        return min(best, len(ids) - 1) // self.block * self.block

    async def generate(
        self, prompt: dict[str, list[int]], sampling_params: SamplingParams, request_id: str
    ) -> AsyncIterator[RequestOutput]:
        assert sampling_params.n == 1 and sampling_params.output_kind is RequestOutputKind.DELTA
        if self.loop is None:
            self.loop = asyncio.get_running_loop()
        elif self.loop is not asyncio.get_running_loop():
            raise EngineGenerateError() from RuntimeError("the output handler runs in another event loop")
        ids = list(prompt["prompt_token_ids"])
        text = self.tokenizer_impl.decode(ids)
        self.requests.append((request_id, sampling_params, ids))
        try:
            await asyncio.sleep(0)
            cached = self.cached_tokens(ids)
            self.started.append(request_id)
            item = self.script(text, sampling_params.seed or 0)
            item = item if isinstance(item, Scripted) else Scripted(item)
            body, finish, stop_reason = self._cut(item.text, sampling_params)
            pieces = split(body)
            await asyncio.sleep(0)  # the prefill step: requests that arrived with this one found nothing cached
            self.cache.append(ids)  # prefilled: later requests find these blocks
            if not pieces:
                yield self._output(request_id, ids, "", [], None, finish, stop_reason, cached, first=True, done=True)
                return
            for i, piece in enumerate(pieces):
                if i and self.token_delay:
                    await asyncio.sleep(self.token_delay)
                await asyncio.sleep(0)
                if self.fail_with is not None and i == 1:
                    raise self.fail_with
                token = self.tokenizer_impl.id_of(piece)
                logprobs = self._logprobs(item, i, token, piece, sampling_params.logprobs)
                last = i == len(pieces) - 1
                yield self._output(
                    request_id, ids, piece, [token], logprobs, finish, stop_reason, cached, first=i == 0, done=last
                )
        except asyncio.CancelledError:
            await self.abort(request_id)
            raise
        except Exception as exc:
            names = {cls.__name__ for cls in type(exc).__mro__}
            if isinstance(exc, ValueError) or names & {"VLLMClientError", "EngineDeadError"}:
                raise
            await self.abort(request_id)
            raise EngineGenerateError() from exc

    def _cut(self, text: str, params: SamplingParams) -> tuple[str, str, str | None]:
        hits = sorted((at, s) for s in params.stop or () if (at := text.find(s)) >= 0)
        finish, stop_reason = "stop", None
        if hits:
            text, stop_reason = text[: hits[0][0]], hits[0][1]
        pieces = split(text)
        if params.max_tokens is not None and len(pieces) > params.max_tokens:
            text, finish, stop_reason = "".join(pieces[: params.max_tokens]), "length", None
        if self.finish_with is not None:
            finish, stop_reason = self.finish_with, None
        return text, finish, stop_reason

    def _logprobs(
        self, item: Scripted, position: int, token: int, piece: str, wanted: int | None
    ) -> list[dict[int, Logprob]] | None:
        if wanted is None:
            return None
        entries: dict[int, Logprob] = {}
        alternatives = item.top if position == 0 else ()
        for rank, (text, logprob) in enumerate(alternatives[:wanted], start=1):
            entries[self.tokenizer_impl.id_of(text)] = Logprob(logprob, rank, text)
        if token not in entries:
            ranked = [t for t, _ in alternatives]
            rank = ranked.index(piece) + 1 if piece in ranked else len(alternatives) + 1
            entries[token] = Logprob(item.logprob, rank if alternatives else 1, piece)
        return [entries]

    def _output(
        self,
        request_id: str,
        ids: list[int],
        text: str,
        tokens: list[int],
        logprobs: list[dict[int, Logprob]] | None,
        finish: str,
        stop_reason: str | None,
        cached: int,
        *,
        first: bool,
        done: bool,
    ) -> RequestOutput:
        choice = CompletionOutput(
            0, text, tokens, None, logprobs, finish if done else None, stop_reason if done else None
        )
        return RequestOutput(request_id, None, ids if first else None, [choice], done, cached)

    async def abort(self, request_id: str) -> None:
        self.aborted.append(request_id)

    async def reset_prefix_cache(self) -> bool:
        self.cache.clear()
        return True

    def shutdown(self) -> None:
        self.shut_down = True
