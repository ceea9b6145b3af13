"""The samples of a watched run as they stand: their text so far, whether they are live, their answers.

:class:`LiveSamples` folds a run's watch events (:mod:`ponder.context.watch`) into one
:class:`LiveSample` per sample key: the text so far (a continued sample's ``prefix`` first, then
what it generated: ``start`` is where the generated text begins), its tokens, whether it is
still running, and, once it ended, its finish reason and answer. ``ponder serve`` (the streamed
reasoning) and ``ponder solve`` (the live view) both read it.

- :meth:`LiveSamples.votes` counts the answers of the samples that ended (one vote each, answers
  compared as written), most first: the crowd so far, not the strategy's decision, which may
  weigh samples.
- :meth:`LiveSamples.leader` is the leading live sample: the one with the most tokens among those
  whose current answer (read from their text so far) is the vote's leading answer, else the one
  with the most tokens (the first seen on a tie); ``None`` when no sample is live.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from ponder.context.watch import SampleEnded, SampleEvent, SampleGrew, SampleKey, SampleStarted


def vote_text(votes: dict[str, int]) -> str:
    """Votes on one line: ``4 x3, 5 x1`` (``none yet`` without any)."""
    return ", ".join(f"{answer} x{count}" for answer, count in votes.items()) or "none yet"


@dataclass
class LiveSample:
    """One sample as the events so far describe it; ``number`` counts samples in the order seen, from 1."""

    key: SampleKey
    number: int
    text: str = ""
    start: int = 0  # where the generated text begins (after a continued prefix)
    tokens: int = 0
    live: bool = True
    finish_reason: str | None = None
    answer: str | None = None

    def last_line(self) -> str:
        """The last non-empty line of the text (what a one-line view shows)."""
        end = len(self.text.rstrip())
        return self.text[self.text.rfind("\n", 0, end) + 1 : end].strip()


class LiveSamples:
    """Every sample of a watched run (see the module docstring); ``extract`` reads an answer from
    a sample's text: a live one's (for :meth:`leader`), an ended one's when its event carries none."""

    def __init__(self, extract: Callable[[str], str | None] | None = None) -> None:
        self.extract = extract
        self.samples: dict[SampleKey, LiveSample] = {}
        self._partial: dict[SampleKey, tuple[int, str | None]] = {}  # key -> (text length read, answer)

    def __call__(self, event: SampleEvent) -> None:
        self.apply(event)

    def apply(self, event: SampleEvent) -> LiveSample:
        """Fold ``event`` in; the sample it is about."""
        sample = self.samples.get(event.key)
        if isinstance(event, SampleStarted):
            number = sample.number if sample is not None else len(self.samples) + 1
            sample = LiveSample(event.key, number, event.prefix, len(event.prefix), event.prefix_tokens)
            self.samples[event.key] = sample
            return sample
        if sample is None:
            sample = self.samples[event.key] = LiveSample(event.key, len(self.samples) + 1)
        if isinstance(event, SampleGrew):
            sample.text += event.text
            sample.tokens = event.tokens
            sample.live = True
        elif isinstance(event, SampleEnded):
            sample.live = False
            sample.finish_reason = event.finish_reason
            answer = event.answer
            if answer is None and self.extract is not None and event.finish_reason != "error":
                answer = self.extract(sample.text)
            sample.answer = answer
        return sample

    def live(self) -> list[LiveSample]:
        return [s for s in self.samples.values() if s.live]

    def votes(self) -> dict[str, int]:
        """Answers of the samples that ended, with how many gave each (most first; ties: first seen)."""
        counts = Counter(s.answer for s in self.samples.values() if not s.live and s.answer is not None)
        return dict(counts.most_common())

    def leading_answer(self) -> str | None:
        return next(iter(self.votes()), None)

    def current_answer(self, sample: LiveSample) -> str | None:
        """The answer ``sample`` states so far (its final one once it ended)."""
        if not sample.live or self.extract is None:
            return sample.answer
        read, answer = self._partial.get(sample.key, (-1, None))
        if read != len(sample.text):
            answer = self.extract(sample.text) if sample.text else None
            self._partial[sample.key] = (len(sample.text), answer)
        return answer

    def leader(self) -> SampleKey | None:
        """The leading live sample (see the module docstring), else ``None``."""
        live = self.live()
        if not live:
            return None
        leading = self.leading_answer()
        agreeing = [s for s in live if leading is not None and self.current_answer(s) == leading]
        return max(agreeing or live, key=lambda s: (s.tokens, -s.number)).key
