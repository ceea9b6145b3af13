"""ponder's requests as vLLM takes them, and vLLM's outputs as ponder's completions.

Pure functions over the shapes of vLLM's documented API (no vLLM import): the prompt as token ids
(the chat rendered with the tokenizer's chat template, as vLLM's own chat endpoint renders it),
one sample's ``SamplingParams`` arguments, and a :class:`SampleState` that folds the sample's
``RequestOutput`` deltas (``RequestOutputKind.DELTA``) into text, token count, logprobs, finish
reason and usage.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ponder.core.errors import ContextOverflowError, InvalidModelError
from ponder.core.result import FinishReason
from ponder.core.seeding import derive_seed
from ponder.core.usage import Usage
from ponder.engines.base import Completion, GenerationRequest, TokenLogprob
from ponder.engines.chat_template import ChatTemplate


def prompt_ids(tokenizer: Any, request: GenerationRequest) -> list[int]:
    """The token ids of a request's prompt. A chat is rendered with the tokenizer's chat template
    (opened for the assistant, plus ``assistant_prefix``) and tokenized without added special
    tokens, since the template writes its own; a tokenizer without a template renders plain turns
    (:data:`~ponder.engines.chat_template.PLAIN_TEMPLATE`, as the embedded engine does for base
    models) and raw text is tokenized as it is, both with the tokenizer's special tokens."""
    if request.text is not None:
        return list(tokenizer.encode(request.text, add_special_tokens=True))
    messages = request.messages or ()
    if not getattr(tokenizer, "chat_template", None):
        text = ChatTemplate(None).render(messages, assistant_prefix=request.assistant_prefix)
        return list(tokenizer.encode(text, add_special_tokens=True))
    try:
        rendered = tokenizer.apply_chat_template(
            [{"role": m.role, "content": m.content} for m in messages], tokenize=False, add_generation_prompt=True
        )
    except Exception as exc:  # jinja2's TemplateError, ValueError: the template refused the chat
        raise InvalidModelError(f"the model's chat template rejected the messages: {exc}") from exc
    return list(tokenizer.encode(str(rendered) + request.assistant_prefix, add_special_tokens=False))


def max_new_tokens(prompt: Sequence[int], request: GenerationRequest, max_context: int) -> int:
    """The most tokens a sample may generate after ``prompt``: the request's cap, within the
    context (``max_context`` 0: unknown, the cap alone)."""
    if not prompt:
        raise ContextOverflowError("the prompt is empty after tokenization")
    if max_context and len(prompt) >= max_context:
        raise ContextOverflowError(f"prompt has {len(prompt)} tokens but the model's context holds {max_context}")
    return min(request.max_tokens, max_context - len(prompt)) if max_context else request.max_tokens


def sampling_arguments(request: GenerationRequest, index: int, max_tokens: int) -> dict[str, Any]:
    """``SamplingParams`` keyword arguments for sample ``index`` of ``request``: one sample per
    vLLM request, seeded by its identity ``(seed, first_index + index)`` as every ponder engine
    seeds it (vLLM's own ``n`` would seed its samples ``seed + i``); ``logprobs`` is the number
    of alternatives per token (0: the sampled token's alone), ``None`` when none are wanted."""
    return {
        "n": 1,
        "seed": derive_seed(request.seed, request.first_index + index),
        "temperature": request.temperature,
        "top_p": request.top_p,
        "max_tokens": max_tokens,
        "stop": list(request.stop) or None,
        "logprobs": request.top_logprobs if request.wants_logprobs else None,
    }


def token_logprobs(
    token_ids: Sequence[int],
    logprobs: Sequence[Mapping[int, Any]] | None,
    top: int,
    decode: Callable[[int], str],
) -> list[TokenLogprob]:
    """ponder's logprobs of the tokens ``token_ids`` from vLLM's per-token ``{token id: Logprob}``
    maps (the sampled token plus the ``top`` most likely, each with its ``rank`` and
    ``decoded_token``): the sampled token's log-probability, and the ``top`` alternatives in rank
    order (the sampled one among them when it ranks that high)."""
    found: list[TokenLogprob] = []
    for token_id, entries in zip(token_ids, logprobs or (), strict=False):
        chosen = entries.get(token_id)
        if chosen is None:
            continue
        ranks = {tid: rank for tid, entry in entries.items() if isinstance(rank := getattr(entry, "rank", None), int)}
        best = sorted((tid for tid, rank in ranks.items() if rank > 0), key=ranks.__getitem__)[:top]
        alternatives = tuple((_text(tid, entries[tid], decode), float(entries[tid].logprob)) for tid in best)
        found.append(TokenLogprob(_text(token_id, chosen, decode), float(chosen.logprob), alternatives))
    return found


