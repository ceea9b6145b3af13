"""The request body of ``POST /v1/chat/completions`` (OpenAI's, plus a ``ponder`` object)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator


class TextPart(BaseModel):
    type: Literal["text"]
    text: str


class ChatMessageIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[TextPart]

    def text(self) -> str:
        return self.content if isinstance(self.content, str) else "".join(part.text for part in self.content)


class PonderOptions(BaseModel):
    """Per-request choices; keys other than these are the strategy's own parameters."""

    model_config = ConfigDict(extra="allow")

    strategy: str | None = Field(None, description="strategy name (see `ponder strategies`)")
    budget: int | None = Field(None, ge=1, description="generations per answer")
    token_budget: int | None = Field(None, ge=1, description="generated tokens per answer")
    time_budget: float | None = Field(None, gt=0, description="seconds; the best answer so far is returned")
    task: str | None = Field(None, description="answer format: math, choice, label")
    summary: bool = Field(False, description="add the strategy's votes, candidates and trace to the response")

    def strategy_options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class StreamOptions(BaseModel):
    include_usage: bool = False


class ChatRequest(BaseModel):
    """OpenAI's chat completion request; unknown fields are accepted and ignored (as OpenAI's server
    does), and ``null`` stands for a field's default, as in OpenAI's API."""

    model_config = ConfigDict(extra="ignore")

    model: str
    messages: list[ChatMessageIn] = Field(min_length=1)
    n: int = Field(1, ge=1)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    seed: int | None = None
    stop: str | list[str] | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    ponder: PonderOptions | None = None

    @field_validator("n", "stream", mode="before")
    @classmethod
    def _null_is_default(cls, value: Any, info: ValidationInfo) -> Any:
        return cls.model_fields[str(info.field_name)].default if value is None else value
