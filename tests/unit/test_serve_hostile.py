"""``ponder serve`` against hostile or broken requests (issue #17 items 1, 2, 7).

CPU-bound runs do not freeze the server and cannot outlive the request deadline; text that is
not valid Unicode is a 400 before anything runs; unexpected failures are JSON 500s or an error
event ending the stream; programs the model writes cannot read the server's files, and
``--code-execution off`` refuses runs that would execute them. Connections and the command line
are in ``test_serve_connections.py``. No model is loaded: the engines are fakes, the servers run
on 127.0.0.1.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from tests.support.app_server import AppServer

from ponder.engines.base import Completion, GenerationRequest
from ponder.engines.fake import FakeEngine
from ponder.serve import ServeConfig, create_app

ASK = [{"role": "user", "content": "What is 2 + 2?"}]
ANSWER = "2 plus 2 makes 4. The answer is 4."


class BurningEngine(FakeEngine):
    """Its first call burns CPU in Python without awaiting (it blocks whatever event loop runs it)
    until ``release`` is set or ``limit`` seconds pass; later calls answer at once."""

    def __init__(self, limit: float = 10.0) -> None:
        super().__init__([ANSWER])
        self.capabilities = dataclasses.replace(self.capabilities, streams=False)  # streams go through generate
        self.limit = limit
        self.entered, self.release, self.finished = threading.Event(), threading.Event(), threading.Event()

    async def generate(self, requests: Sequence[GenerationRequest]) -> list[list[Completion]]:
        if not self.entered.is_set():
            self.entered.set()
            started = time.monotonic()
            while not self.release.is_set() and time.monotonic() - started < self.limit:
                sum(range(1000))
            self.finished.set()
        return await super().generate(requests)


class BrokenEngine(FakeEngine):
    """Fails in a way ponder does not expect (a bug, not a PonderError)."""

    def __init__(self, script: list[str]) -> None:
        super().__init__(script)
        self.capabilities = dataclasses.replace(self.capabilities, streams=False)  # streams go through generate

    async def generate(self, requests: Sequence[GenerationRequest]) -> list[list[Completion]]:
        self.calls += 1
        raise RuntimeError("boom: secret prompt text")


@contextmanager
def serve(engine: Any = None, **config: Any) -> Iterator[AppServer]:
    with AppServer(create_app(engine or FakeEngine([ANSWER]), ServeConfig(**config))) as server:
        yield server


def client_for(url: str, **options: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=url + "/v1", api_key="none", max_retries=0, **options)


def timed_health(url: str) -> float:
    started = time.monotonic()
    assert httpx.get(url + "/health", timeout=30).status_code == 200
    return time.monotonic() - started


# -- item 1: no CPU-bound work on the server's event loop; the deadline holds --------------------


def test_a_cpu_bound_run_neither_freezes_the_server_nor_outlives_the_deadline() -> None:
    engine = BurningEngine()
    config = {"request_timeout": 0.3, "timeout_grace": 0.3, "max_concurrent": 1}
    with serve(engine, **config) as server, client_for(server.url, timeout=30) as client, ThreadPoolExecutor(1) as pool:
        started = time.monotonic()
        pending = pool.submit(client.chat.completions.create, model="ponder", messages=ASK)
        assert engine.entered.wait(10)
        assert timed_health(server.url) < 1  # was blocked for as long as the run burned
        with pytest.raises(openai.InternalServerError) as caught:
            pending.result()
        assert time.monotonic() - started < 3  # the burn goes on for 10 s; the answer did not wait
        assert caught.value.status_code == 504
        assert caught.value.body["type"] == "timeout_error"  # type: ignore[index]
        assert "request timeout of 0.3 s" in caught.value.body["message"]  # type: ignore[index]
        assert not engine.finished.is_set()
        # the cancelled run is still burning: its slot is not free until it really stops
        with pytest.raises(openai.RateLimitError):
            client.chat.completions.create(model="ponder", messages=ASK)
        engine.release.set()
        deadline = time.monotonic() + 10
        while True:
            try:
                response = client.chat.completions.create(model="ponder", messages=ASK)
                break
            except openai.RateLimitError:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        assert response.choices[0].message.content == ANSWER


def test_a_cpu_bound_stream_ends_with_a_timeout_error_event_and_done() -> None:
    engine = BurningEngine()
    body = {"model": "ponder", "messages": ASK, "stream": True}
    with serve(engine, request_timeout=0.2, timeout_grace=0.2) as server:
        try:
            started = time.monotonic()
            with httpx.stream("POST", server.url + "/v1/chat/completions", json=body, timeout=30) as response:
                assert response.status_code == 200
                text = response.read().decode()
            assert time.monotonic() - started < 3
        finally:
            engine.release.set()
    events = [line[len("data: ") :] for line in text.split("\n") if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    error = json.loads(events[-2])["error"]
    assert error["type"] == "timeout_error" and error["code"] == "request_timeout"


# -- item 2: text that is not valid Unicode; unexpected failures ---------------------------------


def _body(**overrides: Any) -> dict[str, Any]:
    return {"model": "ponder", "messages": [{"role": "user", "content": "what is 2+2"}], **overrides}


LONE = "\ud800"


@pytest.mark.parametrize(
    ("body", "named"),
    [
        (_body(messages=[{"role": "user", "content": LONE + " what is 2+2"}]), "messages[0].content"),
        (_body(stream=True, messages=[{"role": "user", "content": LONE + " what is 2+2"}]), "messages[0].content"),
        (
            _body(messages=[{"role": "system", "content": "be brief \udcff"}, {"role": "user", "content": "2+2?"}]),
            "messages[0].content",
        ),
        (
            _body(messages=[{"role": "user", "content": [{"type": "text", "text": "2+2" + LONE}]}]),
            "messages[0].content[0].text",
        ),
        (_body(ponder={"strategy": "beam-search", "answer_pattern": LONE}), "ponder.answer_pattern"),
        (_body(ponder={"strategy": "self-consistency", LONE: 1}), "ponder"),  # pydantic's own refusal
        (_body(model="ponder" + LONE), "model"),
    ],
)
def test_text_that_is_not_unicode_is_a_400_naming_the_field(body: dict[str, Any], named: str) -> None:
    """Raw HTTP: the openai client cannot send such text (it fails to encode it itself)."""
    engine = FakeEngine([ANSWER])
    raw = json.dumps(body).encode("ascii")  # JSON escapes carry the lone surrogates
    with serve(engine) as server:
        response = httpx.post(
            server.url + "/v1/chat/completions", content=raw, headers={"content-type": "application/json"}
        )
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/json"  # not an event stream, even with stream=true
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["type"] == "invalid_request_error"
    assert error["message"].startswith(named)
    assert named == "ponder" or error["message"].startswith(f"{named} is not valid UTF-8 text")
    assert engine.calls == 0


def test_an_unexpected_failure_is_a_logged_json_500(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="ponder.serve")
    with (
        serve(BrokenEngine([ANSWER])) as server,
        client_for(server.url) as client,
        pytest.raises(openai.InternalServerError) as caught,
    ):
        client.chat.completions.create(model="ponder", messages=ASK)
    assert caught.value.status_code == 500
    error = caught.value.body
    assert isinstance(error, dict) and error["type"] == "server_error" and error["code"] == "internal_error"
    assert "RuntimeError" in error["message"] and "secret" not in error["message"]
    [logged] = [json.loads(r.getMessage()) for r in caplog.records if '"event": "error"' in r.getMessage()]
    assert logged["error"] == "RuntimeError" and logged["path"] == "/v1/chat/completions"
    assert any("generate" in frame for frame in logged["where"])
    assert "secret" not in caplog.text  # the message may quote a prompt: it is not logged


def test_an_unexpected_failure_in_a_stream_ends_it_with_an_error_event_and_done(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="ponder.serve")
    body = {"model": "ponder", "messages": ASK, "stream": True}
    with serve(BrokenEngine([ANSWER])) as server, client_for(server.url) as client:
        with pytest.raises(openai.APIError, match="RuntimeError"):
            list(client.chat.completions.create(model="ponder", messages=ASK, stream=True))  # type: ignore[arg-type]
        with httpx.stream("POST", server.url + "/v1/chat/completions", json=body, timeout=30) as response:
            text = response.read().decode()
    events = [line[len("data: ") :] for line in text.split("\n") if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    assert json.loads(events[-2])["error"]["type"] == "server_error"
    assert '"error": "RuntimeError"' in caplog.text and "secret" not in caplog.text


# -- item 7: --code-execution off ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("ponder", "named"),
    [
        ({"strategy": "program-of-thought"}, "strategy 'program-of-thought'"),
        ({"strategy": "self-consistency", "program": True}, "strategy 'self-consistency'"),
        ({"strategy": "best-of-n", "program": True}, "strategy 'best-of-n'"),
        ({"strategy": "routed", "trajectory": "pot"}, "trajectory 'pot'"),
    ],
)
def test_code_execution_off_refuses_runs_that_execute_model_code(ponder: dict[str, Any], named: str) -> None:
    engine = FakeEngine([ANSWER])
    with serve(engine, code_execution=False) as server, client_for(server.url) as client:
        with pytest.raises(openai.BadRequestError) as caught:
            client.chat.completions.create(model="ponder", messages=ASK, extra_body={"ponder": {"budget": 2, **ponder}})
        message = caught.value.body["message"]  # type: ignore[index]
        assert named in message and "--code-execution off" in message
        assert engine.calls == 0
        plain = client.chat.completions.create(model="ponder", messages=ASK, extra_body={"ponder": {"budget": 2}})
        assert plain.choices[0].message.content == ANSWER  # runs without code are served
        routed = client.chat.completions.create(
            model="ponder", messages=ASK, extra_body={"ponder": {"strategy": "routed", "trajectory": "cot"}}
        )
        assert routed.choices[0].message.content == ANSWER


LEAK = "```python\nprint(open('/etc/passwd').read().splitlines()[0])\n```"


def test_programs_run_for_clients_cannot_read_the_servers_files() -> None:
    """Code execution on (the default): the sandbox shows programs Python's files only."""
    from ponder.sandbox import run_python

    first_line = Path("/etc/passwd").read_text().splitlines()[0]
    host = run_python("print(open('/etc/passwd').read().splitlines()[0])", filesystem="host")
    assert host.stdout.strip() == first_line  # what a program saw before: the server's file
    with serve(FakeEngine([LEAK])) as server, client_for(server.url) as client:
        response = client.chat.completions.create(
            model="ponder",
            messages=ASK,
            extra_body={"ponder": {"strategy": "program-of-thought", "budget": 2, "summary": True}},
        )
    [summary] = response.model_extra["ponder"]  # type: ignore[index]
    assert [c["answer"] for c in summary["candidates"]] == [None, None] and summary["answer"] is None
    assert first_line not in response.model_dump_json()
