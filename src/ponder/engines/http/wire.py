"""The OpenAI wire format that ponder reads from a model server, as pydantic models.

Every reply is checked against these models before ponder uses it: completions and chat
completions (:class:`ChatReply`, :class:`TextReply`), their streamed chunks (:class:`ChatChunk`,
:class:`TextChunk`) and the model list (:class:`ModelList`). A reply of the wrong shape (a
``usage`` that is a string, a choice that is a number, an ``index`` of ``"a"``, a ``content`` of
42, a logprob of ``"x"``, ``{"data": 5}``) becomes an :class:`UpstreamError` naming the first
offending field by its path, e.g. ``choices.0.index: Input should be a valid integer``.

Only the fields ponder reads are declared; others are ignored. Validation is pydantic's lax
mode (``"12"`` is read as 12), token counts must be >= 0, and text (contents, tokens) must be
valid Unicode: a lone surrogate (JSON ``"\\ud800"``) is refused as :func:`ponder.core.text.check_text`
refuses it in a prompt.
"""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from ponder.core.errors import InvalidInputError, UpstreamError
from ponder.core.text import check_text


def _unicode(text: str) -> str:
    try:
        return check_text(text, "text")
    except InvalidInputError as exc:  # reported by pydantic under the field's path
        raise ValueError(str(exc).partition("; ")[0]) from None


Text = Annotated[str, AfterValidator(_unicode)]
Count = Annotated[int, Field(ge=0)]


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class TokenDetails(_Wire):
    cached_tokens: Count | None = None


class WireUsage(_Wire):
    prompt_tokens: Count | None = None
    completion_tokens: Count | None = None
    prompt_tokens_details: TokenDetails | None = None

    @property
    def prompt(self) -> int:
        return self.prompt_tokens or 0

    @property
    def cached(self) -> int:
        return (self.prompt_tokens_details.cached_tokens or 0) if self.prompt_tokens_details else 0


class TopLogprob(_Wire):
    token: Text
    logprob: float


class ChatTokenLogprob(_Wire):
    token: Text
    logprob: float
    top_logprobs: list[TopLogprob] | None = None


class ChatLogprobs(_Wire):
    content: list[ChatTokenLogprob] | None = None


class TextLogprobs(_Wire):
    tokens: list[Text] | None = None
    token_logprobs: list[float | None] | None = None
    top_logprobs: list[dict[Text, float] | None] | None = None
    content: list[ChatTokenLogprob] | None = None  # llama-server: text completions' logprobs in the chat format


class Choice(_Wire):
    """What every kind of choice has."""

    index: Count = 0
    finish_reason: str | None = None
    stop_reason: Any = None  # vLLM: the stop string, or a token id
    matched_stop: Any = None  # SGLang: the same


class ChatMessage(_Wire):
    content: Text | None = None


class ChatChoice(Choice):
    message: ChatMessage
    logprobs: ChatLogprobs | None = None


class TextChoice(Choice):
    text: Text
    logprobs: TextLogprobs | None = None


class ChatReply(_Wire):
    choices: list[ChatChoice] = Field(min_length=1)
    usage: WireUsage | None = None


class TextReply(_Wire):
    choices: list[TextChoice] = Field(min_length=1)
    usage: WireUsage | None = None


class ChatChunkChoice(Choice):
    delta: ChatMessage | None = None
    message: ChatMessage | None = None  # some servers send the whole message in a chunk
    logprobs: ChatLogprobs | None = None


class TextChunkChoice(Choice):
    text: Text | None = None
    logprobs: TextLogprobs | None = None


class ChatChunk(_Wire):
    choices: list[ChatChunkChoice] | None = None
    usage: WireUsage | None = None


class TextChunk(_Wire):
    choices: list[TextChunkChoice] | None = None
    usage: WireUsage | None = None


class ModelEntry(_Wire):
    id: Text | None = None
    owned_by: str | None = None


class ModelList(_Wire):
    data: list[ModelEntry] | None = None


M = TypeVar("M", bound=_Wire)


def read(model: type[M], data: Any, what: str) -> M:
    """``data`` (parsed JSON) as ``model``; an :class:`UpstreamError` naming the first wrong field
    (and how many more there are) if it does not fit. ``what`` names the reply in the message."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
        first = errors[0]
        where = ".".join(str(part) for part in first["loc"]) or "the reply"
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise UpstreamError(f"{what} has the wrong shape: {where}: {first['msg'][:200]}{more}") from None
