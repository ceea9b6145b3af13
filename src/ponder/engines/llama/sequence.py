"""The state of one sample while it is generated: text, stop strings, token cap, logprobs."""

from __future__ import annotations

import codecs
from dataclasses import dataclass, field

import numpy as np

from ponder.core.result import FinishReason
from ponder.engines.base import TokenLogprob
from ponder.engines.llama.native import NativeModel, Sampler


def log_normalizer(logits: np.ndarray) -> float:
    """log sum exp(logits), computed stably."""
    peak = float(logits.max())
    return peak + float(np.log(np.exp(logits - peak).sum()))


def token_logprob(model: NativeModel, logits: np.ndarray, token: int, piece: str, top: int) -> TokenLogprob:
    """The chosen token's log-probability and the ``top`` most likely alternatives."""
    norm = log_normalizer(logits)
    alternatives: tuple[tuple[str, float], ...] = ()
    if top:
        best = np.argpartition(-logits, top)[:top]
        best = best[np.argsort(-logits[best])]
        alternatives = tuple(
            (model.piece(int(t)).decode("utf-8", errors="replace"), float(logits[t]) - norm) for t in best
        )
    return TokenLogprob(piece, float(logits[token]) - norm, alternatives)


@dataclass
class SampleState:
    """One sample of one request, from its first sampled token to its finish."""

    request: int
    index: int
    slot: int
    pos: int  # position the next decoded token takes
    max_new: int
    stop: tuple[str, ...]
    sampler: Sampler
    want_logprobs: bool
    top_logprobs: int = 0
    prompt_computed: int = 0
    text: str = ""
    generated: int = 0
    decoded: list[int] = field(default_factory=list)
    logprobs: list[TokenLogprob] = field(default_factory=list)
    pending: int | None = None  # sampled token waiting to be decoded
    finish: FinishReason | None = None
    stop_sequence: str | None = None  # the stop string that ended the sample
    streamed: int = 0  # characters of ``text`` already sent to the caller

    def __post_init__(self) -> None:
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._longest_stop = max((len(s) for s in self.stop), default=0)

    def accept(self, model: NativeModel, token: int, logits: np.ndarray | None) -> None:
        """Take a sampled token: end on EOG, a stop string or the cap; else queue it for decode."""
        self.generated += 1
        self.pending = None
        if model.is_eog(token):
            self.finish = "stop"
            return
        piece = self._utf8.decode(model.piece(token))
        if logits is not None:
            self.logprobs.append(token_logprob(model, logits, token, piece, self.top_logprobs))
        before = len(self.text)
        self.text += piece
        if self._longest_stop and self._cut_at_stop(before):
            self.finish = "stop"
        elif self.generated >= self.max_new:
            self.finish = "length"
        else:
            self.pending = token

    def _cut_at_stop(self, before: int) -> bool:
        start = max(0, before - self._longest_stop + 1)
        hits = sorted((at, s) for s in self.stop if (at := self.text.find(s, start)) >= 0)
        if hits:
            self.text, self.stop_sequence = self.text[: hits[0][0]], hits[0][1]
        return bool(hits)

    def mark_decoded(self) -> None:
        """The pending token is now in the KV cache at ``pos``."""
        assert self.pending is not None
        self.decoded.append(self.pending)
        self.pos += 1

    def close(self) -> None:
        """Free the sampler; an incomplete UTF-8 tail, if any, is dropped."""
        self.sampler.close()
