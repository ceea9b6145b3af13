"""A client's answer pattern cannot freeze the server (issue #17 item 1): user patterns are matched
with a time limit, and a pattern that runs out of time is the client's error, named."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
from tests.support.app_server import AppServer

from ponder.engines.base import GenerationRequest
from ponder.engines.fake import FakeEngine
from ponder.serve import ServeConfig, create_app

ASK = [{"role": "user", "content": "What is 2 + 2?"}]


def test_a_backtracking_answer_pattern_is_a_quick_client_error_and_health_stays_fast() -> None:
    threads: set[int] = set()

    def sample(request: GenerationRequest, index: int) -> str:
        threads.add(threading.get_ident())  # where the run computes (and so where its pattern is matched)
        return "a" * 40 + "!\n\nrest"

    engine = FakeEngine(sample, fork=True)
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
        server_thread = server._thread.ident
    assert threads and server_thread not in threads  # the run (and the 0.5 s match) is off the server's loop
    assert health.status_code == 200
    assert answer.status_code == 400, answer.text
    assert "answer_pattern" in answer.text and "took more than" in answer.text
    assert elapsed < 10  # with Python's re this request held the event loop for minutes
