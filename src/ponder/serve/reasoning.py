"""The leading sample's text as one growing reasoning text (``delta.reasoning_content`` of a stream).

A :class:`ReasoningText` watches a run (:mod:`ponder.context.watch`) on the run loop and hands
text to ``send`` as it should be appended. It follows one sample at a time, the leading one
(:class:`~ponder.context.live.LiveSamples`), sending its text as it is generated, and picks the
next leading live sample only when the one it follows ends, so the text only ever grows:

- a sample it switches to begins under a ``[sample N]`` line with its text so far (a continuation
  of an earlier partial: ``...`` and its new text), unless it continues exactly what was sent
  (the next step of the same path), which just goes on;
- when a followed sample ends with an answer, a line says so, with the vote so far.

Samples that arrive whole (batched continuations) are followed the same way, one after another.
"""

from __future__ import annotations

from collections.abc import Callable

from ponder.context.live import LiveSample, LiveSamples, vote_text
from ponder.context.watch import SampleEnded, SampleEvent, SampleKey


class ReasoningText:
    """A watcher that sends the leading sample's text to ``send`` (see the module docstring);
    ``extract`` reads answers from live samples' text."""

    def __init__(self, send: Callable[[str], None], extract: Callable[[str], str | None] | None = None) -> None:
        self.samples = LiveSamples(extract)
        self.following: SampleKey | None = None
        self._send = send
        self._sent = ""  # the followed path's text sent so far
        self._out: list[str] = []

    def __call__(self, event: SampleEvent) -> None:
        sample = self.samples.apply(event)
        if event.key == self.following:
            if isinstance(event, SampleEnded):
                self._catch_up(sample)
                if sample.answer is not None:
                    self._out.append(
                        f"\n[sample {sample.number} answers {sample.answer}; "
                        f"votes so far: {vote_text(self.samples.votes())}]"
                    )
                self.following = None
                self._follow()
            else:
                self._catch_up(sample)
        elif self.following is None:
            self._follow()
        if self._out:
            text, self._out = "".join(self._out), []
            self._send(text)

    def _follow(self) -> None:
        """Follow the leading live sample, if any."""
        key = self.samples.leader()
        if key is None or not self.samples.samples[key].live:
            return
        self.following = key
        sample = self.samples.samples[key]
        if self._sent and sample.text.startswith(self._sent):  # the same path goes on
            self._catch_up(sample)
            return
        self._open(sample)

    def _open(self, sample: LiveSample, note: str = "") -> None:
        gap = "\n\n" if self._sent else ""
        self._out.append(f"{gap}[sample {sample.number}{note}]\n")
        self._out.append(sample.text if sample.start == 0 else "..." + sample.text[sample.start :])
        self._sent = sample.text

    def _catch_up(self, sample: LiveSample) -> None:
        """Send what the followed sample has that was not sent yet."""
        if sample.text.startswith(self._sent):
            if len(sample.text) > len(self._sent):
                self._out.append(sample.text[len(self._sent) :])
                self._sent = sample.text
        else:  # it was restarted from another prefix
            self._open(sample, ", continued")
