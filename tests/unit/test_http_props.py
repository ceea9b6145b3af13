"""llama-server's ``GET /props`` supplies the chat template when none is given (issue #19 item 5).

The HTTP engine continues a partial answer on servers that always start a new reply through
text completions with the chat template applied; on llama-server the template (and its BOS/EOS
tokens) comes from ``/props`` when ``chat_template=`` is not given. A scripted local server
stands in for llama-server; no model is loaded.
"""

from __future__ import annotations

import pytest
from tests.support.stub_server import StubServer

import ponder
from ponder.context.interrupts import answer_cue
from ponder.core.errors import InvalidInputError
from ponder.engines.base import GenerationRequest, Message
from ponder.engines.http import OpenAIEngine
from ponder.engines.http.profiles import template_from_props

TEMPLATE = "{{ bos_token }}{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}<assistant>"
PROPS = {"chat_template": TEMPLATE, "bos_token": "<s>", "eos_token": "</s>", "total_slots": 1}
PARTIAL = GenerationRequest(messages=(Message("user", "count"),), assistant_prefix="1, 2,", max_tokens=5)


def engine_for(server: StubServer, **options: object) -> OpenAIEngine:
    return OpenAIEngine(base_url=server.url, retries=0, backoff=0.01, timeout=5, **options)  # type: ignore[arg-type]


async def test_llama_server_props_supply_the_template_for_continuations() -> None:
    with StubServer(owned_by="llamacpp") as server:
        server.props = PROPS
        engine = engine_for(server)
        assert not engine.capabilities.raw_continuation  # before it has met the server
        [[completion]] = await engine.generate([PARTIAL])
        assert engine.profile.name == "llama.cpp" and engine.capabilities.raw_continuation
        _, path, body, _ = server.posts()[0]
        assert path == "/v1/completions" and body["prompt"] == "<s><user>count<assistant>1, 2,"
        assert completion.text.startswith("sample")
        await engine.generate([PARTIAL])
        assert server.props_requests == 1  # read once, when the engine connects
        await engine.aclose()


async def test_a_given_template_wins_and_props_are_not_read() -> None:
    with StubServer(owned_by="llamacpp") as server:
        server.props = PROPS
        engine = engine_for(server, chat_template="{% for m in messages %}[{{ m.content }}]{% endfor %}")
        await engine.generate([PARTIAL])
        assert server.posts()[0][2]["prompt"] == "[count]1, 2,"
        assert server.props_requests == 0
        await engine.aclose()


async def test_without_props_continuation_is_refused_and_chat_still_works() -> None:
    with StubServer(owned_by="llamacpp") as server:  # /props answers 404
        engine = engine_for(server)
        [[reply]] = await engine.generate([GenerationRequest.chat("What is 2 + 2?")])
        assert reply.finish_reason == "stop" and server.props_requests == 1
        assert not engine.capabilities.raw_continuation
        with pytest.raises(InvalidInputError, match="chat template"):
            await engine.generate([PARTIAL])
        await engine.aclose()


async def test_other_servers_are_not_asked_for_props() -> None:
    for owner in ("vllm", "me"):  # vLLM continues chats itself; llama-cpp-python has no /props
        with StubServer(owned_by=owner) as server:
            server.props = PROPS
            engine = engine_for(server)
            await engine.generate([GenerationRequest.chat("q")])
            assert server.props_requests == 0
            await engine.aclose()


@pytest.mark.parametrize(
    "props",
    [
        None,
        [],
        {},
        {"chat_template": ""},
        {"chat_template": 5},
        {"chat_template": "{% for m in messages %}"},  # does not compile
        {"chat_template": "ok\ud800"},  # not valid Unicode
    ],
)
def test_props_without_a_usable_template_give_none(props: object) -> None:
    assert template_from_props(props) is None


def test_props_tokens_that_are_not_text_are_left_out() -> None:
    template = template_from_props({"chat_template": TEMPLATE, "bos_token": 1, "eos_token": None})
    assert template is not None and template.render([Message("user", "q")]) == "<user>q<assistant>"


async def test_a_fresh_llama_server_engine_continues_an_interrupted_sample_with_the_answer_cue() -> None:
    """The template arrives when the engine connects, after the run opened its stream: a hard
    interrupt reads the capability when it acts, so the sample is continued after the cue."""
    with StubServer(owned_by="llamacpp") as server:
        server.props = PROPS
        server.chunk_delay = 0.05
        engine = engine_for(server)
        assert not engine.capabilities.raw_continuation  # before it has met the server
        run = ponder.start("What is 2 + 2?", engine, budget=1, max_tokens=32)
        run.interrupt_at(2, "hard")
        result = await run.run()
        await engine.aclose()
    [candidate] = result.candidates
    posts = server.posts()
    assert len(posts) == 2 and posts[1][1] == "/v1/completions"
    assert posts[1][2]["prompt"].endswith(answer_cue("math"))
    assert answer_cue("math") in candidate.text and candidate.answer == "4"
