"""Token and trace confidence (Fu et al. 2025, "Deep Think with Confidence").

- token confidence ``C_i = -(1/k) * sum_{j<=k} log P_i(j)`` over the ``k`` most likely tokens at
  position ``i``: high when the model's distribution is peaked, low when it hesitates;
- group confidence: the mean ``C`` over a sliding window of ``w`` tokens (one group, the mean
  of all, when the trace is shorter than a window);
- trace scores: ``mean`` (all tokens), ``lowest`` (the lowest group), ``bottom10`` (the mean of
  the lowest 10% of groups), ``tail`` (the mean of the last ``tail`` tokens).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

TraceScore = Literal["mean", "lowest", "bottom10", "tail"]
TRACE_SCORES: tuple[TraceScore, ...] = ("mean", "lowest", "bottom10", "tail")


def token_confidence(top_logprobs: Sequence[float]) -> float:
    """``-mean`` of the top-k log-probabilities at one position."""
    if not top_logprobs:
        raise ValueError("token confidence needs the top log-probabilities of the position")
    return -sum(top_logprobs) / len(top_logprobs)


def group_confidences(confidences: Sequence[float], window: int) -> list[float]:
    """The mean confidence of every window of ``window`` consecutive tokens (sliding by one)."""
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    if not confidences:
        return []
    if len(confidences) < window:
        return [sum(confidences) / len(confidences)]
    running = sum(confidences[:window])
    means = [running / window]
    for i in range(window, len(confidences)):
        running += confidences[i] - confidences[i - window]
        means.append(running / window)
    return means


def trace_score(confidences: Sequence[float], kind: TraceScore, *, window: int, tail: int | None = None) -> float:
    """A whole trace's confidence by ``kind`` (see the module docstring); 0 for an empty trace."""
    if not confidences:
        return 0.0
    if kind == "mean":
        return sum(confidences) / len(confidences)
    if kind == "tail":
        last = confidences[-(tail or window) :]
        return sum(last) / len(last)
    groups = group_confidences(confidences, window)
    if kind == "lowest":
        return min(groups)
    count = max(1, int(len(groups) * 0.1))
    return sum(sorted(groups)[:count]) / count


def default_window(max_tokens: int) -> int:
    """The group window for traces of up to ``max_tokens`` tokens. The paper's 2048 suits traces of
    tens of thousands of tokens (about 1/32 of them); ponder scales it as 1/16 of the cap, at least
    8 tokens (a shorter window is noise) and at most the paper's 2048."""
    return max(8, min(2048, max_tokens // 16))


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile of ``values`` with linear interpolation (numpy's default)."""
    if not values:
        raise ValueError("percentile of no values")
    ranked = sorted(values)
    position = (len(ranked) - 1) * q / 100
    low, high = math.floor(position), math.ceil(position)
    return ranked[low] + (ranked[high] - ranked[low]) * (position - low)


class RunningGroup:
    """The current group confidence of a growing trace (the last ``window`` tokens), for online
    stopping: ``full`` once a whole window has been seen (the paper checks only then)."""

    def __init__(self, window: int) -> None:
        self.window = window
        self._last: list[float] = []
        self._sum = 0.0

    def add(self, confidence: float) -> None:
        self._last.append(confidence)
        self._sum += confidence
        if len(self._last) > self.window:
            self._sum -= self._last.pop(0)

    @property
    def full(self) -> bool:
        return len(self._last) >= self.window

    @property
    def value(self) -> float:
        return self._sum / len(self._last) if self._last else 0.0
