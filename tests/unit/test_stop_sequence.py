"""Which stop string ended a sample (``Completion.stop_sequence``), as each engine reports it.

Step-level search tells a step that met its delimiter from one that ended at EOS by this field,
so it must name only a stop string the request asked for: vLLM's ``stop_reason`` and SGLang's
``matched_stop`` hold a token id at EOS or a stop token, which is not a stop string.
"""

from __future__ import annotations

from typing import Any

import pytest
from tests.support.stub_server import Action, StubServer

from ponder.engines import FakeEngine
from ponder.engines.base import GenerationRequest, Message
from ponder.engines.http import OpenAIEngine
from ponder.engines.http.payloads import CHAT, COMPLETIONS, parse_response
from ponder.engines.llama.sequence import SampleState

STEP = GenerationRequest(
    messages=(Message("user", "q"),), assistant_prefix="Step 1.", stop=("\n\n", "####"), max_tokens=32
)


def reply(*choices: dict[str, Any], chat: bool = True) -> dict[str, Any]:
    """A completion response with the given extra fields on each choice."""
    body = [
        {
            "index": i,
            "finish_reason": "stop",
            **({"message": {"content": f"text {i}"}} if chat else {"text": f"text {i}"}),
            **extra,
        }
        for i, extra in enumerate(choices)
    ]
    return {"choices": body, "usage": {"prompt_tokens": 5, "completion_tokens": 2 * len(body)}}


@pytest.mark.parametrize("path", [CHAT, COMPLETIONS])
def test_vllm_stop_reason_string_is_reported(path: str) -> None:
    data = reply({"stop_reason": "\n\n"}, {"stop_reason": "####"}, {"stop_reason": None}, chat=path == CHAT)
    got = parse_response(data, path=path, request=STEP, first_index=0)
    assert [c.stop_sequence for c in got] == ["\n\n", "####", None]


def test_sglang_matched_stop_string_is_reported() -> None:
    got = parse_response(
        reply({"matched_stop": "\n\n"}, {"matched_stop": None}), path=CHAT, request=STEP, first_index=0
    )
    assert [c.stop_sequence for c in got] == ["\n\n", None]


@pytest.mark.parametrize("field", ["stop_reason", "matched_stop"])
def test_a_token_id_or_an_unrequested_string_is_not_a_stop_sequence(field: str) -> None:
    # a token id (EOS, a stop token) says the sample ended without meeting a stop string
    data = reply({field: 151645}, {field: 0}, {field: "Step"}, {field: True}, {})
    got = parse_response(data, path=CHAT, request=STEP, first_index=0)
    assert [c.stop_sequence for c in got] == [None] * 5
    assert all(c.finish_reason == "stop" for c in got)


async def test_http_engine_reports_stop_strings_only_for_servers_that_name_them() -> None:
    for owner, reports in (("vllm", True), ("sglang", True), ("me", False)):
        with StubServer(owned_by=owner) as server:
            server.script = [Action("ok", body=reply({"stop_reason": "\n\n", "matched_stop": "\n\n"}))]
            engine = OpenAIEngine(base_url=server.url, retries=1, timeout=5)
            [[completion]] = await engine.generate([GenerationRequest.chat("q", stop=("\n\n",))])
            assert engine.capabilities.reports_stop is reports, owner
            assert completion.stop_sequence == "\n\n"  # parsed whatever the server; trusted only if reports_stop
            await engine.aclose()


async def test_fake_engine_reports_the_earliest_stop_string() -> None:
    engine = FakeEngine(["a #### b\n\nc", "a\n\nb #### c", "no stop here", "x ####"])
    request = GenerationRequest(text="q", n=4, stop=("\n\n", "####"))
    [row] = await engine.generate([request])
    assert [c.text for c in row] == ["a ", "a", "no stop here", "x "]
    assert [c.stop_sequence for c in row] == ["####", "\n\n", None, "####"]
    assert [c.finish_reason for c in row] == ["stop"] * 4
    assert engine.capabilities.reports_stop


async def test_fake_engine_token_cap_before_the_stop_string_reports_none() -> None:
    engine = FakeEngine(["w1 w2 w3 w4\n\nw5"])
    [[capped]] = await engine.generate([GenerationRequest(text="q", stop=("\n\n",), max_tokens=2)])
    assert (capped.text, capped.finish_reason, capped.stop_sequence) == ("w1 w2", "length", None)


class PieceModel:
    """Just enough of a native model for :class:`SampleState`: token ``t`` is ``pieces[t]``."""

    def __init__(self, pieces: list[str]) -> None:
        self.pieces = pieces

    def is_eog(self, token: int) -> bool:
        return token < 0

    def piece(self, token: int) -> bytes:
        return self.pieces[token].encode()


@pytest.mark.parametrize(
    ("pieces", "text", "matched"),
    [
        (["Step", " one", ".\n", "\n", "more"], "Step one.", "\n\n"),  # a stop split across tokens
        (["x ##", "## y\n\n"], "x ", "####"),  # two stops in one piece: the earliest wins
        (["a\n\n b ####"], "a", "\n\n"),
    ],
)
def test_llama_sample_reports_the_earliest_stop_string(pieces: list[str], text: str, matched: str) -> None:
    model = PieceModel(pieces)
    state = SampleState(
        request=0, index=0, slot=0, pos=0, max_new=99, stop=("\n\n", "####"), sampler=None, want_logprobs=False
    )  # type: ignore[arg-type]
    for token in range(len(pieces)):
        state.accept(model, token, None)  # type: ignore[arg-type]
        if state.finish:
            break
    assert (state.text, state.finish, state.stop_sequence) == (text, "stop", matched)


def test_llama_sample_at_eos_reports_no_stop_string() -> None:
    state = SampleState(
        request=0, index=0, slot=0, pos=0, max_new=99, stop=("\n\n",), sampler=None, want_logprobs=False
    )  # type: ignore[arg-type]
    model = PieceModel(["done"])
    state.accept(model, 0, None)  # type: ignore[arg-type]
    state.accept(model, -1, None)  # type: ignore[arg-type]
    assert (state.text, state.finish, state.stop_sequence) == ("done", "stop", None)
