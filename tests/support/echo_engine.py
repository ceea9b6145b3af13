"""A third-party engine plugin for the tests, loaded through a (monkeypatched) entry point."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ponder.core.params import param
from ponder.engines.base import EngineInfo, GenerationRequest
from ponder.engines.fake import FakeEngine
from ponder.engines.plugin import EnginePlugin


@dataclass(frozen=True)
class EchoOptions:
    model: str = param("echo-1", "the model name it reports")
    answer: int = param(4, "the answer every sample gives")
    loud: bool = param(False, "end every sample with an exclamation mark")


class EchoEngine(FakeEngine):
    """A scripted engine that keeps the options it was made with."""

    def __init__(self, options: EchoOptions) -> None:
        def script(request: GenerationRequest, index: int) -> str:
            return f"The answer is {options.answer}{'!' if options.loud else '.'}"

        super().__init__(script)
        self.options = options
        self.info = EngineInfo(name="echo", model=options.model)


ECHO = EnginePlugin(
    name="echo", summary="answers with one number", Options=EchoOptions, factory=EchoEngine, spec_option="model"
)


def plain_factory(**options: Any) -> EchoEngine:
    """An engine made by a bare factory (the older entry-point form)."""
    return EchoEngine(EchoOptions(model=options.get("model", "plain-1")))
