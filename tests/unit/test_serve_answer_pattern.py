"""A client's answer pattern cannot freeze the server (issue #17 item 1): user patterns are matched
with a time limit, and a pattern that runs out of time is the client's error, named."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx
from tests.support.app_server import AppServer

from ponder.engines.fake import FakeEngine
from ponder.serve import ServeConfig, create_app

ASK = [{"role": "user", "content": "What is 2 + 2?"}]


def test_a_backtracking_answer_pattern_is_a_quick_client_error_and_health_stays_fast() -> None:
    engine = FakeEngine(lambda request, index: "a" * 40 + "!\n\nrest", fork=True)
    body = {
        "model": "ponder",
        "messages": ASK,
        "ponder": {"strategy": "beam-search", "budget": 2, "answer_pattern": "(a|a)+$"},
    }
    with AppServer(create_app(engine, ServeConfig())) as server, ThreadPoolExecutor(1) as pool:
        started = time.monotonic()
        pending = pool.submit(httpx.post, server.url + "/v1/chat/completions", json=body, timeout=60)
        health = httpx.get(server.url + "/health", timeout=60)
        answer = pending.result()
        elapsed = time.monotonic() - started
    assert health.status_code == 200
    assert answer.status_code == 400, answer.text
    assert "answer_pattern" in answer.text and "took more than" in answer.text
    assert elapsed < 10  # with Python's re this request held the event loop for minutes
