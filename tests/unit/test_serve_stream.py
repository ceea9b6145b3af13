"""``ponder serve`` as a stream a person can watch, and OpenAI drop-in gaps (issue #19 items 4, 5).

Through the official ``openai`` client and raw SSE against the app on 127.0.0.1 with scripted
engines (no model): the leading sample's text streams in ``delta.reasoning_content`` before the
answer arrives in ``delta.content``; a long step sends keep-alive comments; ``stop`` ends the
generator's samples (not the judges'); unknown fields are ignored, an unknown key of the
``ponder`` object is a 400 naming it. :class:`ReasoningText` (which sample the reasoning follows)
is tested on its own at the end.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import httpx
import openai
import pytest
from tests.support.app_server import AppServer

from ponder.context.watch import SampleEnded, SampleGrew, SampleStarted
from ponder.engines.base import Completion, GenerationRequest
from ponder.engines.fake import FakeEngine
from ponder.serve import ServeConfig, create_app
from ponder.serve.reasoning import ReasoningText

ASK = [{"role": "user", "content": "What is 2 + 2?"}]


def voting(request: GenerationRequest, index: int) -> str:
    identity = request.first_index + index
    return f"Sample {identity} of seed {request.seed} thinks. ### The answer is {5 if identity % 3 == 1 else 4}."


@contextmanager
def serve(engine: Any = None, **config: Any) -> Iterator[AppServer]:
    with AppServer(create_app(engine or FakeEngine(voting), ServeConfig(**config))) as server:
        yield server


def client_for(server: AppServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url + "/v1", api_key="none", max_retries=0)


def raw_stream(server: AppServer, body: dict[str, Any]) -> list[str]:
    with httpx.stream("POST", server.url + "/v1/chat/completions", json=body, timeout=30) as response:
        assert response.status_code == 200
        return [line for line in response.read().decode().split("\n") if line]


def reasoning_of(chunk: Any) -> str:
    return str((chunk.choices[0].delta.model_extra or {}).get("reasoning_content") or "") if chunk.choices else ""


# -- item 4: reasoning as it is generated, then the answer ---------------------------------------


def test_the_leading_sample_streams_as_reasoning_before_the_answer() -> None:
    with serve() as server, client_for(server) as client:
        chunks = list(
            client.chat.completions.create(
                model="ponder",
                messages=ASK,
                seed=3,
                stream=True,
                extra_body={"ponder": {"budget": 3}},  # type: ignore[arg-type]
            )
        )
    reasoning = [i for i, c in enumerate(chunks) if reasoning_of(c)]
    content = [i for i, c in enumerate(chunks) if c.choices and c.choices[0].delta.content]
    words = len(voting(GenerationRequest.chat("q", seed=3), 0).split())
    assert len(reasoning) > words  # the first sample word by word as it grows, then the others
    assert reasoning and content and max(reasoning) < min(content)  # all the reasoning comes first
    thought = "".join(reasoning_of(c) for c in chunks)
    first, _, third = (voting(GenerationRequest.chat("q", seed=3), i) for i in range(3))
    assert thought == (  # when the first ends, the third leads: its answer so far (4) leads the vote
        f"[sample 1]\n{first}\n[sample 1 answers 4; votes so far: 4 x1]"
        f"\n\n[sample 3]\n{third}\n[sample 3 answers 4; votes so far: 4 x2, 5 x1]"
    )
    answer = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert answer == voting(GenerationRequest.chat("q", seed=3), 0)


def test_each_choice_streams_its_own_reasoning_and_the_stream_ends_with_done() -> None:
    body = {"model": "ponder", "messages": ASK, "seed": 1, "n": 2, "stream": True, "ponder": {"budget": 2}}
    with serve() as server:
        lines = raw_stream(server, body)
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(line[len("data: ") :]) for line in lines[:-1] if line.startswith("data: ")]
    by_choice = {0: "", 1: ""}
    for chunk in chunks:
        for choice in chunk["choices"]:
            by_choice[choice["index"]] += choice["delta"].get("reasoning_content", "")
    assert "of seed 1 thinks" in by_choice[0] and "of seed 2 thinks" in by_choice[1]  # choice i runs seed + i
    assert "of seed 2" not in by_choice[0]


class PausingEngine(FakeEngine):
    """Each call first waits ``pause`` seconds (a long prefill); it does not stream."""

    def __init__(self, pause: float) -> None:
        super().__init__(voting)
        self.capabilities = dataclasses.replace(self.capabilities, streams=False)
        self.pause = pause

    async def generate(self, requests: Sequence[GenerationRequest]) -> list[list[Completion]]:
        await asyncio.sleep(self.pause)
        return await super().generate(requests)


def test_a_long_step_sends_keep_alive_comments_which_clients_skip() -> None:
    body = {"model": "ponder", "messages": ASK, "stream": True, "ponder": {"budget": 2}}
    with serve(PausingEngine(0.8), keep_alive=0.1) as server:
        lines = raw_stream(server, body)
        with client_for(server) as client:
            chunks = list(client.chat.completions.create(model="ponder", messages=ASK, stream=True))  # type: ignore[arg-type]
    alive = [i for i, line in enumerate(lines) if line == ": keep-alive"]
    assert len(alive) >= 4  # 0.8 s of silence, a comment every 0.1 s
    first_data_after_role = next(i for i, line in enumerate(lines) if i > 0 and line.startswith("data: "))
    assert min(alive) < first_data_after_role and lines[-1] == "data: [DONE]"
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices).endswith("The answer is 4.")


def test_a_quick_stream_sends_no_keep_alive() -> None:
    with serve() as server:
        lines = raw_stream(server, {"model": "ponder", "messages": ASK, "stream": True})
    assert ": keep-alive" not in lines


# -- item 5: stop, unknown fields ----------------------------------------------------------------


def test_stop_ends_the_generators_samples() -> None:
    engine = FakeEngine(voting)
    with serve(engine) as server, client_for(server) as client:
        plain = client.chat.completions.create(
            model="ponder",
            messages=ASK,
            seed=2,
            stop="###",
            extra_body={"ponder": {"budget": 3}},  # type: ignore[arg-type]
        )
        chunks = list(
            client.chat.completions.create(
                model="ponder",
                messages=ASK,
                seed=2,
                stop=["###", "never"],
                stream=True,  # type: ignore[arg-type]
            )
        )
    assert plain.choices[0].message.content == "Sample 0 of seed 2 thinks. "
    assert plain.choices[0].finish_reason == "stop"
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Sample 0 of seed 2 thinks. "
    assert "###" not in "".join(reasoning_of(c) for c in chunks)
    assert all("###" in r.stop for r in engine.requests)


def test_stop_reaches_the_generator_not_the_judge() -> None:
    engine = FakeEngine(lambda request, index: "Yes" if request.assistant_prefix else voting(request, index))
    with serve(engine) as server, client_for(server) as client:
        client.chat.completions.create(
            model="ponder",
            messages=ASK,
            stop=["###"],
            extra_body={"ponder": {"strategy": "best-of-n", "scorer": "self-eval", "budget": 2}},  # type: ignore[arg-type]
        )
    generated = [r for r in engine.requests if r.messages and r.messages[-1].content == ASK[0]["content"]]
    judged = [r for r in engine.requests if r not in generated]
    assert generated and judged
    assert all(r.stop == ("###",) for r in generated) and all("###" not in r.stop for r in judged)


def test_stop_at_a_step_delimiter_is_not_added_twice() -> None:
    from ponder.serve.stops import WithStops

    stopped = WithStops(FakeEngine(voting), ["\n\n", "###"])
    request = GenerationRequest.chat("q", stop=("\n\n",))
    assert stopped._with_stops(request).stop == ("\n\n", "###")


@pytest.mark.parametrize(
    "extra",
    [
        {"frobnicate": 1},
        {"user": "someone", "logit_bias": {"1": 2}, "presence_penalty": 0.5, "parallel_tool_calls": False},
        {"n": None, "stream": None, "temperature": None, "stop": None},
    ],
)
def test_unknown_and_null_fields_are_ignored(extra: dict[str, Any]) -> None:
    body = {"model": "ponder", "messages": ASK, "ponder": {"budget": 2}, **extra}
    with serve() as server:
        response = httpx.post(server.url + "/v1/chat/completions", json=body, timeout=30)
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"].endswith("The answer is 4.")


@pytest.mark.parametrize(
    ("ponder", "named"),
    [
        ({"bogus": 1}, "ponder.bogus"),
        ({"strategy": "greedy", "batch": 2}, "ponder.batch"),  # an option of another strategy
        ({"budget": 2, "Strategy": "greedy"}, "ponder.Strategy"),
    ],
)
def test_an_unknown_ponder_key_is_a_400_naming_it(ponder: dict[str, Any], named: str) -> None:
    with serve() as server, client_for(server) as client, pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="ponder", messages=ASK, extra_body={"ponder": ponder})  # type: ignore[arg-type]
    message = caught.value.body["message"]  # type: ignore[index]
    assert named in message and "unknown key" in message and "strategy" in message


# -- which sample the reasoning follows ----------------------------------------------------------


def follow(*events: Any) -> str:
    sent: list[str] = []
    text = ReasoningText(sent.append, lambda t: t.rsplit("is ", 1)[1].strip(".") if "is " in t else None)
    for event in events:
        text(event)
    return "".join(sent)


def test_reasoning_follows_one_sample_until_it_ends_then_the_leader() -> None:
    a, b, c = (0, 0), (0, 1), (0, 2)
    out = follow(
        SampleStarted(a),
        SampleStarted(b),
        SampleGrew(a, "A thinks", 2),
        SampleGrew(b, "B thinks longer", 3),  # b is ahead, but a is followed until it ends
        SampleStarted(c),
        SampleGrew(c, "C says it is 4", 2),
        SampleGrew(a, ": it is 4.", 6),
        SampleEnded(a, "stop", "4"),  # c agrees with the vote: the leader now, though b has more tokens
        SampleGrew(b, " and more", 7),
        SampleEnded(c, "stop", "4"),
        SampleEnded(b, "stop", None),
    )
    assert out == (
        "[sample 1]\nA thinks: it is 4.\n[sample 1 answers 4; votes so far: 4 x1]"
        "\n\n[sample 3]\nC says it is 4\n[sample 3 answers 4; votes so far: 4 x2]"
        "\n\n[sample 2]\nB thinks longer and more"
    )


def test_reasoning_goes_on_along_a_path_and_marks_a_continuation() -> None:
    a, b, c = (0, 0), (0, 1), (0, 2)
    out = follow(
        SampleStarted(a),
        SampleGrew(a, "Step 1.\n\n", 3),
        SampleEnded(a, "stop", None),
        SampleStarted(b, "Step 1.\n\n", 3),  # the next step of the same path: it just goes on
        SampleGrew(b, "Step 2.\n\n", 6),
        SampleEnded(b, "stop", None),
        SampleStarted(c, "Other 1.\n\n", 3),  # another path's next step: only its new text
        SampleGrew(c, "Other 2.", 6),
        SampleEnded(c, "length", None),
    )
    assert out == "[sample 1]\nStep 1.\n\nStep 2.\n\n\n\n[sample 3]\n...Other 2."
