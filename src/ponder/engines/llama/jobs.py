"""What the scheduler works on: requests waiting their turn, and admitted jobs with their samples."""

from __future__ import annotations

from dataclasses import dataclass, field

from ponder.core.usage import Usage
from ponder.engines.base import Completion, GenerationRequest
from ponder.engines.llama.sequence import SampleState
from ponder.engines.llama.slots import Slot
from ponder.engines.streaming import QueueStream


@dataclass
class Job:
    """Samples ``first .. first + count - 1`` of one request, from admission to their last token."""

    stream: QueueStream
    request: GenerationRequest
    prompt: list[int]
    max_new: int
    caller: int
    first: int = 0
    count: int = 0
    base: Slot | None = None  # the slot its prompt is prefilled in, until the samples fork
    pos: int = 0  # prompt tokens in the base slot so far
    computed: int = 0  # prompt tokens this job computed
    states: list[SampleState] = field(default_factory=list)
    logits_at: int = -1  # batch position of the last prompt token, in the step that decodes it

    @property
    def prefilling(self) -> bool:
        return self.base is not None

    def cells(self) -> int:
        """The KV cells it may need at most: its prompt (shared by its forks) and each sample's tokens."""
        return len(self.prompt) + self.count * self.max_new

    def completion(self, state: SampleState) -> Completion:
        """What ``generate`` returns for one of its samples that has ended."""
        assert state.finish is not None
        return Completion(
            text=state.text,
            completion_tokens=state.generated,
            finish_reason=state.finish,
            index=state.index,
            usage=Usage(
                prompt_tokens=len(self.prompt),
                prompt_tokens_computed=state.prompt_computed,
                completion_tokens=state.generated,
            ),
            logprobs=tuple(state.logprobs) if state.want_logprobs else None,
            stop_sequence=state.stop_sequence,
        )


@dataclass
class Waiting:
    """A request, or its samples not yet admitted, in the queue (its prompt is tokenized on the
    worker when it reaches the head)."""

    stream: QueueStream
    request: GenerationRequest
    caller: int
    prompt: list[int] = field(default_factory=list)
    max_new: int = 0
    next_sample: int = 0
