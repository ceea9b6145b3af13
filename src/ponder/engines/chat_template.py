"""Rendering chat messages into prompt text with a model's (Jinja) chat template."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from jinja2 import TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from ponder.core.errors import InvalidModelError
from ponder.engines.base import Message

# Used when a GGUF file has no template (base models): plain turns a base model can follow.
PLAIN_TEMPLATE = (
    "{% for m in messages %}{% if m.role == 'system' %}{{ m.content }}\n\n"
    "{% elif m.role == 'user' %}Question: {{ m.content }}\n"
    "{% else %}Answer: {{ m.content }}\n\n{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}Answer:{% endif %}"
)


def _raise(message: str) -> None:
    raise TemplateError(message)


class ChatTemplate:
    """A compiled Jinja chat template, rendered in a sandbox."""

    def __init__(self, source: str | None, *, bos_token: str = "", eos_token: str = "") -> None:
        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
        env.globals["raise_exception"] = _raise
        env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
        self.source = source or PLAIN_TEMPLATE
        self.is_plain = source is None
        try:
            self._template = env.from_string(self.source)
        except TemplateError as exc:
            raise InvalidModelError(f"the model's chat template does not compile: {exc}") from exc
        self._specials = {"bos_token": bos_token, "eos_token": eos_token}

    def render(self, messages: Sequence[Message], *, assistant_prefix: str = "") -> str:
        """The prompt text for a chat, opened for the assistant's reply, plus a partial reply."""
        try:
            text = self._template.render(
                messages=[{"role": m.role, "content": m.content} for m in messages],
                add_generation_prompt=True,
                **self._specials,
            )
        except TemplateError as exc:
            raise InvalidModelError(f"the model's chat template rejected the messages: {exc}") from exc
        if self.is_plain and assistant_prefix:
            text += " "
        return text + assistant_prefix


def template_from_gguf(path: str) -> ChatTemplate:
    """The chat template stored in a GGUF file's metadata (plain turns when it has none)."""
    from gguf import GGUFReader  # read only the metadata; no weights are loaded

    reader = GGUFReader(path)

    def text(field_name: str) -> str | None:
        field = reader.fields.get(field_name)
        return bytes(field.parts[field.data[0]]).decode("utf-8") if field else None

    def token(id_field: str) -> str:
        field, tokens = reader.fields.get(id_field), reader.fields.get("tokenizer.ggml.tokens")
        if field is None or tokens is None:
            return ""
        index = int(field.parts[field.data[0]][0])
        return bytes(tokens.parts[tokens.data[index]]).decode("utf-8", errors="replace")

    return ChatTemplate(
        text("tokenizer.chat_template"),
        bos_token=token("tokenizer.ggml.bos_token_id"),
        eos_token=token("tokenizer.ggml.eos_token_id"),
    )
