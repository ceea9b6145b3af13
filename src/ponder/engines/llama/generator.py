"""The embedded engine's model-side state: weights, context, chat template, the slot table.

:class:`Generator` turns requests into prompt tokens and owns what the scheduler
(:mod:`ponder.engines.llama.scheduler`) works on; all of it is used from the engine's one
worker thread.
"""

from __future__ import annotations

from ponder.core.errors import ContextOverflowError
from ponder.engines.base import GenerationRequest
from ponder.engines.chat_template import ChatTemplate
from ponder.engines.llama.native import NativeContext, NativeModel
from ponder.engines.llama.slots import SlotTable


class Generator:
    """Owns one model and one context; call from a single thread."""

    def __init__(self, model: NativeModel, context: NativeContext, n_slots: int) -> None:
        self.model = model
        self.context = context
        self.slots = SlotTable(n_slots)
        self.template = ChatTemplate(
            model.chat_template(), bos_token=model.special_text(model.bos), eos_token=model.special_text(model.eos)
        )
        self.max_context = min(context.n_ctx, model.n_ctx_train or context.n_ctx)

    def reset_cache(self) -> None:
        """Forget every cached prefix (the next call computes its prompts in full)."""
        self.context.clear()
        for slot in self.slots.slots:
            self.slots.touch(slot, [])

    # -- preparing requests ------------------------------------------------------------------

    def prompt_tokens(self, request: GenerationRequest) -> list[int]:
        """The tokens of a request's full prompt (chat template and partial answer included)."""
        if request.text is not None:
            return self.model.tokenize(request.text, add_special=self.model.add_bos)
        assert request.messages is not None
        text = self.template.render(request.messages, assistant_prefix=request.assistant_prefix)
        tokens = self.model.tokenize(text, add_special=self.model.add_bos)
        if len(tokens) > 1 and tokens[0] == tokens[1] == self.model.bos:
            tokens = tokens[1:]  # the template wrote a BOS of its own
        return tokens

    def text_tokens(self, text: str) -> list[int]:
        """The tokens of ``text`` inside a sequence (no BOS): a collaboration's step headers."""
        return self.model.tokenize(text, add_special=False)

    def max_new_tokens(self, prompt: list[int], request: GenerationRequest) -> int:
        """The most tokens a sample of ``request`` may generate after ``prompt`` (its cap, within the context)."""
        if not prompt:
            raise ContextOverflowError("the prompt is empty after tokenization")
        if len(prompt) >= self.max_context:
            raise ContextOverflowError(
                f"prompt has {len(prompt)} tokens but the model's context holds {self.max_context}"
            )
        return min(request.max_tokens, self.max_context - len(prompt))