def _text(token_id: int, entry: Any, decode: Callable[[int], str]) -> str:
    decoded = getattr(entry, "decoded_token", None)
    return decoded if isinstance(decoded, str) else decode(token_id)


FINISHED: dict[str, FinishReason] = {"stop": "stop", "length": "length", "repetition": "length"}
"""vLLM's finish reasons of a sample that ended normally, as ponder's."""
FAILED = {"abort": "vLLM aborted the request", "error": "vLLM failed on the request (finish_reason 'error')"}


@dataclass
class SampleState:
    """One sample while vLLM streams it (``DELTA`` outputs): what it has said so far and, once
    finished, why it ended."""

    request: GenerationRequest
    index: int
    prompt_tokens: int
    decode: Callable[[int], str]
    parts: list[str] = field(default_factory=list)
    tokens: int = 0
    logprobs: list[TokenLogprob] = field(default_factory=list)
    finish: str | None = None
    stop_reason: int | str | None = None
    cached: int | None = None

    def add(self, output: Any) -> tuple[str, list[TokenLogprob]] | None:
        """Fold in one ``RequestOutput``: its new text and token logprobs (``None`` when it brings
        neither)."""
        cached = getattr(output, "num_cached_tokens", None)
        if isinstance(cached, int):
            self.cached = max(self.cached or 0, cached)
        choices = list(getattr(output, "outputs", None) or ())
        if not choices:
            return None
        choice = choices[0]
        ids = list(getattr(choice, "token_ids", None) or ())
        self.tokens += len(ids)
        text = str(getattr(choice, "text", "") or "")
        new: list[TokenLogprob] = []
        if self.request.wants_logprobs:
            new = token_logprobs(ids, getattr(choice, "logprobs", None), self.request.top_logprobs, self.decode)
            self.logprobs += new
        self.parts.append(text)
        if getattr(output, "finished", False):
            self.finish = getattr(choice, "finish_reason", None) or "stop"
            self.stop_reason = getattr(choice, "stop_reason", None)
        return (text, new) if text or new else None

    @property
    def usage(self) -> Usage:
        """The prompt as requested, the part vLLM computed (not served from its prefix cache; all
        of it when vLLM does not say), and the tokens generated."""
        computed = self.prompt_tokens - min(self.cached or 0, self.prompt_tokens)
        return Usage(prompt_tokens=self.prompt_tokens, prompt_tokens_computed=computed, completion_tokens=self.tokens)

    def completion(self, *, stopped: bool = False) -> Completion:
        """The sample as ``generate`` returns it; ``stopped``: its caller stopped it (the text so
        far, ``cancelled``). vLLM's finish reasons: ``stop`` and ``length`` (``repetition``, cut
        short by vLLM's repetition detection, is ``length`` too); ``abort`` that ponder did not ask
        for, ``error`` and any other are a failed sample naming the reason."""
        finish: FinishReason
        error = None
        reason = str(self.finish or "stop")  # vLLM's reasons are strings (FinishReason's str())
        if stopped:
            finish = "cancelled"
        elif reason in FINISHED:
            finish = FINISHED[reason]
        else:
            finish, error = "error", FAILED.get(reason, f"vLLM ended the request: finish_reason {reason!r}")
        stop = self.stop_reason if isinstance(self.stop_reason, str) and self.stop_reason in self.request.stop else None
        failed = finish == "error"
        return Completion(
            text="" if failed else "".join(self.parts),
            completion_tokens=self.tokens,
            finish_reason=finish,
            usage=self.usage,
            index=self.index,
            logprobs=tuple(self.logprobs) if self.request.wants_logprobs and not failed else None,
            error=error,
            stop_sequence=stop if finish == "stop" else None,
        )
