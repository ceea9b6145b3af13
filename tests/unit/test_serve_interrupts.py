"""The server's run ids and its interrupt and update endpoints (issue #21 item 2).

Against the app on 127.0.0.1 with a slowly streaming scripted engine
(:mod:`tests.support.interrupt_engine`: long reasoning, and 42 after an answer cue); no model.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from tests.support.app_server import AppServer
from tests.support.interrupt_engine import SlowEngine, SlowOptions

from ponder.serve import ServeConfig, create_app
from ponder.serve.interrupts import RUN_ID_HEADER

ASK = [{"role": "user", "content": "What is 6 x 7?"}]
CUE = "The final answer is 42."


@contextmanager
def serve(**config: Any) -> Iterator[AppServer]:
    engine = SlowEngine(SlowOptions(delay=0.01))
    with AppServer(create_app(engine, ServeConfig(**config))) as server:
        yield server


def body(**extra: Any) -> dict[str, Any]:
    return {"model": "ponder", "messages": ASK, "max_tokens": 400, "ponder": {"budget": 2}, **extra}


def post(server: AppServer, path: str, payload: Any, key: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.post(server.url + path, json=payload, headers=headers, timeout=30)


class Stream:
    """A streamed completion read line by line: ``run_id`` from the first chunk, then the rest."""

    def __init__(self, server: AppServer, payload: dict[str, Any], key: str | None = None) -> None:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._client = httpx.Client(timeout=30)
        self._response = self._client.send(
            self._client.build_request("POST", server.url + "/v1/chat/completions", json=payload, headers=headers),
            stream=True,
        )
        assert self._response.status_code == 200
        self.header = self._response.headers[RUN_ID_HEADER]
        self._lines = self._response.iter_lines()
        first = self._data()
        assert first is not None
        self.run_id = first["id"]

    def _data(self) -> dict[str, Any] | None:
        for line in self._lines:
            if line.startswith("data: "):
                text = line[len("data: ") :]
                return None if text == "[DONE]" else dict(json.loads(text))
        return None

    def wait_for_reasoning(self) -> None:
        """Read until the run has streamed some reasoning."""
        while True:
            data = self._data()
            assert data is not None, "the stream ended before any reasoning"
            if data["choices"] and data["choices"][0]["delta"].get("reasoning_content"):
                return

    def answer(self) -> str:
        """The rest of the stream: the answer text (``delta.content``)."""
        content = []
        while (data := self._data()) is not None:
            assert "error" not in data, data
            for choice in data["choices"]:
                content.append(choice["delta"].get("content") or "")
        self.close()
        return "".join(content)

    def close(self) -> None:
        self._response.close()
        self._client.close()


def test_every_run_has_an_id_in_a_header_and_the_first_chunk() -> None:
    with serve() as server:
        stream = Stream(server, body(stream=True, max_tokens=5))
        assert stream.run_id == stream.header and stream.run_id.startswith("chatcmpl-")
        stream.answer()
        done = post(server, "/v1/chat/completions", body(max_tokens=5))
        assert done.status_code == 200
        assert done.headers[RUN_ID_HEADER] == done.json()["id"]


def test_a_hard_interrupt_of_a_streaming_run_streams_the_answer_from_partial_reasoning() -> None:
    with serve() as server:
        stream = Stream(server, body(stream=True))
        stream.wait_for_reasoning()
        reply = post(server, f"/v1/ponder/runs/{stream.run_id}/interrupt", {"mode": "hard"})
        assert reply.status_code == 200 and reply.json()["mode"] == "hard"
        answer = stream.answer()
        assert answer.endswith(CUE)
        assert len(answer.split()) < 400  # the reasoning was cut short
        # The run has ended: its id is unknown now.
        assert post(server, f"/v1/ponder/runs/{stream.run_id}/interrupt", {"mode": "hard"}).status_code == 404


def test_an_update_reaches_the_live_samples_of_a_run() -> None:
    with serve() as server:
        stream = Stream(server, body(stream=True, max_tokens=60))
        stream.wait_for_reasoning()
        reply = post(server, f"/v1/ponder/runs/{stream.run_id}/update", {"text": "it is 6 x 8 now"})
        assert reply.status_code == 200
        assert "[Update from the user: it is 6 x 8 now]" in stream.answer()


def test_an_interrupt_leaves_other_clients_runs_alone() -> None:
    with serve() as server:
        mine = Stream(server, body(stream=True, max_tokens=150))
        theirs: dict[str, str] = {}

        def other() -> None:
            reply = post(server, "/v1/chat/completions", body(max_tokens=150))
            theirs["text"] = reply.json()["choices"][0]["message"]["content"]

        thread = threading.Thread(target=other)
        thread.start()
        mine.wait_for_reasoning()
        assert post(server, f"/v1/ponder/runs/{mine.run_id}/interrupt", {"mode": "hard"}).status_code == 200
        assert mine.answer().endswith(CUE)
        thread.join(30)
        assert "final answer" not in theirs["text"] and len(theirs["text"].split()) == 150


def test_the_endpoints_need_the_key_and_a_known_running_run() -> None:
    with serve(api_key="sesame") as server:
        stream = Stream(server, body(stream=True), key="sesame")
        path = f"/v1/ponder/runs/{stream.run_id}/interrupt"
        assert post(server, path, {"mode": "hard"}).status_code == 401
        assert post(server, path, {"mode": "hard"}, key="wrong").status_code == 401
        assert post(server, f"/v1/ponder/runs/{stream.run_id}/update", {"text": "x"}).status_code == 401
        unknown = post(server, "/v1/ponder/runs/chatcmpl-nope/interrupt", {"mode": "hard"}, key="sesame")
        assert unknown.status_code == 404 and unknown.json()["error"]["type"] == "not_found_error"
        assert post(server, "/v1/ponder/runs/chatcmpl-nope/update", {"text": "x"}, key="sesame").status_code == 404
        assert post(server, path, {"mode": "later"}, key="sesame").status_code == 400
        assert post(server, path, {}, key="sesame").status_code == 400
        update = f"/v1/ponder/runs/{stream.run_id}/update"
        assert post(server, update, {"text": "  "}, key="sesame").status_code == 400
        bad = httpx.post(
            server.url + update,
            content=b'{"text": "\\ud800"}',
            headers={"Authorization": "Bearer sesame", "Content-Type": "application/json"},
            timeout=30,
        )
        assert bad.status_code == 400 and "lone surrogate" in bad.json()["error"]["message"]
        assert post(server, path, {"mode": "hard"}, key="sesame").status_code == 200
        assert stream.answer().endswith(CUE)
